"""A real Postfix 3.7 on loopback, submitting into a throwaway Dovecot: real rejects, bounces and
delay notices for the tests.

Postfix runs from its own config directory under one ``tempfile.mkdtemp()`` folder (made 0755:
Postfix's daemons run as ``postfix``, Dovecot's as ``dovecot`` and ``nobody``), which
:meth:`PostfixServers.stop` removes after ``postfix -c DIR stop``. Nothing can leave the machine:
every listener is on 127.0.0.1, no ``smtp`` client transport exists in master.cf,
``default_transport``, ``relay_transport`` and ``local_transport`` are ``error:``, DNS is off and
the only domain Postfix delivers is ``example.test`` (LMTP into Dovecot).

What each address or port gets, all real Postfix 3.7 / Dovecot 2.3 behaviour:

============================  ===================================================================
``seed@example.test``         delivered to Dovecot's INBOX
``sender@example.test``       the sending account; bounces and delay notices land in its INBOX
``nosuchuser@example.test``   unknown to Postfix: ``550 5.1.1 ... User unknown in virtual mailbox
                              table`` at RCPT (on the ``accept_unlisted`` port: accepted, then a
                              bounce with Dovecot's LMTP ``550 5.1.1 User doesn't exist``)
``ghost@example.test``        known to Postfix, no Dovecot mailbox: accepted, then a bounce with
                              Dovecot's LMTP ``550 5.1.1 User doesn't exist``
``full@example.test``         over quota, Dovecot refuses: a bounce with ``552 5.2.2``
``fulldefer@example.test``    over quota with ``quota_full_tempfail``: Postfix keeps retrying and
                              sends a "delayed mail" notice (``4.2.2``) after ``delay_warning``
``spam@example.test``         filed into the folder ``Spam`` by the user's Sieve script
``quarantine@example.test``   filed into ``Quarantine`` by Sieve
``x@greylist.test``           accepted, handed to the "remote" listener, which defers it: 450 4.7.1
                              Greylisted; a delay notice after ``delay_warning``
``x@reject.test``             accepted, then the "remote" listener refuses it: a bounce with
                              ``550 5.7.1 ... Message rejected as spam`` and a Remote-MTA
``someone@elsewhere.test``    unauthenticated: ``554 5.7.1 Relay access denied`` at RCPT; signed
                              in: refused at RCPT, or on the ``accept_unlisted`` port accepted
                              and bounced by the error transport (``Diagnostic-Code: X-Postfix;``)
============================  ===================================================================

MAIL FROM an address of another user than the one signed in: ``553 5.7.1 ... Sender address
rejected: not owned by user ...`` (``reject_sender_login_mismatch``). ``rate_limited``
port allows one message per client per minute (anvil), then ``450 4.7.1 Error: too much mail
from 127.0.0.1``. The ``strip_header`` port removes every ``X-Watchdog-*`` header on the way, as
some relays and mail security gateways do.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

# The same names and passwords as the aiosmtpd servers: the product's test environment
# (tests/conftest.py, watchdog_env) carries these passwords.
from . import DOMAIN, HOST, SEED_PASSWORD, SEED_USER, SENDER_PASSWORD, SENDER_USER
from .dovecot import Dovecot, Quota, free_ports
from .tls import TestCertificates, make_certificates

#: Seed mailboxes with a problem of their own; they sign in with the seed password, so the
#: product's test environment (WATCHDOG_SEED_PASSWORD) opens them all.
FULL_USER = "full"  # over quota: refused (552 5.2.2), Postfix bounces at once
FULL_DEFER_USER = "fulldefer"  # over quota, tempfail (452 4.2.2): retries and delay notices
SPAM_USER = "spam"  # Sieve: fileinto "Spam"
QUARANTINE_USER = "quarantine"  # Sieve: fileinto "Quarantine"
#: Known to Postfix (virtual_mailbox_maps) but with no Dovecot mailbox: LMTP says 550 5.1.1.
GHOST_USER = "ghost"
#: Unknown to Postfix: refused at RCPT, or (``accept_unlisted`` port) bounced after LMTP refused.
UNKNOWN_USER = "nosuchuser"
#: Outside every domain Postfix serves: relaying there needs a signed-in client.
OUTSIDE_ADDRESS = "someone@elsewhere.test"

#: Domains of another provider, reached through this instance's own "remote" listener (still
#: 127.0.0.1), and what that listener answers at RCPT: after Postfix accepted the message, a real
#: delay notice (greylisting) or a real bounce relayed back from the "remote" side.
GREYLIST_DOMAIN = "greylist.test"
REJECT_DOMAIN = "reject.test"
REMOTE_REPLIES = {
    GREYLIST_DOMAIN: "450 4.7.1 Greylisted, please try again later",
    REJECT_DOMAIN: "550 5.7.1 Message rejected as spam",
}

SPAM_FOLDER = "Spam"
QUARANTINE_FOLDER = "Quarantine"

_SIEVE_FILEINTO = (
    'require "fileinto";\n# Written by tests/servers/postfix.py\nfileinto "{folder}";\n'
)

#: Where Debian installs Postfix's programs.
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
DAEMON_DIRECTORY = Path("/usr/lib/postfix/sbin")
#: Where Dovecot's plugins live (Debian, then a source build's default).
_DOVECOT_MODULES = ("/usr/lib/dovecot/modules", "/usr/local/lib/dovecot")

#: The services a delivering Postfix needs, as Debian ships them, but none chrooted (a chroot
#: would need copies of /etc files in the queue folder) and with no ``smtp``/``relay`` client:
#: this instance cannot even try to deliver anywhere else. ``{listeners}`` are the smtpd ports.
_MASTER_CF = """\
# Written by tests/servers/postfix.py for one test session; nothing outside {root}.
# service type  private unpriv  chroot  wakeup  maxproc command + args
{listeners}
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
cleanup-strip unix n    -       n       -       0       cleanup
  -o header_checks=regexp:{root}/strip_headers
  -o syslog_name=postfix/cleanup-strip
