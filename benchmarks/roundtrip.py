"""Wall time of ``watchdog check`` beside a bare script and check_email_delivery (issue 2).

Starts the project's loopback test servers (Dovecot + the aiosmtpd submission server from
``tests/servers``), then times whole processes, imports included, against the same servers:

- ``bare``: ``benchmarks/bare_roundtrip.py``, smtplib send + imapclient ``SEARCH HEADER`` every
  10 ms, delete, logout: the floor for a Python round trip;
- ``watchdog``: ``python -m watchdog --config CONFIG check``, as a user runs it;
- ``peer``: ``check_email_delivery`` from Debian's ``monitoring-plugins-contrib`` at its defaults
  (plain SMTP and IMAP only; fewer runs, it takes about 5 s).

Plain (security "none") for all three; bare and watchdog also with TLS (SMTP STARTTLS, IMAPS,
verified against the test CA). Tools take turns within each round, after one unrecorded
warm-up run each; the mailbox is emptied before every run, outside the timed window.

    .venv/bin/python benchmarks/roundtrip.py [--runs 10] [--peer-runs 3] [--write-docs]
    .venv/bin/python benchmarks/roundtrip.py --setup-peer   # as root: fetch the peer

It asserts nothing: it prints a Markdown table with the goals and whether this run met them,
and ``--write-docs`` puts the same into ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.docs_block import write_block  # noqa: E402
from tests.servers import (  # noqa: E402
    SEED_PASSWORD,
    SENDER_PASSWORD,
    MailServers,
    find_dovecot,
    start_mail_servers,
    write_config,
)

BENCH = ROOT / "benchmarks"
BARE = BENCH / "bare_roundtrip.py"
PEER_DIR = BENCH / ".peer"
PEER_PLUGINS = PEER_DIR / "usr" / "lib" / "nagios" / "plugins"
PEER = PEER_PLUGINS / "check_email_delivery"
PEER_APT = ("libmail-imapclient-perl", "libemail-simple-perl")
BEGIN = "<!-- roundtrip:begin (written by benchmarks/roundtrip.py --write-docs) -->"
END = "<!-- roundtrip:end -->"

#: The product owner's goals: watchdog/bare at most this, peer/watchdog at least this.
MAX_VS_BARE = 2.0
MIN_VS_PEER = 15.0

#: (smtp security, imap security) of the TLS variant: the usual provider setup.
TLS = ("starttls", "ssl")


@dataclass
class Tool:
    """One command to time, and its timings."""

    key: str
    label: str
    variant: str  # "plain" or "tls": which bare run it is compared with ("" for none)
    security: str
    argv: list[str]
    env: dict[str, str]
    runs: int
    template: str  # the command as shown in the docs, with placeholders
    times: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None


# -- peer -------------------------------------------------------------------------------------


def peer_missing_help() -> str:
    """How to get check_email_delivery, for when it is not there."""
    return (
        f"check_email_delivery not found at {PEER.relative_to(ROOT)}.\n"
        "Get it (as root; Debian's package, unpacked into the gitignored benchmarks/.peer/):\n"
        "    .venv/bin/python benchmarks/roundtrip.py --setup-peer\n"
        "which runs:\n"
        f"    apt-get install -y {' '.join(PEER_APT)}\n"
        "    cd benchmarks/.peer && apt-get download monitoring-plugins-contrib \\\n"
        "        && dpkg -x monitoring-plugins-contrib_*.deb .\n"
        "Or skip it with --no-peer."
    )


def setup_peer() -> int:
    """Install the peer's Perl modules and unpack monitoring-plugins-contrib into .peer/."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *PEER_APT]
    print("+", shlex.join(install), flush=True)
    if subprocess.run(install, env=env, check=False).returncode != 0:
        print("+ apt-get update", flush=True)
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(install, env=env, check=True)
    PEER_DIR.mkdir(parents=True, exist_ok=True)
    # apt-get download warns (harmlessly) when its _apt user cannot write the folder; a
    # world-writable temp folder avoids that, the .deb is moved into .peer afterwards.
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o777)
        download = ["apt-get", "download", "monitoring-plugins-contrib"]
        print("+", shlex.join(download), flush=True)
        subprocess.run(download, cwd=tmp, env=env, check=True)
        for deb in Path(tmp).glob("monitoring-plugins-contrib_*.deb"):
            for old in PEER_DIR.glob("monitoring-plugins-contrib_*.deb"):
                old.unlink()
            target = PEER_DIR / deb.name
            shutil.move(deb, target)
            print("+", shlex.join(["dpkg", "-x", target.name, "."]), f"(in {PEER_DIR})")
            subprocess.run(["dpkg", "-x", target.name, "."], cwd=PEER_DIR, check=True)
    print(f"check_email_delivery is at {PEER}" if PEER.exists() else "setup failed")
    return 0 if PEER.exists() else 1


