"""What ``watchdog run`` costs an office PC while it waits between checks (issue 8).

Starts the project's loopback test servers (Dovecot + the aiosmtpd submission server from
``tests/servers``) and ``python -m watchdog --config CONFIG run`` against them as a real process,
with ``every_minutes = --minutes`` (10 by default, as in the issue). It reads the process's own
accounting from ``/proc`` (never by waking it up):

- CPU seconds: ``utime + stime`` (and ``cutime + cstime`` of children) from ``/proc/PID/stat``,
  in clock ticks (10 ms); and, finer, the nanoseconds on the CPU of every thread from
  ``/proc/PID/task/*/schedstat``;
- peak RSS: ``VmHWM`` from ``/proc/PID/status``;
- wakeups: ``voluntary_ctxt_switches + nonvoluntary_ctxt_switches`` of every thread
  (``/proc/PID/task/*/status``): each time a thread went to sleep and was woken again, or was
  put off the CPU. A busy or polling loop shows up here as hundreds or thousands per minute.

Three windows, each between two samples:

- start-up: from spawn until the first check is done (imports, config, history, first canary);
- idle: from just after the first check to 5 s before the second is due (the loop only waits);
- one period: from just after the first check to just after the second (idle plus one check),
  scaled to one hour: what an hour of ``run`` costs at this interval.

    .venv/bin/python benchmarks/footprint.py                  # the real measurement, ~11 min
    .venv/bin/python benchmarks/footprint.py --minutes 0.5    # a quick try
    .venv/bin/python benchmarks/footprint.py --write-docs     # and update docs/performance.md

It asserts nothing: it prints a Markdown table with the goals and whether this run met them.
Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.docs_block import write_block  # noqa: E402
from benchmarks.roundtrip import machine, product_env  # noqa: E402
from tests.servers import start_mail_servers, write_config  # noqa: E402

BEGIN = "<!-- footprint:begin (written by benchmarks/footprint.py --write-docs) -->"
END = "<!-- footprint:end -->"

#: The product owner's goals.
MAX_CPU_S_PER_HOUR = 1.0
MAX_PEAK_RSS_MIB = 60.0
#: "No busy loop": a loop that polls every second would wake 60 times a minute or more.
MAX_WAKEUPS_PER_MIN = 10.0

#: The idle window ends this long before the second check is due, so it holds no check.
IDLE_MARGIN_S = 5.0

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    """The process's accounting at one moment."""

    at: float  # monotonic
    cpu_ticks_s: float  # utime + stime + cutime + cstime, seconds (10 ms resolution)
    cpu_sched_s: float  # sum of the threads' schedstat run time, seconds (ns resolution)
    switches: int  # voluntary + nonvoluntary context switches, all live threads
    per_thread: dict[str, int]  # "tid name" -> switches
    hwm_kib: int
    rss_kib: int
    threads: int


def read_sample(pid: int) -> Sample:
    """Read ``/proc`` for ``pid``; reading never disturbs the process."""
    at = time.monotonic()
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces and brackets: the fields start after the last ")".
    fields = stat.rpartition(")")[2].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    status = _status(Path(f"/proc/{pid}/status"))
    sched_ns = 0
    switches = 0
    per_thread: dict[str, int] = {}
    for task in sorted(Path(f"/proc/{pid}/task").iterdir()):
        try:
            tstatus = _status(task / "status")
            run_ns = int((task / "schedstat").read_text().split()[0])
            name = (task / "comm").read_text().strip()
        except (OSError, ValueError):
            continue  # the thread ended while being read
        n = int(tstatus["voluntary_ctxt_switches"]) + int(tstatus["nonvoluntary_ctxt_switches"])
        switches += n
        sched_ns += run_ns
        per_thread[f"{task.name} {name}"] = n
    return Sample(
        at=at,
        cpu_ticks_s=(utime + stime + cutime + cstime) * TICK_S,
        cpu_sched_s=sched_ns / 1e9,
        switches=switches,
        per_thread=per_thread,
        hwm_kib=int(status["VmHWM"].split()[0]),
        rss_kib=int(status["VmRSS"].split()[0]),
        threads=int(status["Threads"]),
    )