# The only SMTP client, used only for the two test domains of transport_maps, which both lead
# to this instance's own "remote" listener on 127.0.0.1.
loopback-smtp unix -    -       n       -       -       smtp
  -o syslog_name=postfix/loopback-smtp
"""

_LISTENER = "{host}:{port} inet n - n - - smtpd\n  -o syslog_name=postfix/{name}\n"

_NOWHERE = "error:5.7.1 no delivery outside example.test from the test fixture"


def _main_cf(
    root: Path,
    certificates: TestCertificates,
    lmtp_port: int,
    auth_port: int,
    delay_warning: str,
) -> dict[str, str]:
    """main.cf as ``name -> value``; every setting here is about safety, speed or a test case."""
    return {
        "compatibility_level": "3.6",
        # Our own folders; Debian's programs.
        "queue_directory": f"{root}/queue",
        "data_directory": f"{root}/data",
        "command_directory": "/usr/sbin",
        "daemon_directory": str(DAEMON_DIRECTORY),
        "meta_directory": "/etc/postfix",
        "shlib_directory": "/usr/lib/postfix",
        "mail_owner": "postfix",
        "setgid_group": "postdrop",
        "maillog_file": f"{root}/postfix.log",  # no syslog needed
        "maillog_file_prefixes": str(root),  # by default only /var and /dev/stdout
        # Names: no DNS, no local delivery.
        "myhostname": f"mx.{DOMAIN}",
        "mydomain": DOMAIN,
        "myorigin": DOMAIN,
        "mydestination": "",
        "alias_maps": "",
        "alias_database": "",
        "local_recipient_maps": "",
        "biff": "no",
        "smtpd_banner": "$myhostname ESMTP Postfix (Delivery Watchdog test fixture)",
        # Safety: loopback only, nothing leaves the machine, no DNS.
        "inet_interfaces": "loopback-only",
        "inet_protocols": "ipv4",
        "mynetworks": "127.0.0.0/8",
        "default_transport": _NOWHERE,
        "relay_transport": _NOWHERE,
        "local_transport": _NOWHERE,
        "relayhost": "",
        "smtp_dns_support_level": "disabled",
        "disable_dns_lookups": "yes",
        "smtpd_peername_lookup": "no",
        "lmtp_host_lookup": "native",
        # No mail to postmaster about resource or software problems: nowhere to deliver it.
        "notify_classes": "",
        # The one domain, delivered by LMTP into Dovecot.
        "virtual_mailbox_domains": DOMAIN,
        "virtual_mailbox_maps": f"texthash:{root}/virtual_mailboxes",
        "virtual_transport": f"lmtp:inet:{HOST}:{lmtp_port}",
        # Submission: SASL through Dovecot; relaying only when signed in; the MAIL FROM address
        # must belong to the signed-in user.
        "smtpd_sasl_auth_enable": "yes",
        "smtpd_sasl_type": "dovecot",
        "smtpd_sasl_path": f"inet:{HOST}:{auth_port}",
        "smtpd_sasl_security_options": "noanonymous",
        "smtpd_relay_restrictions": "permit_sasl_authenticated, reject_unauth_destination",
        "smtpd_sender_restrictions": "reject_sender_login_mismatch",
        "smtpd_sender_login_maps": f"texthash:{root}/sender_logins",
        # mynetworks (all of loopback) is exempt from anvil's limits by default.
        "smtpd_client_event_limit_exceptions": "",
        # TLS with the tests' own CA; required only on the STARTTLS and implicit-TLS ports.
        "smtpd_tls_cert_file": str(certificates.cert_file),
        "smtpd_tls_key_file": str(certificates.key_file),
        "smtpd_tls_security_level": "none",
        "smtpd_tls_session_cache_database": "",
        # Short queue timings: deferred mail is retried within seconds and a "delayed mail"
        # notice goes to the sender after ``delay_warning``, so delay tests take seconds.
        "queue_run_delay": "1s",
        "minimal_backoff_time": "1s",
        "maximal_backoff_time": "2s",
        "delay_warning_time": delay_warning,
        "maximal_queue_lifetime": "1h",
        "bounce_queue_lifetime": "1h",
        # Two domains handed over to the "remote" listener, which answers with REMOTE_REPLIES.
        "transport_maps": f"texthash:{root}/transport",
        "remote_mx_restrictions": f"check_recipient_access texthash:{root}/remote_replies, reject",
    }


class PostfixError(RuntimeError):
    """Postfix did not start; the message carries the end of its log."""


def find_postfix() -> str | None:
    """The path of the ``postfix`` command, looking in the sbin folders too."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN_DIRS])
    found = shutil.which("postfix", path=search)
    if found is None or not (DAEMON_DIRECTORY / "master").exists():
        return None
    return found