def peer_version() -> str:
    """``check_email_delivery 0.7.1 (monitoring-plugins-contrib 42...)``, as far as known."""
    script = re.search(r"\$VERSION\s*=\s*'([^']+)'", PEER.read_text(errors="replace"))
    debs = sorted(PEER_DIR.glob("monitoring-plugins-contrib_*.deb"))
    text = f"check_email_delivery {script.group(1) if script else '?'}"
    if debs:
        text += f" (monitoring-plugins-contrib {debs[-1].name.split('_')[1]})"
    return text


# -- machine ----------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def command_version(argv: Sequence[str]) -> str:
    """First line of a ``--version``-style command, or ``?``."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "?"
    out = (done.stdout or done.stderr).strip().splitlines()
    return out[0] if out else "?"


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    perl = command_version(["perl", "-e", "printf qq{%vd}, $^V"])
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu_model(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "kernel": f"{platform.system()} {platform.release()}",
        "dovecot": command_version([find_dovecot() or "dovecot", "--version"]),
        "perl": perl,
    }


# -- the tools --------------------------------------------------------------------------------


def product_env(folder: Path) -> dict[str, str]:
    """The product's environment: own XDG folders, null keyring, passwords (see tests/e2e)."""
    env = {k: v for k, v in os.environ.items() if k != "WATCHDOG_CONFIG"}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        path = folder / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    env["WATCHDOG_SENDER_PASSWORD"] = SENDER_PASSWORD
    env["WATCHDOG_SEED_PASSWORD"] = SEED_PASSWORD
    return env


def bare_argv(servers: MailServers, smtp_security: str, imap_security: str) -> list[str]:
    """The bare script's command line for the given securities."""
    argv = [
        sys.executable,
        str(BARE),
        "--smtp-host",
        servers.smtp_host,
        "--smtp-port",
        str(servers.smtp_port_for(smtp_security)),
        "--smtp-security",
        smtp_security,
        "--smtp-user",
        servers.sender_user,
        "--smtp-password",
        servers.sender_password,
        "--imap-host",
        servers.imap_host,
        "--imap-port",
        str(servers.imap_port_for(imap_security)),
        "--imap-security",
        imap_security,
        "--imap-user",
        servers.seed_user,
        "--imap-password",
        servers.seed_password,
        "--mail-from",
        servers.sender_address,
        "--rcpt",
        servers.seed_address,
    ]
    if (smtp_security, imap_security) != ("none", "none"):
        argv += ["--ca-file", str(servers.ca_file)]
    return argv


def peer_argv(servers: MailServers) -> list[str]:
    """check_email_delivery at its defaults; plain SMTP and IMAP.

    The SMTP credentials are the sender's, like the other two tools use; without Perl's
    Authen::SASL (not installed by --setup-peer) check_smtp_send skips AUTH silently, which the
    plain listener allows. Either way the peer does no more work than the product.
    """
    return [
        "perl",
        str(PEER),
        "--libexec",
        str(PEER_PLUGINS),
        "-H",
        servers.smtp_host,
        "--smtp-port",
        str(servers.smtp_plain_port),
        "--imap-port",
        str(servers.imap_port),
        "--username",
        servers.seed_user,
        "--password",
        servers.seed_password,
        "--smtp-username",
        servers.sender_user,
        "--smtp-password",
        servers.sender_password,
        "--mailto",
        servers.seed_address,
        "--mailfrom",
        servers.sender_address,
    ]


