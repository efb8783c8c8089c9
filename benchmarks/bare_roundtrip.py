"""The floor for one canary round trip: smtplib send, then imapclient SEARCH until it is there.

Run as a whole process by ``benchmarks/roundtrip.py`` beside ``watchdog check``, against the same
servers with the same connection security, so the two differ only in what the product adds
(configuration, history, status, classification, its imports). It does nothing else: no
config file, no history, no retries, no Junk folder.

    python benchmarks/bare_roundtrip.py --smtp-port 2525 --imap-port 1143 \\
        --mail-from sender@example.test --rcpt seed@example.test \\
        --smtp-user sender --smtp-password PW --imap-user seed --imap-password PW

Exit codes: 0 found and deleted, 1 not found within ``--timeout``, 2 bad arguments (argparse).
"""

from __future__ import annotations

import argparse
import smtplib
import ssl
import sys
import time
import uuid
from collections.abc import Sequence
from email.utils import formatdate

from imapclient import IMAPClient

HEADER = "X-Bench-Canary"
SECURITIES = ("none", "starttls", "ssl")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; every server detail is an option so nothing is read from files."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smtp-host", default="127.0.0.1")
    p.add_argument("--smtp-port", type=int, required=True)
    p.add_argument("--smtp-security", choices=SECURITIES, default="none")
    p.add_argument("--smtp-user", default="", help="AUTH as this user (none: no AUTH)")
    p.add_argument("--smtp-password", default="")
    p.add_argument("--imap-host", default="127.0.0.1")
    p.add_argument("--imap-port", type=int, required=True)
    p.add_argument("--imap-security", choices=SECURITIES, default="none")
    p.add_argument("--imap-user", required=True)
    p.add_argument("--imap-password", required=True)
    p.add_argument("--mail-from", required=True)
    p.add_argument("--rcpt", required=True)
    p.add_argument("--ca-file", default=None, help="CA to verify the servers (TLS only)")
    p.add_argument("--interval", type=float, default=0.01, help="seconds between searches")
    p.add_argument("--timeout", type=float, default=30.0, help="give up after this many seconds")
    return p.parse_args(argv)


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying client context (the test CA when given, else the system's)."""
    return ssl.create_default_context(cafile=ca_file)


def send(args: argparse.Namespace, token: str) -> None:
    """Send one message carrying ``HEADER: token`` through the submission server."""
    message = (
        f"From: {args.mail_from}\r\n"
        f"To: {args.rcpt}\r\n"
        f"Subject: bare round trip {token}\r\n"
        f"Date: {formatdate(localtime=True)}\r\n"
        f"Message-ID: <{token}@bench.invalid>\r\n"
        f"{HEADER}: {token}\r\n"
        "\r\n"
        "A benchmark canary.\r\n"
    ).encode("ascii")
    # An explicit local_hostname, as the product does: smtplib would call socket.getfqdn().
    smtp: smtplib.SMTP
    if args.smtp_security == "ssl":
        smtp = smtplib.SMTP_SSL(
            args.smtp_host,
            args.smtp_port,
            local_hostname="localhost",
            timeout=10,
            context=tls_context(args.ca_file),
        )
    else:
        smtp = smtplib.SMTP(args.smtp_host, args.smtp_port, local_hostname="localhost", timeout=10)
    with smtp:
        if args.smtp_security == "starttls":
            smtp.starttls(context=tls_context(args.ca_file))
        if args.smtp_user:
            smtp.login(args.smtp_user, args.smtp_password)
        smtp.sendmail(args.mail_from, [args.rcpt], message)


def find_and_delete(args: argparse.Namespace, token: str) -> bool:
    """Log in, SEARCH HEADER every ``interval`` until found, delete it; False on timeout."""
    context = tls_context(args.ca_file) if args.imap_security != "none" else None
    client = IMAPClient(
        args.imap_host,
        port=args.imap_port,
        ssl=args.imap_security == "ssl",
        ssl_context=context,
        timeout=10,
    )
    try:
        if args.imap_security == "starttls":
            client.starttls(context)
        client.login(args.imap_user, args.imap_password)
        client.select_folder("INBOX")
        deadline = time.monotonic() + args.timeout
        while True:
            ids = client.search(["HEADER", HEADER, token])
            if ids:
                client.delete_messages(ids)
                client.expunge()
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(args.interval)
    finally:
        client.logout()


def main(argv: Sequence[str] | None = None) -> int:
    """One round trip; prints the seconds from before the send until the message was found."""
    args = parse_args(argv)
    token = uuid.uuid4().hex
    started = time.perf_counter()
    send(args, token)
    found = find_and_delete(args, token)
    elapsed = time.perf_counter() - started
    print(f"{'found' if found else 'NOT FOUND'} after {elapsed:.3f} s ({token})")
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