def postfix_unavailable_reason() -> str | None:
    """Why this machine cannot run the Postfix fixture, or None when it can."""
    if find_postfix() is None:
        return (
            "Postfix is not installed (run scripts/test.sh, which installs Debian's postfix "
            "and dovecot-sieve without starting a system service)"
        )
    if os.geteuid() != 0:
        return "the Postfix fixture needs root (Postfix's master runs as root)"
    if not any(Path(folder).glob("lib90_sieve_plugin.so") for folder in _DOVECOT_MODULES):
        return "Dovecot's Sieve plugin is not installed (apt-get install dovecot-sieve)"
    return None


@dataclass(frozen=True)
class Ports:
    """Postfix's smtpd listeners, all on 127.0.0.1, all offering AUTH through Dovecot."""

    plain: int  # submission without TLS (the product's security = "none" on loopback)
    starttls: int  # STARTTLS required before AUTH and MAIL
    ssl: int  # implicit TLS (like port 465)
    rate_limited: int  # anvil: one message per client per minute on this port
    accept_unlisted: int  # smtpd_reject_unlisted_recipient = no: unknown users bounce later
    strip_header: int  # a relay that removes X-Watchdog-* headers (cleanup header_checks)
    remote: int  # the "remote" MX of greylist.test and reject.test (see REMOTE_REPLIES)


