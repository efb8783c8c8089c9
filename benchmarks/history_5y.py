"""Five years of history: how fast `watchdog report` and `watchdog history` stay (issue 6).

Builds a history database in the product's own schema (made by ``watchdog.storage.history.History``)
with a canary every 15 minutes for five years, about 175,000 checks, with realistic trouble:

- a silent drop every few weeks, lasting 2 to 30 hours (a provider blocking the account);
- a day or two of ``sending_limit`` refusals every couple of months (after a reminder batch);
- junk placement on about 1 check in 300, late arrivals on about 1 in 500;
- the office PC offline now and then (no evidence either way);
- arrival times drawn like real ones (most a few seconds, a long tail).

The status changes are replayed through the product's own rules (``watchdog.core.state.evaluate``)
and each change gets desktop and webhook alert attempts, so incidents look as they would.

Then it times, as whole processes like a user runs them, ``watchdog report --output FILE`` over
the whole history and ``watchdog history`` (the newest 20). Goals: report under 2 s, history
under 0.3 s.

    .venv/bin/python benchmarks/history_5y.py [--runs 5] [--years 5] [--write-docs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.docs_block import write_block  # noqa: E402
from benchmarks.roundtrip import machine  # noqa: E402
from watchdog.core.models import (  # noqa: E402
    CheckResult,
    Diagnosis,
    Outcome,
    Policy,
    StatusSnapshot,
)
from watchdog.core.state import INITIAL, evaluate  # noqa: E402
from watchdog.storage.history import History  # noqa: E402

BEGIN = "<!-- history5y:begin (written by benchmarks/history_5y.py --write-docs) -->"
END = "<!-- history5y:end -->"
INTERVAL_S = 15 * 60
DEADLINE_S = 10 * 60
GOAL_REPORT_S = 2.0
GOAL_HISTORY_S = 0.3

CONFIG = """\
office = "Benchmark Dental"
data_dir = "{data}"

[sender]
address = "frontdesk@example.test"
smtp_host = "127.0.0.1"
smtp_port = 2525
security = "none"
username = ""

[seed]
address = "seed@example.test"
imap_host = "127.0.0.1"
imap_port = 1143
security = "none"
username = "seed"

