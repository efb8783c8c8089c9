"""A throwaway Dovecot (IMAP, IMAPS, STARTTLS, LMTP) on loopback, for the seed mailbox.

Everything Dovecot writes (config, sockets, state, log, mail) stays under one folder from
``tempfile.mkdtemp()``, which :meth:`Dovecot.stop` removes. It starts in about 25 ms.

Optional, for the real Postfix in tests/servers/postfix.py (all off by default): an ``auth``
listener on loopback for Postfix's SASL (``auth_listener``), per-user quota limits and whether a
full mailbox defers or refuses (``quotas``), and per-user Sieve scripts (``sieve_scripts``).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from imapclient import IMAPClient

from .tls import TestCertificates

#: Where Debian installs the binary; ``/usr/sbin`` is not on a normal user's PATH.
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")

INBOX = "INBOX"
JUNK = "Junk"


@dataclass(frozen=True)
class Quota:
    """A storage limit for one user, and what LMTP answers when a message would exceed it.

    ``tempfail`` False: ``552 5.2.2 Quota exceeded`` (the sending MTA bounces at once); True:
    ``452 4.2.2`` (Dovecot's ``quota_full_tempfail``: the sending MTA keeps retrying and sends
    delay notices), as real mailbox providers are configured either way.
    """

    # A Dovecot quota_rule size. Dovecot lets a mailbox under quota take one more message that
    # goes over by up to 10 % of the limit (quota_grace): with 1 byte, no message fits.
    storage: str = "1B"
    tempfail: bool = False


_CONFIG = """\
# Written by tests/servers/dovecot.py for one test session; nothing outside {root}.
protocols = imap lmtp
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
{run_as}
ssl = yes
ssl_cert = <{cert_file}
ssl_key = <{key_file}
# Plain IMAP logins are allowed: the product's security = "none" case needs them on loopback.
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth_mechanisms}
# Tests log in with wrong passwords on purpose. Dovecot's default delay (2 s) and its anvil
# penalty (0.6 s growing to 8.5 s per failure from the same IP, and about 15 s for the next
# *valid* login) would slow down every later test, so both are off.
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%n/Maildir
{quota_plugin}
# LMTP to "seed+Junk" files the message into the Junk folder: the server's "junk" mode.
recipient_delimiter = +
lmtp_save_to_detail_mailbox = yes
lda_mailbox_autocreate = yes

namespace inbox {{
  inbox = yes
  # A real provider's spam folder: advertised with SPECIAL-USE so the product can find it.
  mailbox {junk} {{
    special_use = \\Junk
    auto = subscribe
  }}
}}

passdb {{
  driver = passwd-file{passwd_mechanisms}
  args = scheme=PLAIN username_format=%n {root}/passwd
}}
{oauth_passdb}{extra_userdb}userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%n{allow_all_users}
}}

# No chroot for the login and anvil processes: only root may chroot, and this instance must
# also run unprivileged (a developer's own account).
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol lmtp {{
  auth_username_format = %n{lmtp_plugins}
}}
{extras}"""

#: ``auth_listener``: Postfix's smtpd asks this listener whether a SASL login is right.
_AUTH_SERVICE = """\
service auth {{
  inet_listener auth-postfix {{
    address = 127.0.0.1
    port = {auth_port}
  }}
}}
"""

#: ``quotas``: the quota plugin; each limited user's rule comes from the ``userdb`` file.
_QUOTA_PLUGIN = """\
mail_plugins = $mail_plugins quota
"""

#: Users with a quota or a quota_full_tempfail of their own are found here first; every other
#: user falls through to the static userdb below.
_EXTRA_USERDB = """\
userdb {{
  driver = passwd-file
  args = username_format=%n {root}/userdb
  default_fields = uid={uid} gid={gid} home={root}/mail/%n
}}
"""

_PLUGIN_SETTINGS = """\
plugin {{
{settings}}}
"""

#: With ``oauth2_introspection_url``: XOAUTH2/OAUTHBEARER logins checked by the OAuth2 authority
#: (RFC 7662 introspection), beside the password users.
_OAUTH_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/dovecot-oauth2.conf.ext
}}
"""
_OAUTH_CONF = """\
introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
"""