class Postfix:
    """One Postfix instance in front of ``dovecot`` (which needs ``auth_listener``)."""

    def __init__(
        self,
        dovecot: Dovecot,
        certificates: TestCertificates,
        *,
        mailboxes: tuple[str, ...],
        delay_warning: str = "3s",
        keep: bool = False,
    ) -> None:
        self.dovecot = dovecot
        self.certificates = certificates
        self.mailboxes = mailboxes  # local parts Postfix knows in example.test
        self.delay_warning = delay_warning
        self.keep = keep  # keep the folder after stop(), to read postfix.log
        self.binary = find_postfix()
        self._root: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._ports: Ports | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> None:
        """Write main.cf and master.cf, start the master; return once every port greets."""
        if self._process is not None:
            raise RuntimeError("Postfix is already running")
        reason = postfix_unavailable_reason()
        if reason is not None:
            raise PostfixError(reason)
        self._root = Path(tempfile.mkdtemp(prefix="watchdog-postfix-"))
        self._root.chmod(0o755)
        for attempt in range(3):
            self._ports = Ports(*free_ports(7))
            self._write_config()
            try:
                self._spawn(timeout)
                return
            except PostfixError as e:
                if "Address already in use" not in str(e) or attempt == 2:
                    self.stop()
                    raise

    def stop(self) -> None:
        """``postfix -c DIR stop``, wait for the master to end, remove the folder."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            assert self.binary is not None
            subprocess.run(
                [self.binary, "-c", str(self.root / "etc"), "stop"],
                capture_output=True,
                timeout=30,
                check=False,
            )
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                # Its children are in the master's process group (it is a group leader).
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._root is not None and not self.keep:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> Postfix:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- where things are --------------------------------------------------------------------

    @property
    def root(self) -> Path:
        if self._root is None:
            raise RuntimeError("Postfix is not started")
        return self._root

    @property
    def config_directory(self) -> Path:
        """The folder holding main.cf and master.cf (``postfix -c`` / ``postconf -c``)."""
        return self.root / "etc"

    @property
    def ports(self) -> Ports:
        if self._ports is None:
            raise RuntimeError("Postfix is not started")
        return self._ports

    @property
    def pid(self) -> int | None:
        """The master's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def log_text(self) -> str:
        """Postfix's own log (maillog_file) and the master's stderr, for failure messages."""
        parts = []
        for name in ("master.stderr", "postfix.log"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    # -- controls ----------------------------------------------------------------------------

    def flush(self) -> None:
        """Retry every deferred message now (``postqueue -f``)."""
        self._command("postqueue", "-f")

    def queue_size(self) -> int:
        """How many messages wait in the queue (deferred, active or incoming)."""
        count = 0
        for name in ("incoming", "active", "deferred", "hold"):
            folder = self.root / "queue" / name
            if folder.exists():
                count += sum(1 for p in folder.rglob("*") if p.is_file())
        return count

    def postconf(self, settings: Mapping[str, str]) -> None:
        """Change main.cf (``postconf -c DIR -e``) and reload, for a test that needs more."""
        self._command("postconf", *(f"{k}={v}" for k, v in settings.items()), edit=True)
        if self._process is not None:
            assert self.binary is not None
            subprocess.run(
                [self.binary, "-c", str(self.config_directory), "reload"],
                capture_output=True,
                timeout=30,
                check=True,
            )

    # -- internals ---------------------------------------------------------------------------

    def _command(self, name: str, *args: str, edit: bool = False) -> None:
        program = shutil.which(name, path=os.pathsep.join(_SBIN_DIRS)) or name
        argv = [program, "-c", str(self.config_directory), *(["-e"] if edit else []), *args]
        subprocess.run(argv, capture_output=True, timeout=30, check=True)

    def _write_config(self) -> None:
        root = self.root
        etc = root / "etc"
        etc.mkdir(exist_ok=True)
        ports = self.ports
        main = _main_cf(
            root,
            self.certificates,
            self.dovecot.lmtp_port,
            self.dovecot.auth_port,
            self.delay_warning,
        )
        (etc / "main.cf").write_text(
            "# Written by tests/servers/postfix.py for one test session.\n"
            + "".join(f"{k} = {v}\n" for k, v in main.items())
        )
        listeners = [
            _LISTENER.format(host=HOST, port=ports.plain, name="submission-plain"),
            _LISTENER.format(host=HOST, port=ports.starttls, name="submission-starttls")
            + "  -o smtpd_tls_security_level=encrypt\n  -o smtpd_tls_auth_only=yes\n",
            _LISTENER.format(host=HOST, port=ports.ssl, name="submissions")
            + "  -o smtpd_tls_wrappermode=yes\n  -o smtpd_tls_security_level=encrypt\n",
            _LISTENER.format(host=HOST, port=ports.rate_limited, name="rate-limited")
            + "  -o smtpd_client_message_rate_limit=1\n",
            _LISTENER.format(host=HOST, port=ports.accept_unlisted, name="accept-unlisted")
            + "  -o smtpd_reject_unlisted_recipient=no\n",
            _LISTENER.format(host=HOST, port=ports.strip_header, name="strip-header")
            + "  -o cleanup_service_name=cleanup-strip\n",
            # Another provider's MX: no sign-in, no sender check, and a reply per domain.
            _LISTENER.format(host=HOST, port=ports.remote, name="remote-mx")
            + "  -o smtpd_sasl_auth_enable=no\n  -o smtpd_sender_restrictions=\n"
            + "  -o smtpd_relay_restrictions=$remote_mx_restrictions\n",
        ]
        (etc / "master.cf").write_text(
            _MASTER_CF.format(root=root, listeners="".join(listeners).rstrip("\n"))
        )
        (root / "virtual_mailboxes").write_text(
            "".join(f"{name}@{DOMAIN} {name}/\n" for name in self.mailboxes)
        )
        # Each mailbox address belongs to the user of the same name (and only to them).
        (root / "sender_logins").write_text(
            "".join(f"{name}@{DOMAIN} {name}\n" for name in self.mailboxes)
        )
        # What some relays and security gateways do to headers they do not know.
        (root / "strip_headers").write_text("/^X-Watchdog-/ IGNORE\n")
        (root / "transport").write_text(
            "".join(
                f"{domain} loopback-smtp:[{HOST}]:{ports.remote}\n" for domain in REMOTE_REPLIES
            )
        )
        (root / "remote_replies").write_text(
            "".join(f"{domain} {reply}\n" for domain, reply in REMOTE_REPLIES.items())
        )
        names = (
            "virtual_mailboxes",
            "sender_logins",
            "strip_headers",
            "transport",
            "remote_replies",
        )
        for name in names:
            (root / name).chmod(0o644)
        # The postfix command changes into the queue folder before anything else; post-install
        # creates the rest. The data folder belongs to the mail owner.
        (root / "queue").mkdir(mode=0o755, exist_ok=True)
        data = root / "data"
        data.mkdir(mode=0o700, exist_ok=True)
        postfix_user = pwd.getpwnam("postfix")
        os.chown(data, postfix_user.pw_uid, postfix_user.pw_gid)

    def _spawn(self, timeout: float) -> None:
        assert self.binary is not None
        root = self.root
        (root / "postfix.log").unlink(missing_ok=True)
        # Creates the queue folders with Postfix's owners and modes (post-install).
        checked = subprocess.run(
            [self.binary, "-c", str(self.config_directory), "check"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if checked.returncode != 0:
            raise PostfixError(f"postfix check failed:\n{checked.stdout}{checked.stderr}")
        # The master in the foreground (-d) as our child, so the process we hold is the
        # master; with setpriv it gets SIGTERM if the test run dies without teardown, instead
        # of living on as an orphan. ``postfix stop`` ends it in the normal way.
        command = [str(DAEMON_DIRECTORY / "master"), "-c", str(self.config_directory), "-d"]
        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            command = [setpriv, "--pdeathsig", "TERM", "--", *command]
        environment = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "MAIL_CONFIG": str(self.config_directory),
        }
        with open(root / "master.stderr", "wb") as stderr:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                env=environment,
                start_new_session=True,  # its own process group, for the last-resort kill
            )
        deadline = time.monotonic() + timeout
        pending = list(self.ports.__dict__.values())
        while pending:
            if self._process.poll() is not None:
                self._process = None
                raise PostfixError(f"postfix exited at start:\n{self.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise PostfixError(f"postfix did not answer within {timeout} s")
            pending = [port for port in pending if not self._greets(port)]
            if pending:
                time.sleep(0.02)

    def _greets(self, port: int) -> bool:
        """Whether smtpd answers on ``port``: read the greeting, then QUIT properly.

        The implicit-TLS port greets inside TLS, verified against the tests' CA.
        """
        try:
            with socket.create_connection((HOST, port), timeout=2) as raw:
                sock = raw
                if port == self.ports.ssl:
                    context = self.certificates.client_context()
                    sock = context.wrap_socket(raw, server_hostname=HOST)
                stream = sock.makefile("rwb")
                if not stream.readline().startswith(b"220"):
                    return False
                stream.write(b"QUIT\r\n")
                stream.flush()
                stream.readline()
                return True
        except OSError:
            return False


@dataclass
class PostfixServers:
    """Dovecot + Postfix + the test CA: the same attributes as ``tests.servers.MailServers``, so
    ``tests.servers.write_config`` writes the product's config for it.
    """

    certificates: TestCertificates
    dovecot: Dovecot
    postfix: Postfix
    folder: Path  # holds the CA and certificate files
    seed_user: str = SEED_USER
    seed_password: str = SEED_PASSWORD
    sender_user: str = SENDER_USER
    sender_password: str = SENDER_PASSWORD
    seed_address: str = f"{SEED_USER}@{DOMAIN}"
    sender_address: str = f"{SENDER_USER}@{DOMAIN}"
    smtp_host: str = HOST
    imap_host: str = HOST
    users: dict[str, str] = field(default_factory=dict)

    @property
    def ca_file(self) -> Path:
        return self.certificates.ca_file

    @property
    def imap_port(self) -> int:
        return self.dovecot.imap_port

    @property
    def imaps_port(self) -> int:
        return self.dovecot.imaps_port

    def smtp_port_for(self, security: str) -> int:
        """Postfix's port for the product's ``security`` value (ssl, starttls, none)."""
        ports = self.postfix.ports
        return {"ssl": ports.ssl, "starttls": ports.starttls, "none": ports.plain}[security]

    def imap_port_for(self, security: str) -> int:
        if security not in ("ssl", "starttls", "none"):
            raise KeyError(security)
        return self.imaps_port if security == "ssl" else self.imap_port

    @staticmethod
    def address(user: str) -> str:
        return f"{user}@{DOMAIN}"

    def reset(self) -> None:
        """Empty every Dovecot mailbox (bounces and notices of earlier tests included)."""
        for user in self.users:
            self.dovecot.clear_mailbox(user)

    @contextlib.contextmanager
    def submission(
        self, user: str = SENDER_USER, *, port: int | None = None
    ) -> Iterator[smtplib.SMTP]:
        """A plain smtplib session on the plain submission port, signed in as ``user``."""
        client = smtplib.SMTP(HOST, port or self.postfix.ports.plain, timeout=10)
        try:
            client.ehlo("client.example.test")
            client.login(user, self.users[user])
            yield client
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()

    def stop(self) -> None:
        """Stop Postfix, then Dovecot; remove the certificate folder."""
        try:
            self.postfix.stop()
        finally:
            self.dovecot.stop()
            shutil.rmtree(self.folder, ignore_errors=True)


def start_postfix_servers(*, keep: bool = False) -> PostfixServers:
    """Start the CA, Dovecot (with quota, Sieve and an auth listener) and Postfix in front."""
    folder = Path(tempfile.mkdtemp(prefix="watchdog-postfix-tls-"))
    folder.chmod(0o755)  # Dovecot's and Postfix's daemons read the certificate files
    certificates = make_certificates(folder)
    users = {
        SEED_USER: SEED_PASSWORD,
        SENDER_USER: SENDER_PASSWORD,
        FULL_USER: SEED_PASSWORD,
        FULL_DEFER_USER: SEED_PASSWORD,
        SPAM_USER: SEED_PASSWORD,
        QUARANTINE_USER: SEED_PASSWORD,
    }
    dovecot = Dovecot(
        users,
        certificates,
        keep=keep,
        auth_listener=True,
        quotas={FULL_USER: Quota(), FULL_DEFER_USER: Quota(tempfail=True)},
        sieve_scripts={
            SPAM_USER: _SIEVE_FILEINTO.format(folder=SPAM_FOLDER),
            QUARANTINE_USER: _SIEVE_FILEINTO.format(folder=QUARANTINE_FOLDER),
        },
    )
    postfix = Postfix(dovecot, certificates, mailboxes=(*users, GHOST_USER), keep=keep)
    try:
        dovecot.start()
        postfix.start()
    except BaseException:
        postfix.stop()
        dovecot.stop()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return PostfixServers(
        certificates=certificates, dovecot=dovecot, postfix=postfix, folder=folder, users=users
    )


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``condition()`` until it is true or ``timeout`` passes (bounded); its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return bool(condition())
        time.sleep(interval)


def _in_ci() -> bool:
    """``CI=true``: a missing Postfix must fail the run, never pass it by skipping."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def running_postfix() -> Iterator[PostfixServers]:
    """The body of a pytest fixture: Postfix + Dovecot for the tests, stopped after them.

    Without Postfix (or without root) the tests are skipped with the reason, except under
    ``CI=true``, where that is a failure. After stopping, fails if a Postfix master of this
    instance is still running: a test run must never leave one behind.
    """
    import pytest

    reason = postfix_unavailable_reason()
    if reason is not None:
        if _in_ci():
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    started = start_postfix_servers()
    master = started.postfix.pid
    try:
        yield started
    finally:
        started.stop()
    if master is not None and process_alive(master):
        pytest.fail(f"the Postfix master (pid {master}) still runs after stop()")


def process_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (a zombie counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