[schedule]
every_minutes = 15
deadline_minutes = 10
"""


def plan_outcomes(start: float, count: int, rng: random.Random) -> list[tuple[Outcome, float]]:
    """(outcome, latency) per check, with incidents laid over a healthy background."""
    plan: list[tuple[Outcome, float]] = []
    for _ in range(count):
        u = rng.random()
        if u < 1 / 300:
            plan.append((Outcome.JUNK, rng.lognormvariate(1.0, 0.7)))
        elif u < 1 / 300 + 1 / 500:
            plan.append((Outcome.LATE, DEADLINE_S + rng.uniform(60, 3600)))
        else:
            plan.append((Outcome.DELIVERED, min(rng.lognormvariate(0.7, 0.8), 0.8 * DEADLINE_S)))
    per_day = 86400 // INTERVAL_S
    i = rng.randrange(per_day * 7)
    while i < count:  # silent drops: every 2 to 6 weeks, 2 to 30 hours
        length = rng.randrange(8, 120)
        for j in range(i, min(i + length, count)):
            plan[j] = (Outcome.LOST, 0.0)
        i += length + rng.randrange(per_day * 14, per_day * 42)
    i = rng.randrange(per_day * 30)
    while i < count:  # sending limit: every 6 to 10 weeks, a working day or two
        length = rng.randrange(per_day // 3, per_day * 2)
        for j in range(i, min(i + length, count)):
            plan[j] = (Outcome.SEND_FAILED, 0.0)
        i += length + rng.randrange(per_day * 42, per_day * 70)
    i = rng.randrange(per_day * 10)
    while i < count:  # the PC offline: every 1 to 3 weeks, up to half a day
        length = rng.randrange(1, per_day // 2)
        for j in range(i, min(i + length, count)):
            plan[j] = (Outcome.OFFLINE, 0.0)
        i += length + rng.randrange(per_day * 7, per_day * 21)
    return plan


_DIAGNOSIS = {
    Outcome.DELIVERED: Diagnosis.OK,
    Outcome.JUNK: Diagnosis.JUNK_PLACEMENT,
    Outcome.LATE: Diagnosis.DELAYED,
    Outcome.LOST: Diagnosis.SILENT_DROP,
    Outcome.SEND_FAILED: Diagnosis.SENDING_LIMIT,
    Outcome.OFFLINE: Diagnosis.OFFLINE,
}
_REPLY = (
    550,
    "5.4.5 Daily user sending limit exceeded. For more information on Gmail sending "
    "limits, go to https://support.google.com/a/answer/166852",
    "5.4.5",
)


def build(path: Path, years: float, seed: int) -> dict[str, int]:
    """The database at ``path``; counts of what it holds."""
    History(path).close()  # the product makes the schema, at its current version
    rng = random.Random(seed)
    count = int(years * 365 * 86400 / INTERVAL_S)
    start = time.time() - count * INTERVAL_S
    plan = plan_outcomes(start, count, rng)
    canaries = []
    flips = []
    alerts = []
    snapshot: StatusSnapshot = INITIAL
    policy = Policy()
    for n, (outcome, latency) in enumerate(plan):
        sent = start + n * INTERVAL_S
        arrived = outcome in (Outcome.DELIVERED, Outcome.JUNK, Outcome.LATE)
        token = f"v1.{int(sent)}.{n:012x}.bench"
        reply = _REPLY if outcome is Outcome.SEND_FAILED else (250, "2.0.0 OK queued", "2.0.0")
        detail = {
            Outcome.LOST: "The canary did not arrive by its deadline.",
            Outcome.OFFLINE: "This PC has no network: neither server could be reached.",
        }.get(outcome, "")
        canaries.append(
            (
                token,
                f"<{token}@example.test>",
                sent,
                sent + DEADLINE_S,
                outcome.value,
                _DIAGNOSIS[outcome].value,
                sent + latency if arrived else None,
                latency if arrived else None,
                ("Junk" if outcome is Outcome.JUNK else "INBOX") if arrived else None,
                reply[0],
                reply[2],
                reply[1],
                detail,
                sent + DEADLINE_S,
            )
        )
        result = CheckResult(
            token=token,
            sent_at=sent,
            deadline_at=sent + DEADLINE_S,
            outcome=outcome,
            diagnosis=_DIAGNOSIS[outcome],
            latency_s=latency if arrived else None,
        )
        at = sent + (latency if arrived else DEADLINE_S)
        snapshot, flip = evaluate(snapshot, result, policy, at)
        if flip is not None:
            flips.append(
                (
                    flip.at,
                    flip.from_status.value,
                    flip.to_status.value,
                    flip.reason,
                    flip.diagnosis.value if flip.diagnosis else None,
                )
            )
            kind = {"DOWN": "down", "DEGRADED": "degraded", "UP": "recovered"}.get(
                flip.to_status.value, "unknown"
            )
            for channel in ("desktop", "webhook:support"):
                alerts.append(
                    (
                        flip.at + 0.2,
                        kind,
                        channel,
                        1,
                        0,
                        1,
                        "",
                        flip.to_status.value,
                        flip.diagnosis.value if flip.diagnosis else None,
                    )
                )
    db = sqlite3.connect(path)
    with db:
        db.executemany(f"INSERT INTO canaries VALUES ({', '.join('?' * 14)})", canaries)
        db.executemany(
            "INSERT INTO status_changes (at, from_status, to_status, reason, diagnosis) "
            "VALUES (?, ?, ?, ?, ?)",
            flips,
        )
        db.executemany(
            "INSERT INTO alert_attempts (at, kind, channel, ok, permanent, attempts, detail, "
            "status, diagnosis) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            alerts,
        )
        db.execute(
            "INSERT OR REPLACE INTO current_status VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
            (
                snapshot.status.value,
                snapshot.since,
                snapshot.reason,
                snapshot.diagnosis.value if snapshot.diagnosis else None,
                snapshot.consecutive_lost,
                snapshot.consecutive_refused,
                snapshot.streak_since,
            ),
        )
    db.execute("VACUUM")
    db.close()
    return {"canaries": len(canaries), "status changes": len(flips), "alert rows": len(alerts)}


def timed(cmd: Sequence[str], env: dict[str, str], runs: int) -> list[float]:
    """Wall time of ``runs`` whole-process runs, after one warm-up run."""
    times = []
    for i in range(runs + 1):
        began = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        took = time.perf_counter() - began
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
        if i:
            times.append(took)
    return times


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--years", type=float, default=5.0)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="watchdog-5y-") as tmp:
        folder = Path(tmp)
        data = folder / "data"
        data.mkdir()
        config = folder / "config.toml"
        config.write_text(CONFIG.format(data=data), encoding="utf-8")
        began = time.perf_counter()
        counts = build(data / "history.sqlite3", args.years, args.seed)
        built_s = time.perf_counter() - began
        size_mb = (data / "history.sqlite3").stat().st_size / 1e6
        env = {**os.environ, "WATCHDOG_CONFIG": str(config)}
        python = [sys.executable, "-m", "watchdog", "--config", str(config)]
        report_file = folder / "report.html"
        report = timed([*python, "report", "--output", str(report_file)], env, args.runs)
        history = timed([*python, "history"], env, args.runs)
        report_kb = report_file.stat().st_size / 1e3
        incidents = report_file.read_text(encoding="utf-8").count("<tr><td class='bad'>")
    block = render(args, counts, size_mb, built_s, report, history, report_kb, incidents)
    print(block)
    if args.write_docs:
        write_docs(block)
    return 0


def render(
    args: argparse.Namespace,
    counts: dict[str, int],
    size_mb: float,
    built_s: float,
    report: list[float],
    history: list[float],
    report_kb: float,
    incidents_listed: int,
) -> str:
    mach = machine()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")

    def row(name: str, times: list[float], goal: float) -> str:
        median = statistics.median(times)
        verdict = "met" if median < goal else "**NOT met**"
        return (
            f"| {name} | {len(times)} | {median:.3f} | {min(times):.3f} | {max(times):.3f} | "
            f"under {goal:g} s: {verdict} |"
        )

    held = ", ".join(f"{v:,} {k}" for k, v in counts.items())
    return "\n".join(
        [
            f"{args.years:g} years of a canary every 15 minutes: {held}; the database is "
            f"{size_mb:.1f} MB (built in {built_s:.1f} s, seed {args.seed}).",
            "",
            "| Command (whole process) | Runs | Median s | Min s | Max s | Goal |",
            "|---|---:|---:|---:|---:|---|",
            row("`watchdog report --output FILE` (all of the history)", report, GOAL_REPORT_S),
            row("`watchdog history` (newest 20)", history, GOAL_HISTORY_S),
            "",
            f"The report file is {report_kb:.0f} kB ({incidents_listed} DOWN incidents in its "
            "timeline table, which lists the newest 100 of all kinds).",
            "",
            f"Measured {when} on {mach['nproc']} CPUs ({mach['cpu']}), {mach['python']}, "
            f"{mach['kernel']}.",
        ]
    )


def write_docs(block: str) -> None:
    """Put the block into docs/performance.md (see benchmarks/docs_block.py)."""
    write_block(BEGIN, END, block, heading="## Five years of history (issue 6)")


if __name__ == "__main__":
    raise SystemExit(main())