BARE_TEMPLATE = (
    "python benchmarks/bare_roundtrip.py --smtp-port P --smtp-security {smtp} --smtp-user sender "
    "--smtp-password PW --imap-port P --imap-security {imap} --imap-user seed --imap-password PW "
    "--mail-from sender@example.test --rcpt seed@example.test{ca}"
)
WATCHDOG_TEMPLATE = "python -m watchdog --config CONFIG check"
PEER_TEMPLATE = (
    "perl check_email_delivery --libexec DIR -H 127.0.0.1 --smtp-port P --imap-port P "
    "--username seed --password PW --smtp-username sender --smtp-password PW "
    "--mailto seed@example.test --mailfrom sender@example.test"
)


def python_env(base: dict[str, str], pycache: Path | None) -> dict[str, str]:
    """``base`` with bytecode caching as on a user's PC, or without any (``pycache`` None).

    A pip or pipx install has ``.pyc`` files for the product. This shell may set
    ``PYTHONDONTWRITEBYTECODE=1``, which would make every run compile the product's modules
    from source (its dependencies keep the ``.pyc`` files pip wrote). So the Python tools write
    and read their bytecode under ``pycache`` (``PYTHONPYCACHEPREFIX``, in the benchmark's temp
    folder: nothing is written into the repository); the warm-up run fills it.
    """
    env = dict(base)
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def make_tools(
    servers: MailServers, work: Path, args: argparse.Namespace
) -> tuple[list[Tool], dict[str, Path]]:
    """Every tool to time, and the watchdog config per variant (for the import profile)."""
    base = {k: v for k, v in os.environ.items() if k != "WATCHDOG_CONFIG"}
    pycache = work / "pycache"
    py_env = python_env(base, pycache)
    tools = [
        Tool(
            "python",
            "`python -c pass` (interpreter start)",
            "",
            "-",
            [sys.executable, "-c", "pass"],
            py_env,
            args.runs,
            "python -c pass",
        )
    ]
    configs: dict[str, Path] = {}
    variants = [("plain", "none", "none")]
    if not args.no_tls:
        variants.append(("tls", *TLS))
    for name, smtp, imap in variants:
        folder = work / name
        folder.mkdir()
        security = "none" if name == "plain" else f"SMTP {smtp}, IMAP {imap}"
        # every/deadline as write_config's defaults: a check waits at most 6 s.
        config = write_config(folder, servers, smtp_security=smtp, imap_security=imap)
        configs[name] = config
        ca = "" if name == "plain" else " --ca-file CA"
        check = [sys.executable, "-m", "watchdog", "--config", str(config), "check"]
        tools.append(
            Tool(
                f"bare-{name}",
                "bare script",
                name,
                security,
                bare_argv(servers, smtp, imap),
                py_env,
                args.runs,
                BARE_TEMPLATE.format(smtp=smtp, imap=imap, ca=ca),
            )
        )
        tools.append(
            Tool(
                f"watchdog-{name}",
                "`watchdog check`",
                name,
                security,
                check,
                python_env(product_env(folder), pycache),
                args.runs,
                WATCHDOG_TEMPLATE,
            )
        )
        if name == "plain" and not args.no_nopyc:
            nopyc = work / "plain-nopyc"
            nopyc.mkdir()
            tools.append(
                Tool(
                    "watchdog-plain-nopyc",
                    "`watchdog check`, no .pyc (`PYTHONDONTWRITEBYTECODE=1`)",
                    name,
                    security,
                    check,
                    python_env(product_env(nopyc), None),
                    args.runs,
                    f"PYTHONDONTWRITEBYTECODE=1 {WATCHDOG_TEMPLATE}",
                )
            )
        if name == "plain" and not args.no_peer:
            tools.append(
                Tool(
                    "peer",
                    "check_email_delivery (defaults)",
                    name,
                    security,
                    peer_argv(servers),
                    base,
                    min(args.peer_runs, args.runs),
                    PEER_TEMPLATE,
                )
            )
    return tools, configs


