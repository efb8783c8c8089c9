"""``watchdog support-bundle``: one zip file an office can send to support.

Inside: the config file (secrets scrubbed, addresses kept), a consistent copy of the history
database, the recent log files, ``watchdog doctor`` output (text and JSON), versions, and a
README.txt that says what is inside. Support answers "did our reminders go out last week?" from it
without a remote session.

Why each piece is made the way it is:

* The bundle is needed most when something is broken, so no part may stop it: a config that does
  not load, a missing or damaged history, a doctor that hangs or crashes - each becomes a note in
  the README and the rest is still written.
* Passwords never enter it. The config format holds none, but a user may have typed one in (that is
  often why it does not load), so password/token/secret keys are blanked. Webhook and heartbeat
  addresses carry their secret in the path or query (Slack, Teams, ntfy, Healthchecks), so every
  web address keeps only its scheme and host. The passwords in ``WATCHDOG_*_PASSWORD`` are blanked
  from every text as a last guard; the keyring is never read.
* The file is created 0600 (it holds the history and the practice's addresses), written under a
  temporary name and renamed, so a failure never leaves half a zip behind.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import re
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from watchdog import __version__
from watchdog.config import APP_NAME, CONFIG_ENV, Config, default_config_path, load_config
from watchdog.core.errors import WatchdogError
from watchdog.core.exit_status import ExitStatus
from watchdog.signin.credentials import env_var
from watchdog.storage.atomic_file import PRIVATE, atomic_binary_file

#: Per network step of the doctor inside a bundle: shorter than ``watchdog doctor``'s own, since
#: the person waiting wants the file, and a server that slow is already the finding.
DOCTOR_STEP_TIMEOUT_S = 5.0
#: The most the whole doctor may take before the bundle is written without the rest of it.
DOCTOR_TOTAL_TIMEOUT_S = 60.0
#: The rotating log keeps six files of at most 1 MB (``watchdog.log`` .. ``watchdog.log.5``).
LOG_FILE_NAME = "watchdog.log"
MAX_LOG_FILES = 6

REDACTED = "<redacted>"

#: A TOML key that names a secret: ``password = "..."``, ``api_token = ...``, ``pass = ...``.
_SECRET_KEY = re.compile(
    r"""(?imx)
    ^(?P<key>\s*(?:[\w.-]*\.)?
        (?:[\w-]*(?:password|passwd|secret|token|credential|api_?key|private_?key)[\w-]*|pass)
        \s*=\s*)
    (?P<value>"(?:[^"\\]|\\.)*"|'[^']*'|[^\s#]+)
    """
)
#: A web address: everything after the host is dropped (tokens live in paths and queries).
_URL = re.compile(r"(?i)\b(?P<scheme>https?)://(?P<rest>[^\s\"'<>]+)")


@dataclass
class BundleResult:
    """What was written, and anything that could not be included (also in the README)."""

    path: Path
    members: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- scrubbing ----------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """``https://hooks.slack.com/services/T0/B0/XYZ`` -> ``https://hooks.slack.com/<redacted>``.

    Keeps what support needs (which service, which host and port) and drops user info, path,
    query and fragment, where webhook services keep their secret.
    """
    match = _URL.fullmatch(url.strip())
    if match is None:
        return REDACTED
    scheme, rest = match.group("scheme"), match.group("rest")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host = authority.rpartition("@")[2]  # user:password@host
    tail = rest[len(authority) :]
    return f"{scheme}://{host}/{REDACTED}" if (tail.strip("/") or "@" in authority) else url


def scrub_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secrets, secret-looking keys and web address paths blanked."""
    # Addresses first, so a known webhook still shows its host; then whatever is left of a secret.
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def scrub_config(text: str, secrets: Iterable[str] = ()) -> str:
    """The config file's text for support: secret keys blanked, addresses and layout kept."""
    text = _SECRET_KEY.sub(lambda m: f'{m.group("key")}"{REDACTED}"', text)
    return scrub_text(text, secrets)


def known_secrets(config: Config | None) -> list[str]:
    """Values that must never appear: the environment's passwords and the configured web hooks.

    Short values are left out: blanking every "a" in the logs would make them unreadable, and a
    password that short is not a password anyone relies on.
    """
    found = [os.environ.get(env_var("sender"), ""), os.environ.get(env_var("seed"), "")]
    if config is not None:
        urls = [hook.url for hook in config.alerts.webhooks]
        if config.alerts.heartbeat_url:
            urls.append(config.alerts.heartbeat_url)
        for url in urls:
            found.append(url)
            # Also the path on its own: HTTP client logs name it without the host.
            match = _URL.fullmatch(url)
            if match:
                path = re.split(r"(?=[/?#])", match.group("rest"), maxsplit=1)
                if len(path) == 2 and len(path[1].strip("/")) >= 6:
                    found.append(path[1])
    return [s for s in found if len(s) >= 6]


# --- the pieces ---------------------------------------------------------------------------------