def _status(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


@dataclass(frozen=True)
class Window:
    """The difference between two samples."""

    name: str
    start: Sample
    end: Sample

    @property
    def seconds(self) -> float:
        return self.end.at - self.start.at

    @property
    def cpu_s(self) -> float:
        return self.end.cpu_sched_s - self.start.cpu_sched_s

    @property
    def cpu_ticks_s(self) -> float:
        return self.end.cpu_ticks_s - self.start.cpu_ticks_s

    @property
    def switches(self) -> int:
        return self.end.switches - self.start.switches

    @property
    def per_minute(self) -> float:
        return self.switches / (self.seconds / 60.0)

    @property
    def cpu_per_hour(self) -> float:
        return self.cpu_s * 3600.0 / self.seconds

    def thread_switches(self) -> dict[str, int]:
        """Switches per thread that lived through the whole window."""
        return {
            k: v - self.start.per_thread[k]
            for k, v in self.end.per_thread.items()
            if k in self.start.per_thread
        }


@dataclass(frozen=True)
class Result:
    minutes: float
    startup: Window
    idle: Window
    period: Window
    lines: list[str]
    exit_code: int | None
    machine: dict[str, str]
    when: str


class Lines:
    """The child's stdout, line by line, read by a thread so the child never blocks on it."""

    def __init__(self, stream: object) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.all: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.queue.put(line.rstrip("\n"))

    def wait_for_result(self, timeout: float) -> str:
        """The next line that reports a check result (it starts with a clock time)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no check result within {timeout:.0f} s: {self.all[-5:]}")
            try:
                line = self.queue.get(timeout=remaining)
            except queue.Empty:
                continue
            self.all.append(line)
            if line[:2].isdigit() and line[2:3] == ":":
                return line


def measure(minutes: float, *, verbose: bool = True) -> Result:
    """Run ``watchdog run`` through one full period and read its accounting."""
    interval = minutes * 60.0
    servers = start_mail_servers()
    try:
        with tempfile.TemporaryDirectory(prefix="watchdog-footprint-") as tmp:
            work = Path(tmp)
            env = product_env(work)
            env["PYTHONUNBUFFERED"] = "1"
            config = write_config(
                work,
                servers,
                every_minutes=minutes,
                deadline_minutes=min(1.0, minutes / 2),
                data_dir=work / "data",
                alerts={"desktop": False},  # no display here; a channel that fails costs nothing
            )
            argv = [sys.executable, "-m", "watchdog", "--config", str(config), "run"]
            proc = subprocess.Popen(
                argv,
                cwd=work,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            try:
                spawn = read_sample(proc.pid)
                lines = Lines(proc.stdout)
                first = lines.wait_for_result(120)
                after_first = read_sample(proc.pid)
                if verbose:
                    print(f"first check: {first}", flush=True)
                    print(f"idle for {interval:.0f} s ...", flush=True)
                idle_end_at = after_first.at + interval - IDLE_MARGIN_S
                idle_end = after_first
                while time.monotonic() < idle_end_at:
                    time.sleep(min(1.0, max(0.0, idle_end_at - time.monotonic())))
                    idle_end = read_sample(proc.pid)
                second = lines.wait_for_result(interval + 120)
                after_second = read_sample(proc.pid)
                if verbose:
                    print(f"second check: {second}", flush=True)
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    code: int | None = proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    code = None
    finally:
        servers.stop()
    return Result(
        minutes=minutes,
        startup=Window("start-up and first check", spawn, after_first),
        idle=Window("idle", after_first, idle_end),
        period=Window("one period (idle + one check)", after_first, after_second),
        lines=lines.all,
        exit_code=code,
        machine=machine(),
        when=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def verdict(met: bool) -> str:
    return "met" if met else "**NOT met**"


def report(r: Result) -> str:
    """The Markdown block for docs/performance.md."""
    rows = [
        "| Window | Length s | CPU s (schedstat) | CPU s (ticks) | Wakeups | Wakeups/min |"
        " CPU s per hour |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for w in (r.startup, r.idle, r.period):
        per_hour = f"{w.cpu_per_hour:.3f}" if w is not r.startup else "-"
        per_min = f"{w.per_minute:.1f}" if w is not r.startup else "-"
        rows.append(
            f"| {w.name} | {w.seconds:.1f} | {w.cpu_s:.3f} | {w.cpu_ticks_s:.2f} |"
            f" {w.switches} | {per_min} | {per_hour} |"
        )
    check_cpu = max(0.0, r.period.cpu_s - r.idle.cpu_s * r.period.seconds / r.idle.seconds)
    idle_rate = r.idle.cpu_s / r.idle.seconds  # CPU seconds per second of waiting
    estimates = ", ".join(
        f"every {every} min {idle_rate * 3600 + check_cpu * 60 / every:.3f} s" for every in (10, 30)
    )
    peak_mib = r.period.end.hwm_kib / 1024
    idle_threads = ", ".join(
        f"`{k.split(' ', 1)[1]}` {v}" for k, v in sorted(r.idle.thread_switches().items())
    )
    m = r.machine
    out = [
        f"`watchdog run` with `every_minutes = {r.minutes:g}`, a real process against the "
        "loopback test servers (SMTP STARTTLS, IMAPS).",
        "",
        *rows,
        "",
        f"- Peak RSS (`VmHWM`): {peak_mib:.1f} MiB; RSS at the end "
        f"{r.period.end.rss_kib / 1024:.1f} MiB; threads while idle: {r.idle.end.threads}.",
        f"- Wakeups while idle, by thread: {idle_threads}.",
        f"- One check (period minus idle) takes about {check_cpu:.3f} CPU s; with the idle "
        f"rate measured here, an hour of `run` costs: {estimates}.",
        f"- Goal under {MAX_CPU_S_PER_HOUR:g} CPU-second per hour (a check every "
        f"{r.minutes:g} min, checks included): {r.period.cpu_per_hour:.3f} s, "
        f"{verdict(r.period.cpu_per_hour < MAX_CPU_S_PER_HOUR)}.",
        f"- Goal under {MAX_PEAK_RSS_MIB:g} MiB peak RSS: {peak_mib:.1f} MiB, "
        f"{verdict(peak_mib < MAX_PEAK_RSS_MIB)}.",
        f"- Goal no busy loop (taken as under {MAX_WAKEUPS_PER_MIN:g} wakeups a minute while "
        f"idle): {r.idle.per_minute:.1f}, {verdict(r.idle.per_minute < MAX_WAKEUPS_PER_MIN)}.",
        "",
        f"Measured {r.when} on {m['nproc']} CPUs ({m['cpu']}), {m['python']}, {m['kernel']}, "
        f"Dovecot {m['dovecot']}.",
        "",
        "Command (from the repository root):",
        "",
        "```sh",
        ".venv/bin/python benchmarks/footprint.py"
        + ("" if r.minutes == 10 else f" --minutes {r.minutes:g}")
        + " --write-docs",
        "```",
    ]
    return "\n".join(out)


def write_docs(block: str) -> None:
    """Put the block into docs/performance.md (see benchmarks/docs_block.py)."""
    write_block(BEGIN, END, block, heading="## Footprint (issue 8)")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument(
        "--minutes",
        type=float,
        default=10.0,
        help="every_minutes of the run, the idle span measured (default 10, as in the issue)",
    )
    p.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path("/proc/self/task").is_dir():
        print("footprint.py reads /proc: Linux only", file=sys.stderr)
        return 2
    result = measure(args.minutes)
    block = report(result)
    print()
    print(block)
    if result.exit_code != 0:
        print(f"\nwatchdog run exited with {result.exit_code}; its output:", file=sys.stderr)
        print("\n".join(result.lines), file=sys.stderr)
    if args.write_docs:
        write_docs(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