def run_once(tool: Tool, servers: MailServers, *, record: bool) -> None:
    """Empty the mailbox, then time one whole process of ``tool``."""
    servers.reset()  # also removes the message check_email_delivery leaves behind on purpose
    started = time.perf_counter()
    done = subprocess.run(
        tool.argv, env=tool.env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    elapsed = time.perf_counter() - started
    ok = done.returncode == 0
    if ok and tool.key == "peer":
        ok = "EMAIL DELIVERY OK" in done.stdout
    if not ok:
        text = (done.stdout + done.stderr).strip()[-800:]
        tool.failures.append(f"exit {done.returncode}: {text}")
        print(f"  {tool.key}: FAILED (exit {done.returncode}) {text}", flush=True)
    elif record:
        tool.times.append(elapsed)


def run_all(tools: list[Tool], servers: MailServers) -> None:
    """One unrecorded warm-up each, then rounds in which the tools take turns."""
    print("warm-up ...", flush=True)
    for tool in tools:
        run_once(tool, servers, record=False)
    rounds = max(tool.runs for tool in tools)
    for i in range(rounds):
        line = []
        for tool in tools:
            if i < tool.runs:
                before = len(tool.times)
                run_once(tool, servers, record=True)
                if len(tool.times) > before:
                    line.append(f"{tool.key} {tool.times[-1]:.3f}")
        print(f"round {i + 1}/{rounds}: " + ", ".join(line), flush=True)


# -- import profile ---------------------------------------------------------------------------


#: One ``-X importtime`` line: (cumulative µs, self µs, nesting depth, module name).
ImportRow = tuple[int, int, int, str]


def import_profile(config: Path, env: dict[str, str], servers: MailServers) -> list[ImportRow]:
    """``-X importtime`` of one ``watchdog check`` (bytecode cache as for the timed runs)."""
    servers.reset()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "watchdog", "--config", str(config), "check"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    rows: list[ImportRow] = []
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), int(m.group(1)), len(m.group(3)) // 2, m.group(4)))
    return rows


def describe_imports(rows: list[ImportRow], top: int = 10) -> list[str]:
    """Markdown lines: total import time, the product's share, the biggest imports."""
    if not rows:
        return ["(no import profile: `-X importtime` printed nothing)"]
    total = sum(cum for cum, _self, depth, _name in rows if depth == 0)
    own = sum(self for _cum, self, _depth, name in rows if name.split(".")[0] == "watchdog")
    ms = "{:.1f} ms".format
    lines = [
        f"Imports in one `watchdog check` (`python -X importtime`, which inflates them): "
        f"{ms(total / 1000)} in all, of which {ms(own / 1000)} in the product's own modules "
        "(self time, `watchdog.*`).",
        "",
        "Largest top-level imports (cumulative: with everything they pull in first):",
        "",
    ]
    tops = sorted((r for r in rows if r[2] == 0), reverse=True)[:top]
    lines += [f"- `{name}` {ms(cum / 1000)}" for cum, _self, _depth, name in tops]
    lines += ["", "Largest single modules (self time):", ""]
    selfs = sorted(rows, key=lambda r: r[1], reverse=True)[:top]
    lines += [f"- `{name}` {ms(self / 1000)}" for _cum, self, _depth, name in selfs]
    return lines


# -- report -----------------------------------------------------------------------------------


def fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.3f}"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def report(tools: list[Tool], info: dict[str, str], command: str, imports: list[str]) -> str:
    """The Markdown block for the console and the docs."""
    by = {t.key: t for t in tools}
    lines = [
        "| Tool | Security | Runs | Median s | Min s | Max s | Median vs bare (same security) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for t in tools:
        bare = by.get(f"bare-{t.variant}")
        vs = ratio(t.median(), bare.median() if bare else None)
        runs = f"{len(t.times)}" + (f" ({len(t.failures)} failed)" if t.failures else "")
        lines.append(
            f"| {t.label} | {t.security} | {runs} | {fmt(t.median())} | "
            f"{fmt(min(t.times) if t.times else None)} | {fmt(max(t.times) if t.times else None)} "
            f"| {'-' if vs is None else f'{vs:.2f}x'} |"
        )
    lines.append("")
    for variant in ("plain", "tls"):
        w, b = by.get(f"watchdog-{variant}"), by.get(f"bare-{variant}")
        if w and b:
            r = ratio(w.median(), b.median())
            verdict = "-" if r is None else ("met" if r <= MAX_VS_BARE else "NOT met")
            r_text = "-" if r is None else f"{r:.2f}x"
            lines.append(
                f"- Goal `watchdog check` within {MAX_VS_BARE:g}x of the bare script "
                f"({variant}): {r_text} of bare, {verdict}."
            )
    if "peer" in by:
        r = ratio(by["peer"].median(), by["watchdog-plain"].median())
        verdict = "-" if r is None else ("met" if r >= MIN_VS_PEER else "NOT met")
        r_text = "-" if r is None else f"{r:.1f}x"
        lines.append(
            f"- Goal at least {MIN_VS_PEER:g}x faster than check_email_delivery (plain): "
            f"{r_text} faster, {verdict}."
        )
    lines += [
        "",
        f"Measured {info['date']} on {info['nproc']} CPUs ({info['cpu']}), {info['python']}, "
        f"{info['kernel']}, Dovecot {info['dovecot']}, perl {info['perl']}"
        + (f", {info['peer']}" if "peer" in info else "")
        + ".",
        "",
        "Command (from the repository root):",
        "",
        "```sh",
        command,
        "```",
        "",
        "Each run is one whole process, timed from spawn to exit by the benchmark, with the seed",
        "mailbox emptied before it; P, PW, CONFIG, CA and DIR are filled in by the benchmark.",
        "The Python runs keep their bytecode cache in a temp folder (`PYTHONPYCACHEPREFIX`),",
        "filled by the warm-up run, as a pip or pipx install has its `.pyc` files:",
        "",
        "```sh",
    ]
    seen: list[str] = []
    for t in tools:
        if t.template not in seen:
            seen.append(t.template)
    lines += seen
    lines += ["```", ""]
    lines += imports
    return "\n".join(lines)


DOCS_HEAD = """# Performance

## Round trip (issue 2)

"""


def write_docs(block: str) -> None:
    """Put the block into docs/performance.md, creating the page if needed."""
    write_block(BEGIN, END, block, new_file=DOCS_HEAD)


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10, help="timed runs per tool (default 10)")
    p.add_argument("--peer-runs", type=int, default=3, help="timed peer runs (default 3)")
    p.add_argument("--no-peer", action="store_true", help="skip check_email_delivery")
    p.add_argument("--no-tls", action="store_true", help="skip the TLS variant")
    p.add_argument("--no-nopyc", action="store_true", help="skip the run without bytecode cache")
    p.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    p.add_argument("--setup-peer", action="store_true", help="install the peer (root, apt-get)")
    args = p.parse_args(argv)
    if args.runs < 1 or args.peer_runs < 1:
        p.error("--runs and --peer-runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.setup_peer:
        return setup_peer()
    if find_dovecot() is None:
        print("dovecot is not installed: apt-get install dovecot-imapd dovecot-lmtpd")
        return 3
    if not args.no_peer and not PEER.exists():
        print(peer_missing_help())
        return 3
    # aiosmtpd warns about AUTH without TLS on the implicit-TLS listener; it is TLS (see
    # tests/conftest.py). Keep the console to the figures.
    warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
    logging.getLogger("mail.log").setLevel(logging.ERROR)

    command = shlex.join([".venv/bin/python", "benchmarks/roundtrip.py", *(argv or sys.argv[1:])])
    info = machine()
    info["date"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if not args.no_peer:
        info["peer"] = peer_version()

    work = Path(tempfile.mkdtemp(prefix="watchdog-bench-"))
    servers = start_mail_servers()
    try:
        tools, configs = make_tools(servers, work, args)
        run_all(tools, servers)
        plain_env = next(t.env for t in tools if t.key == "watchdog-plain")
        rows = import_profile(configs["plain"], plain_env, servers)
    finally:
        servers.stop()
        shutil.rmtree(work, ignore_errors=True)

    block = report(tools, info, command, describe_imports(rows))
    if args.write_docs:  # first: a closed stdout (``| head``) must not lose the figures
        write_docs(block)
    print()
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