def log_dir() -> Path:
    """The platform's log folder, where ``watchdog run`` and the tray keep ``watchdog.log``."""
    import platformdirs

    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def log_files(folder: Path) -> list[Path]:
    """``watchdog.log`` and its rotations, newest first, those that exist."""
    names = [LOG_FILE_NAME] + [f"{LOG_FILE_NAME}.{i}" for i in range(1, MAX_LOG_FILES)]
    return [folder / n for n in names if (folder / n).is_file()]


def run_doctor_for_bundle(
    config: Config, *, step_timeout: float, total_timeout: float
) -> tuple[str, str]:
    """Doctor's findings as (text, JSON); a crash or a hang becomes part of the text, not an error.

    Runs in a daemon thread so a check stuck past every timeout cannot keep the bundle from
    being written; the findings made until then are kept.
    """
    from watchdog.setup.doctor import Doctor

    doctor = Doctor(config, timeout=step_timeout)
    problem: list[str] = []

    def work() -> None:
        try:
            doctor.run()
        except BaseException:  # any doctor failure is a finding for support
            problem.append(traceback.format_exc())

    thread = threading.Thread(target=work, name="bundle-doctor", daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(total_timeout)
    findings = list(doctor.findings)
    lines = [f"watchdog doctor for {config.path}", ""]
    lines += [f.line() for f in findings]
    state = "finished"
    if thread.is_alive():
        state = f"did not finish within {total_timeout:g} s; the findings until then are above"
    elif problem:
        state = "stopped with an unexpected error:\n" + problem[0]
    lines += ["", f"Doctor {state} ({time.monotonic() - started:.1f} s)."]
    payload = {
        "config": str(config.path),
        "finished": state == "finished",
        "failed": any(f.level == "FAIL" for f in findings),
        "checks": [asdict(f) for f in findings],
        "note": None if state == "finished" else state,
    }
    return "\n".join(lines) + "\n", json.dumps(payload, indent=2) + "\n"


def versions_text() -> str:
    """The product, Python, the OS, SQLite, the keyring backend and every library we require."""
    from watchdog.storage.history import SQLITE_VERSION

    lines = [
        f"Delivery Watchdog {__version__}",
        f"Python {sys.version.split()[0]} ({platform.python_implementation()}) at {sys.executable}",
        f"OS {platform.platform()} ({platform.machine()})",
        f"SQLite {SQLITE_VERSION}",
        f"Keyring backend: {_keyring_backend()}",
        "",
        "Libraries:",
    ]
    for name in _required_distributions():
        try:
            lines.append(f"  {name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            lines.append(f"  {name} (not installed)")
    lines += ["", "Environment (values of password variables are never included):"]
    for name in (CONFIG_ENV, env_var("sender"), env_var("seed"), "PYTHON_KEYRING_BACKEND"):
        value = os.environ.get(name)
        if value is None:
            shown = "not set"
        elif name in (CONFIG_ENV, "PYTHON_KEYRING_BACKEND"):
            shown = value
        else:
            shown = "set" if value else "set, empty"
        lines.append(f"  {name}: {shown}")
    return "\n".join(lines) + "\n"


def _required_distributions() -> list[str]:
    """Names from this distribution's own requirements (no extras), so the list never goes stale."""
    try:
        requires = importlib.metadata.requires("delivery-watchdog") or []
    except importlib.metadata.PackageNotFoundError:
        return []
    names = []
    for requirement in requires:
        if "extra ==" in requirement:
            continue
        name = re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0]
        if name and name not in names:
            names.append(name)
    return names


def _keyring_backend() -> str:
    """Which keyring is in use (its name only: the keyring's contents are never read)."""
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception as e:  # a broken keyring is itself worth knowing
        return f"unavailable ({type(e).__name__})"
    return f"{type(backend).__module__}.{type(backend).__qualname__}"


# --- the bundle ---------------------------------------------------------------------------------


def default_output(now: float | None = None) -> Path:
    """``watchdog-support-YYYYMMDD-HHMMSS.zip`` in the home folder (else the current folder)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    name = f"watchdog-support-{stamp}.zip"
    home = Path.home()
    if home.is_dir() and os.access(home, os.W_OK):
        return home / name
    return Path.cwd() / name


def build_bundle(
    config_path: Path,
    output: Path,
    *,
    doctor_step_timeout: float = DOCTOR_STEP_TIMEOUT_S,
    doctor_total_timeout: float = DOCTOR_TOTAL_TIMEOUT_S,
) -> BundleResult:
    """Write the bundle for ``config_path`` to ``output`` (mode 0600); never half a file."""
    from watchdog.storage.paths import history_path

    result = BundleResult(path=output.expanduser().resolve())
    config: Config | None = None
    config_error = ""
    try:
        config = load_config(config_path)
    except WatchdogError as e:
        config_error = str(e)
        result.notes.append(f"The config did not load: {e}")
    secrets = known_secrets(config)

    with tempfile.TemporaryDirectory(prefix="watchdog-bundle-") as work_dir:
        work = Path(work_dir)
        members: list[tuple[str, bytes | Path]] = []

        # The config file.
        try:
            raw = config_path.read_text(encoding="utf-8", errors="replace")
            members.append(("config.toml", scrub_config(raw, secrets).encode("utf-8")))
        except OSError as e:
            result.notes.append(f"The config file {config_path} could not be read: {e}")

        # The history database: a consistent copy, never the live file.
        history = history_path(config)
        if history.is_file():
            copy = work / "history.sqlite3"
            try:
                from watchdog.storage.history import backup_file

                backup_file(history, copy)
                members.append(("history.sqlite3", copy))
            except WatchdogError as e:
                result.notes.append(f"{e}. The file itself is included as history-raw.sqlite3.")
                with contextlib.suppress(OSError):
                    members.append(("history-raw.sqlite3", history.read_bytes()))
        else:
            result.notes.append(f"There is no history yet ({history} does not exist).")

        # Recent logs.
        logs = log_files(log_dir())
        if not logs:
            result.notes.append(f"There are no log files in {log_dir()}.")
        for log_path in logs:
            try:
                text = log_path.read_text(encoding="utf-8", errors="replace")
            except OSError as e:
                result.notes.append(f"The log file {log_path} could not be read: {e}")
                continue
            members.append((f"logs/{log_path.name}", scrub_text(text, secrets).encode("utf-8")))

        # The doctor.
        if config is not None:
            text, as_json = run_doctor_for_bundle(
                config, step_timeout=doctor_step_timeout, total_timeout=doctor_total_timeout
            )
        else:
            text = f"watchdog doctor did not run: the config did not load.\n{config_error}\n"
            as_json = json.dumps({"finished": False, "note": text}, indent=2) + "\n"
        members.append(("doctor.txt", scrub_text(text, secrets).encode("utf-8")))
        members.append(("doctor.json", scrub_text(as_json, secrets).encode("utf-8")))

        members.append(("versions.txt", versions_text().encode("utf-8")))
        names = [name for name, _ in members]
        readme = readme_text(config_path, names, result.notes)
        members.insert(0, ("README.txt", scrub_text(readme, secrets).encode("utf-8")))
        _write_zip(result.path, members)
        result.members = [name for name, _ in members]
    return result


_DESCRIPTIONS = {
    "config.toml": "the configuration file; web addresses shortened to their host and anything "
    "that looks like a password blanked",
    "history.sqlite3": "a consistent copy of the history database (SQLite): every check, status "
    "change and alert; `watchdog --config ... history` or any SQLite browser reads it",
    "history-raw.sqlite3": "the history file exactly as found, because a clean copy failed",
    "doctor.txt": "`watchdog doctor` as it printed",
    "doctor.json": "`watchdog doctor --json`",
    "versions.txt": "versions of Delivery Watchdog, Python, the OS and the libraries",
}


def readme_text(config_path: Path, names: list[str], notes: list[str]) -> str:
    """What is inside, and what could not be included."""
    lines = [
        "Delivery Watchdog support bundle",
        "================================",
        "",
        f"Made {time.strftime('%Y-%m-%d %H:%M:%S %z')} by Delivery Watchdog {__version__} "
        f"for the config {config_path}.",
        "",
        "Inside:",
    ]
    for name in names:
        what = _DESCRIPTIONS.get(name)
        if what is None and name.startswith("logs/"):
            what = "the log of `watchdog run` / the tray (newest is watchdog.log)"
        lines.append(f"  {name}: {what or ''}")
    lines += [
        "",
        "Never inside: passwords (they stay in the system keyring, which is not read), the secret",
        "parts of webhook and heartbeat addresses, or anything about patients (the watchdog never",
        "sees any). E-mail addresses and server names are kept: support needs them.",
    ]
    if notes:
        lines += ["", "Could not be included, or worth knowing:"]
        lines += [f"  - {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _write_zip(target: Path, members: list[tuple[str, bytes | Path]]) -> None:
    """Write the zip (0600) to ``target`` whole (:mod:`watchdog.storage.atomic_file`)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        atomic_binary_file(target, mode=PRIVATE) as out,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z,
    ):
        for name, content in members:
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100600 & 0xFFFF) << 16  # unpacked 0600 too
            data = content.read_bytes() if isinstance(content, Path) else content
            z.writestr(info, data)


# --- the command --------------------------------------------------------------------------------


def run_support_bundle(
    *,
    config_path: Path | None = None,
    output: Path | None = None,
    doctor_step_timeout: float = DOCTOR_STEP_TIMEOUT_S,
) -> int:
    """``watchdog support-bundle``: 0 when the zip was written, 2 when it could not be.

    None: the default place (of the config; of the zip, :func:`default_output`).
    ``doctor_step_timeout`` 0: the default.
    """
    config_path = config_path or default_config_path()
    output = output or default_output()
    step = doctor_step_timeout or DOCTOR_STEP_TIMEOUT_S
    try:
        result = build_bundle(config_path, output, doctor_step_timeout=step)
    except OSError as e:
        print(f"The support bundle could not be written to {output}: {e}", file=sys.stderr)
        return ExitStatus.FAILED
    for note in result.notes:
        print(f"Note: {note}", file=sys.stderr)
    print(f"Support bundle written to {result.path}")
    print("Send this file to your support contact; it holds no passwords.")
    return ExitStatus.OK