def free_ports(count: int) -> tuple[int, ...]:
    """``count`` distinct TCP ports on 127.0.0.1 that are free right now.

    All sockets stay open until every port is picked, so the ports differ. Someone may still
    take one before our server binds it; callers retry on "address in use".
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return tuple(ports)


class DovecotError(RuntimeError):
    """Dovecot did not start; the message carries the end of its log."""


def find_dovecot() -> str | None:
    """The path of the ``dovecot`` binary, looking in the sbin folders too."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN_DIRS])
    return shutil.which("dovecot", path=search)


class Dovecot:
    """One Dovecot instance with the given users (name → password), all on 127.0.0.1.

    Listeners: plain IMAP with STARTTLS offered (``imap_port``), implicit TLS IMAP
    (``imaps_port``) and LMTP (``lmtp_port``). Ports are picked free at :meth:`start`.
    """

    def __init__(
        self,
        users: Mapping[str, str],
        certificates: TestCertificates,
        *,
        binary: str | None = None,
        keep: bool = False,
        oauth2_introspection_url: str | None = None,
        auth_listener: bool = False,
        quotas: Mapping[str, Quota] | None = None,
        sieve_scripts: Mapping[str, str] | None = None,
    ) -> None:
        for name, password in users.items():
            if not name or any(c in name + password for c in ":\n\r+@/"):
                raise ValueError(f"user {name!r} or its password cannot go in a passwd-file")
        self.users: dict[str, str] = dict(users)
        self.certificates = certificates
        self.binary = binary or find_dovecot()
        self.keep = keep  # keep the folder after stop(), to read dovecot.log
        # Also accept XOAUTH2 / OAUTHBEARER, with tokens checked at this RFC 7662 endpoint.
        self.oauth2_introspection_url = oauth2_introspection_url
        # A loopback auth listener for an MTA's SASL (Postfix: smtpd_sasl_type = dovecot).
        self.auth_listener = auth_listener
        # Users whose mailbox is limited (tiny: "full"), and how LMTP answers when it is.
        self.quotas: dict[str, Quota] = dict(quotas or {})
        # Users with a Sieve script run at LMTP delivery (fileinto "Spam" and the like).
        self.sieve_scripts: dict[str, str] = dict(sieve_scripts or {})
        for name in [*self.quotas, *self.sieve_scripts]:
            if name not in self.users:
                raise ValueError(f"quota or Sieve script for {name!r}, who is not a user")
        self._root: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._ports: tuple[int, ...] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Write the config and start Dovecot; return once it greets on the IMAP port.

        A port picked free can be taken by someone else before Dovecot binds it, so a start
        that fails with "Address already in use" is retried with new ports.
        """
        if self._process is not None:
            raise RuntimeError("Dovecot is already running")
        if self.binary is None:
            raise DovecotError("no dovecot binary (apt-get install dovecot-imapd dovecot-lmtpd)")
        # Every parent folder must be searchable by the users Dovecot switches to (its login
        # processes and the mail user "nobody"). pytest's tmp_path lives under a 0700 folder,
        # where LMTP delivery fails with "451 4.3.0 Temporary internal error"; mkdtemp() in
        # /tmp plus chmod 0755 is safe.
        self._root = Path(tempfile.mkdtemp(prefix="watchdog-dovecot-"))
        self._root.chmod(0o755)
        self._write_files()
        for attempt in range(3):
            self._ports = free_ports(4 if self.auth_listener else 3)
            self._write_config()
            try:
                self._spawn(timeout)
                return
            except DovecotError as e:
                if "Address already in use" not in str(e) or attempt == 2:
                    self.stop()
                    raise

    def stop(self) -> None:
        """Stop Dovecot (SIGTERM, then wait) and remove its folder unless ``keep``."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._root is not None and not self.keep:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> Dovecot:
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
        """The folder holding everything of this instance."""
        if self._root is None:
            raise RuntimeError("Dovecot is not started")
        return self._root

    @property
    def imap_port(self) -> int:
        """Plain IMAP; STARTTLS is offered here (``ssl = yes`` but not required)."""
        return self._port(0)

    @property
    def imaps_port(self) -> int:
        """IMAP over implicit TLS (like port 993)."""
        return self._port(1)

    @property
    def lmtp_port(self) -> int:
        """LMTP for delivery; the recipient is the bare user name (``seed``, ``seed+Junk``)."""
        return self._port(2)

    @property
    def auth_port(self) -> int:
        """The loopback auth listener for Postfix's SASL (only with ``auth_listener``)."""
        if not self.auth_listener:
            raise RuntimeError("Dovecot was started without auth_listener")
        return self._port(3)

    def log_text(self) -> str:
        """Dovecot's own log plus anything it wrote to stderr, for failure messages."""
        parts = []
        for name in ("dovecot.stderr", "dovecot.log"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    # -- mailbox helpers (IMAP as the user, so Dovecot's indexes stay consistent) -------------

    @contextlib.contextmanager
    def imap(self, user: str) -> Iterator[IMAPClient]:
        """A logged-in plain IMAP session as ``user`` (loopback only, so no TLS needed)."""
        client = IMAPClient("127.0.0.1", port=self.imap_port, ssl=False, timeout=10)
        try:
            client.login(user, self.users[user])
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def deliver(self, user: str, raw: bytes, folder: str = INBOX) -> None:
        """Put a message straight into ``folder`` of ``user`` (IMAP APPEND)."""
        with self.imap(user) as client:
            client.append(folder, raw)

    def count(self, user: str, folder: str = INBOX) -> int:
        """How many messages ``folder`` of ``user`` holds right now (0 before it exists).

        A Sieve rule creates its folder with the first message it files, so a wait for a count
        may look before the folder is there: that is "none yet", not an error.
        """
        with self.imap(user) as client:
            if not client.folder_exists(folder):
                return 0
            status = client.folder_status(folder, [b"MESSAGES"])
            return int(status[b"MESSAGES"])

    def messages(self, user: str, folder: str = INBOX) -> list[bytes]:
        """The raw messages in ``folder`` of ``user``, oldest first."""
        with self.imap(user) as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            fetched = client.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
            return [bytes(fetched[uid][b"BODY[]"]) for uid in sorted(fetched)]

    def wait_for_count(
        self, user: str, folder: str, expected: int, timeout: float = 5.0, interval: float = 0.02
    ) -> int:
        """Poll until ``folder`` holds ``expected`` messages or ``timeout`` passes; the last count.

        Polls with STATUS rather than IDLE: Dovecot's IDLE reports new mail about 0.5 s late.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = self.count(user, folder)
            if found == expected or time.monotonic() >= deadline:
                return found
            time.sleep(interval)

    def clear_mailbox(self, user: str) -> None:
        """Empty every folder of ``user`` (INBOX, Junk and anything a test created)."""
        with self.imap(user) as client:
            for flags, _delimiter, name in client.list_folders():
                if b"\\Noselect" in flags or b"\\NonExistent" in flags:
                    continue
                if client.select_folder(name)[b"EXISTS"]:
                    # UID STORE 1:* in one round trip; silent, because imapclient cannot
                    # parse a range back into message ids.
                    client.delete_messages("1:*", silent=True)
                    client.expunge()
                client.close_folder()

    # -- internals ---------------------------------------------------------------------------

    def _port(self, index: int) -> int:
        if self._ports is None:
            raise RuntimeError("Dovecot is not started")
        return self._ports[index]

    def _write_files(self) -> None:
        root = self.root
        # Read by the auth process, which runs as the "dovecot" user, hence world-readable.
        passwd = root / "passwd"
        passwd.write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in self.users.items()))
        passwd.chmod(0o644)
        mail = root / "mail"
        mail.mkdir()
        uid, gid = self._mail_ids()
        if os.geteuid() == 0:
            os.chown(mail, uid, gid)
        if self.quotas:
            # passwd-file userdb: name, then empty password/uid/gid/gecos/home/shell (the
            # default_fields fill those in), then this user's own settings.
            lines = []
            for name, quota in self.quotas.items():
                tempfail = "yes" if quota.tempfail else "no"
                fields = (
                    f"userdb_quota_rule=*:storage={quota.storage} "
                    f"userdb_quota_full_tempfail={tempfail}"
                )
                lines.append(f"{name}:::::::{fields}\n")
            userdb = root / "userdb"
            userdb.write_text("".join(lines))
            userdb.chmod(0o644)  # read by the auth process
        for name, script in self.sieve_scripts.items():
            # Sieve compiles the script beside it, as the mail user: the home must be theirs.
            home = mail / name
            home.mkdir()
            (home / ".dovecot.sieve").write_text(script)
            if os.geteuid() == 0:
                for path in (home, home / ".dovecot.sieve"):
                    os.chown(path, uid, gid)

    @staticmethod
    def _mail_ids() -> tuple[int, int]:
        """The uid/gid mail is stored as: ``nobody`` as root, else the current user."""
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            return nobody.pw_uid, nobody.pw_gid
        return os.getuid(), os.getgid()

    def _write_config(self) -> None:
        uid, gid = self._mail_ids()
        if os.geteuid() == 0:
            run_as = ""
        else:
            # Unprivileged: every Dovecot process runs as the current user.
            me = pwd.getpwuid(os.getuid()).pw_name
            group = grp.getgrgid(os.getgid()).gr_name
            run_as = (
                f"default_login_user = {me}\ndefault_internal_user = {me}\n"
                f"default_internal_group = {group}\n"
            )
        imap_port, imaps_port, lmtp_port = (self._ports or (0, 0, 0))[:3]
        oauth = self.oauth2_introspection_url
        if oauth is not None:
            conf = self.root / "dovecot-oauth2.conf.ext"
            conf.write_text(_OAUTH_CONF.format(url=oauth))
            conf.chmod(0o644)  # read by the auth process
        text = _CONFIG.format(
            oauth_mechanisms=" xoauth2 oauthbearer" if oauth else "",
            passwd_mechanisms="\n  mechanisms = plain login" if oauth else "",
            oauth_passdb=_OAUTH_PASSDB.format(root=self.root) if oauth else "",
            # An OAuth-only user has no passwd line; without this LMTP refuses it with 451.
            allow_all_users=" allow_all_users=yes" if oauth else "",
            root=self.root,
            run_as=run_as,
            cert_file=self.certificates.cert_file,
            key_file=self.certificates.key_file,
            junk=JUNK,
            uid=uid,
            gid=gid,
            imap_port=imap_port,
            imaps_port=imaps_port,
            lmtp_port=lmtp_port,
            lmtp_plugins=("\n  mail_plugins = $mail_plugins sieve" if self.sieve_scripts else ""),
            quota_plugin=_QUOTA_PLUGIN if self.quotas else "",
            extra_userdb=(
                _EXTRA_USERDB.format(root=self.root, uid=uid, gid=gid) if self.quotas else ""
            ),
            extras=self._extra_config(),
        )
        (self.root / "dovecot.conf").write_text(text)

    def _extra_config(self) -> str:
        """The optional tail: auth listener, quota and Sieve settings (empty when none)."""
        parts = []
        if self.auth_listener:
            parts.append(_AUTH_SERVICE.format(auth_port=self.auth_port))
        settings = ""
        if self.quotas:
            settings += "  quota = maildir:User quota\n"
        if self.sieve_scripts:
            settings += "  sieve = file:~/sieve;active=~/.dovecot.sieve\n"
        if settings:
            parts.append(_PLUGIN_SETTINGS.format(settings=settings))
        return "".join(parts)

    def _spawn(self, timeout: float) -> None:
        assert self.binary is not None
        root = self.root
        (root / "dovecot.log").unlink(missing_ok=True)
        # -F: stay in the foreground, so the process we hold is the master and SIGTERM to it
        # stops the whole instance.
        command = [self.binary, "-F", "-c", str(root / "dovecot.conf")]
        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            # If the test run is killed without teardown, Dovecot gets SIGTERM too instead of
            # living on as an orphan. (The signal fires when the *thread* that started it
            # ends, so start Dovecot from a thread that lives as long as it should.)
            command = [setpriv, "--pdeathsig", "TERM", "--", *command]
        with open(root / "dovecot.stderr", "wb") as stderr:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        deadline = time.monotonic() + timeout
        while not self._greets():
            if self._process.poll() is not None:
                self._process = None
                raise DovecotError(f"dovecot exited at start:\n{self.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise DovecotError(f"dovecot did not answer within {timeout} s")
            time.sleep(0.005)

    def _greets(self) -> bool:
        """Whether Dovecot answers on the IMAP port.

        Reads the greeting and logs out properly: a bare connect-and-close leaves a login
        process waiting, and the later SIGTERM then takes about 6 s instead of about 1 s.
        """
        try:
            with socket.create_connection(("127.0.0.1", self.imap_port), timeout=2) as sock:
                stream = sock.makefile("rwb")
                if not stream.readline().startswith(b"* OK"):
                    return False
                stream.write(b"a LOGOUT\r\n")
                stream.flush()
                while line := stream.readline():
                    if line.startswith(b"a "):
                        break
                return True
        except OSError:
            return False
