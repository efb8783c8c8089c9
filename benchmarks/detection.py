"""Detection without false alarms: healthy delays raise no alert, a silent drop is caught in time.

Issue 8 asks for two things, on an injected clock:

1. 200 healthy cycles, with delivery delays drawn from a realistic distribution (most under
   10 s, a long tail up to 80% of the deadline), raise **zero** alerts;
2. a silent drop (the server accepts canaries with 250 and never delivers them) starting at a
   random time is alerted (the DOWN alert) within **one interval plus one deadline**, every time.

What is real and what is simulated. Real: the product's ``Runner`` (settling, sending, waiting,
deadlines, recording), ``state.evaluate`` (status rules), the ``Notifier`` with
``state.decide_alert`` (alert rules), the canary tokens and messages, and the SQLite ``History``
in a temp folder. Simulated, at the I/O edge only: the clock (``sim_clock``, the tests'
``FakeClock``: wall and monotonic time move only when the simulation moves them), the SMTP probe
(``SimProbe``: answers 250 and hands the canary to the simulated provider), the seed mailbox
(``SimMailbox``: a canary is there from its arrival time on; waiting for it jumps the clock to
its arrival, as IMAP IDLE would wake the real mailbox, or to the deadline) and the alert channel
(records what it is given). The
schedule is the ``Loop``'s: the first check at once, each next one one interval after the start
of the previous one (``Loop`` re-anchors to the start), or at once if a check ran longer.

Delivery delays (seconds; ``D`` is the deadline), seeded:

- 85%: log-normal, median 2 s, sigma 0.7 (about 99% of these under 10 s): the usual case, a
  provider relaying to another within seconds;
- 12%: log-uniform from 10 s to 120 s: queueing, a greylisting retry, a slow spam scan;
- 3%: log-uniform from 120 s to 0.8 D: the long tail (a provider's deferred queue);
- and one cycle of the 200 (the middle one) at exactly 0.8 D, so the edge is always tried.

The drop: every canary the server accepts at or after the drop's start is never delivered;
canaries accepted before it still arrive (the pessimistic reading: the drop is seen only by
canaries sent after it began). The drop starts at a uniformly random time between one and three
intervals after the first check, so its phase against the schedule is uniform. Each trial starts
from the same history of ``--warm-cycles`` healthy canaries (500 by default: the learned
deadline's window; an installation that has run for about ten days), so a learned deadline is
in force as it would be in practice; the healthy run starts from an empty history, where a
learned deadline is the shortest and a false alarm the likeliest.

With the learned deadline (``[schedule] learn_deadline``, on by default) a canary past a
learned deadline shorter than the configured one is confirmed by a second canary sent at once,
and DOWN comes only when that one is lost too; the fixed 10-minute deadline (the old default)
is run beside it for comparison.

    .venv/bin/python benchmarks/detection.py                         # defaults: 30 / 10 min
    .venv/bin/python benchmarks/detection.py --trials 1000 --seed 8 --write-docs

It asserts nothing: it prints a Markdown report with the goals and whether this run met them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import shutil
import statistics
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.docs_block import write_block  # noqa: E402
from benchmarks.roundtrip import machine  # noqa: E402
from tests.support.clock import FakeClock  # noqa: E402
from watchdog.config import Config, ScheduleConfig, SeedConfig, SenderConfig  # noqa: E402
from watchdog.core.models import AlertPolicy, Policy, Security, SmtpReply  # noqa: E402
from watchdog.core.tokens import CANARY_HEADER  # noqa: E402
from watchdog.engine.runner import Runner  # noqa: E402
from watchdog.mail.mailbox import Found  # noqa: E402
from watchdog.notify import Alert, AlertKind, AttemptResult  # noqa: E402
from watchdog.notify.notifier import Notifier  # noqa: E402
from watchdog.storage.history import History  # noqa: E402

BEGIN = "<!-- detection:begin (written by benchmarks/detection.py --write-docs) -->"
END = "<!-- detection:end -->"

#: A Monday, 09:00 UTC: the simulation starts inside office hours (only reminders care).
START = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC).timestamp()
#: The monotonic clock's zero, far from the wall clock's, so mixing them up would show.
MONO_OFFSET = 1_000_000.0
KEY = b"detection-benchmark-key-32-bytes"


# -- the simulated outside world ----------------------------------------------------------------


def sim_clock(start: float = START) -> FakeClock:
    """Wall and monotonic time that move only when the simulation moves them."""
    return FakeClock(start, monotonic_start=start - MONO_OFFSET)


@dataclass
class Provider:
    """The mail path between the SMTP server and the seed mailbox."""

    clock: FakeClock
    rng: random.Random
    deadline_s: float
    drop_from: float = math.inf
    arrivals: dict[str, float] = field(default_factory=dict)  # token -> arrival (wall)
    forced: list[float] = field(default_factory=list)  # delays to use next, before drawing
    delays: list[float] = field(default_factory=list)  # every delay used

    def accept(self, token: str) -> None:
        """The server said 250: deliver after a drawn delay, or never during a drop."""
        sent = self.clock.now()
        if sent >= self.drop_from:
            return
        delay = self.forced.pop(0) if self.forced else draw_delay(self.rng, self.deadline_s)
        self.delays.append(delay)
        self.arrivals[token] = sent + delay


def draw_delay(rng: random.Random, deadline_s: float) -> float:
    """One delivery delay from the mixture in the module docstring."""
    tail_end = 0.8 * deadline_s
    u = rng.random()
    if u < 0.85:
        delay = rng.lognormvariate(math.log(2.0), 0.7)
    elif u < 0.97:
        delay = math.exp(rng.uniform(math.log(10.0), math.log(120.0)))
    else:
        delay = math.exp(rng.uniform(math.log(120.0), math.log(tail_end)))
    return min(max(delay, 0.05), tail_end)


class SimProbe:
    """The SMTP edge: every canary is accepted with 250."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def send(self, message: EmailMessage, *, should_stop: Callable[[], bool]) -> SmtpReply:
        self.provider.accept(str(message[CANARY_HEADER]))
        return SmtpReply(250, "2.0.0 Ok: queued", "2.0.0")


class SimMailbox:
    """The IMAP edge: a canary is in INBOX from its arrival on."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.clock = provider.clock

    def __enter__(self) -> SimMailbox:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def _found(self, token: str, arrived: float) -> Found:
        # INTERNALDATE has whole seconds, as from a real server.
        return Found(token, "INBOX", 1, float(math.floor(arrived)), self.clock.now(), False)

    def search(self, tokens: Sequence[str]) -> dict[str, Found]:
        now = self.clock.now()
        arrivals = self.provider.arrivals
        return {
            t: self._found(t, arrivals[t]) for t in tokens if t in arrivals and arrivals[t] <= now
        }

    def wait_for(
        self, token: str, deadline_monotonic: float, *, should_stop: Callable[[], bool]
    ) -> Found | None:
        """Wake at the arrival (as IDLE does) if it comes before the deadline, else at it."""
        deadline = deadline_monotonic + MONO_OFFSET
        arrived = self.provider.arrivals.get(token)
        if arrived is not None and arrived <= deadline:
            self.clock.advance_to(arrived)
            return self._found(token, arrived)
        self.clock.advance_to(deadline)
        return None

    def delete(self, items: Sequence[Found]) -> None:
        for item in list(items):
            self.provider.arrivals.pop(item.token, None)


class RecordingChannel:
    """The alert edge: keeps every alert it is given."""

    name = "benchmark"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> AttemptResult:
        self.alerts.append(alert)
        return AttemptResult(self.name, True)


# -- one simulated installation -----------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    every_minutes: float
    deadline_minutes: float
    policy: Policy
    learn_deadline: bool = True

    @property
    def interval_s(self) -> float:
        return self.every_minutes * 60.0

    @property
    def deadline_s(self) -> float:
        return self.deadline_minutes * 60.0

    @property
    def bound_s(self) -> float:
        """The goal: one interval plus one deadline."""
        return self.interval_s + self.deadline_s


class Installation:
    """The real runner, history and notifier, wired to the simulated edges."""

    def __init__(
        self, folder: Path, settings: Settings, rng: random.Random, start: float = START
    ) -> None:
        self.settings = settings
        self.clock = sim_clock(start)
        self.provider = Provider(self.clock, rng, settings.deadline_s)
        self.channel = RecordingChannel()
        config = Config(
            path=folder / "config.toml",
            sender=SenderConfig(
                "frontdesk@example.test", "smtp.example.test", 465, Security.SSL, "frontdesk"
            ),
            seed=SeedConfig("seed@example.test", "imap.example.test", 993, Security.SSL, "seed"),
            schedule=ScheduleConfig(
                settings.every_minutes,
                settings.deadline_minutes,
                learn_deadline=settings.learn_deadline,
            ),
            policy=settings.policy,
        )
        self.history = History(folder / "history.sqlite3")
        notifier = Notifier(
            channels=[self.channel],
            history=self.history,
            policy=AlertPolicy(),
            clock=self.clock,
            provider="other",
            provider_display_name="Other",
        )
        mailbox = SimMailbox(self.provider)
        self.runner = Runner(
            config=config,
            history=self.history,
            probe=SimProbe(self.provider),
            open_mailbox=lambda: mailbox,
            key=KEY,
            clock=self.clock,
            has_route=lambda: True,
            listeners=[notifier.on_result],
            before_check=[notifier.before_check],
            after_check=[notifier.after_check],
        )
        self.next_at = self.clock.now()
        self.stop = threading.Event()

    def cycle(self) -> None:
        """One check when the Loop would start it; the next is planned as the Loop plans it."""
        self.clock.advance_to(self.next_at)
        started = self.clock.now()
        report = self.runner.safe_check(self.stop)
        if report is None:
            raise RuntimeError("a check failed in the simulation; see the log")
        self.next_at = max(self.clock.now(), started + self.settings.interval_s)

    def close(self) -> None:
        self.history.close()


# -- the two experiments ------------------------------------------------------------------------


@dataclass(frozen=True)
class Healthy:
    cycles: int
    alerts: Counter[str]
    outcomes: Counter[str]
    delays: list[float]


def healthy_run(folder: Path, settings: Settings, cycles: int, rng: random.Random) -> Healthy:
    """``cycles`` checks with drawn delays; every alert raised is a false alarm."""
    inst = Installation(folder, settings, rng)
    try:
        for i in range(cycles):
            if i == cycles // 2:
                inst.provider.forced.append(0.8 * settings.deadline_s)  # the edge, always tried
            inst.cycle()
        rows = inst.history.recent(cycles + 10)
        return Healthy(
            cycles=cycles,
            alerts=Counter(a.kind.value for a in inst.channel.alerts),
            outcomes=Counter(r.outcome.value for r in rows),
            delays=list(inst.provider.delays),
        )
    finally:
        inst.close()


@dataclass(frozen=True)
class Drops:
    trials: int
    delays: list[float]  # drop start -> DOWN alert, seconds
    missed: int  # no DOWN alert within the cycle cap
    other_alerts: Counter[str]  # alerts before the DOWN one (there should be none)
    deadline_s: float  # the deadline in force when the drops began (learned or configured)


def warm_history(folder: Path, settings: Settings, cycles: int, rng: random.Random) -> float:
    """``cycles`` healthy canaries into ``folder``'s history; returns when the next is due."""
    folder.mkdir(parents=True, exist_ok=True)
    inst = Installation(folder, settings, rng)
    try:
        for _ in range(cycles):
            inst.cycle()
        return inst.next_at
    finally:
        inst.close()


def drop_trials(
    folder: Path,
    settings: Settings,
    trials: int,
    rng: random.Random,
    max_cycles: int = 50,
    warm_cycles: int = 500,
) -> Drops:
    """``trials`` silent drops at random times; the delay from each start to its DOWN alert."""
    delays: list[float] = []
    missed = 0
    other: Counter[str] = Counter()
    start = warm_history(folder / "warm", settings, warm_cycles, rng)
    warm_file = folder / "warm" / "history.sqlite3"
    deadline_s = settings.deadline_s
    for n in range(trials):
        trial = folder / f"trial-{n}"
        trial.mkdir()
        shutil.copyfile(warm_file, trial / "history.sqlite3")
        inst = Installation(trial, settings, rng, start=start)
        deadline_s = inst.runner.deadline_seconds()
        try:
            inst.provider.drop_from = start + rng.uniform(1.0, 3.0) * settings.interval_s
            for _ in range(max_cycles):
                inst.cycle()
                down = [a for a in inst.channel.alerts if a.kind is AlertKind.DOWN]
                if down:
                    delays.append(down[0].at - inst.provider.drop_from)
                    other.update(
                        a.kind.value
                        for a in inst.channel.alerts[: inst.channel.alerts.index(down[0])]
                    )
                    break
            else:
                missed += 1
        finally:
            inst.close()
    return Drops(trials, delays, missed, other, deadline_s)


# -- report -------------------------------------------------------------------------------------


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


def verdict(met: bool) -> str:
    return "met" if met else "**NOT met**"


@dataclass(frozen=True)
class Run:
    """Both experiments for one setting."""

    settings: Settings
    healthy: Healthy
    drops: Drops


def report(runs: Sequence[Run], seed: int, when: str, mach: dict[str, str]) -> str:
    """The Markdown block for docs/performance.md: one row per setting and experiment."""
    first = runs[0].settings
    lines = [
        f"A canary every {first.every_minutes:g} min, deadline {first.deadline_minutes:g} min: "
        f"the bound is one interval plus one deadline, {minutes(first.bound_s)}. Seed {seed}.",
        "",
        "| DOWN after lost in a row | Deadline | Experiment | Runs | Result | Goal |",
        "|---:|---|---|---:|---|---|",
    ]
    notes = []
    for run in runs:
        n = run.settings.policy.down_after_lost
        default = " (default)" if n == Policy().down_after_lost else ""
        kind = (
            "learned, confirmed" + (" (default)" if ScheduleConfig().learn_deadline else "")
            if run.settings.learn_deadline
            else f"fixed {run.settings.deadline_minutes:g} min"
            + ("" if ScheduleConfig().learn_deadline else " (default)")
        )
        healthy, drops, bound = run.healthy, run.drops, run.settings.bound_s
        false_alarms = sum(healthy.alerts.values())
        alerts_text = ", ".join(f"{k} {v}" for k, v in sorted(healthy.alerts.items()))
        outcomes_text = ", ".join(f"{k} {v}" for k, v in sorted(healthy.outcomes.items()))
        lines.append(
            f"| {n}{default} | {kind} | healthy cycles, drawn delays | {healthy.cycles} | "
            f"alerts raised: **{false_alarms}**{f' ({alerts_text})' if alerts_text else ''}; "
            f"outcomes: {outcomes_text} | 0 alerts: {verdict(false_alarms == 0)} |"
        )
        d = drops.delays
        over = sum(1 for x in d if x > bound) + drops.missed
        if d:
            spread = (
                f"median {minutes(statistics.median(d))}, 95th percentile "
                f"{minutes(percentile(d, 0.95))}, **worst {minutes(max(d))}**, "
                f"best {minutes(min(d))}"
            )
        else:
            spread = "no DOWN alert in any trial"
        lines.append(
            f"| {n}{default} | {kind} | silent drop at a random time | {drops.trials} | "
            f"drop start to DOWN alert: {spread}; over the bound or never: {over} | all within "
            f"{minutes(bound)}: {verdict(over == 0)} |"
        )
        delays = healthy.delays
        under_10 = sum(1 for x in delays if x < 10) / len(delays)
        before = sum(drops.other_alerts.values())
        notes.append(
            f"- DOWN after {n}, {kind} deadline: deadline in force when the drops began "
            f"{drops.deadline_s:.0f} s; delays drawn in the healthy run {under_10:.0%} under "
            f"10 s, median {statistics.median(delays):.1f} s, longest {max(delays):.0f} s "
            f"(0.8 x deadline = {0.8 * run.settings.deadline_s:.0f} s); alerts before the "
            f"DOWN alert in the drop trials: {before}."
        )
    lines += [
        "",
        *notes,
        "",
        f"Measured {when} on {mach['nproc']} CPUs ({mach['cpu']}), {mach['python']}, "
        f"{mach['kernel']}.",
    ]
    return "\n".join(lines)


def write_docs(block: str) -> None:
    """Put the block into docs/performance.md (see benchmarks/docs_block.py)."""
    write_block(BEGIN, END, block, heading="## Detection (issue 8)")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    defaults = ScheduleConfig()
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--every-minutes", type=float, default=defaults.every_minutes)
    p.add_argument("--deadline-minutes", type=float, default=defaults.deadline_minutes)
    p.add_argument(
        "--down-after-lost",
        type=int,
        action="append",
        help=(
            "lost canaries in a row before DOWN; may be repeated "
            f"(default: the product's default, {Policy().down_after_lost}, and 1)"
        ),
    )
    p.add_argument("--cycles", type=int, default=200, help="healthy cycles (default 200)")
    p.add_argument("--trials", type=int, default=1000, help="drop trials (default 1000)")
    p.add_argument("--seed", type=int, default=8, help="random seed (default 8)")
    p.add_argument(
        "--warm-cycles",
        type=int,
        default=500,
        help="healthy canaries in the history each drop trial starts from (default 500)",
    )
    p.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    counts = args.down_after_lost or list(dict.fromkeys([Policy().down_after_lost, 1]))
    runs = []
    # Each count with the learned deadline (the default), and the default count with the old
    # fixed deadline beside it.
    plans = [(n, True) for n in counts] + [(counts[0], False)]
    with tempfile.TemporaryDirectory(prefix="watchdog-detection-") as tmp:
        for n, learn in plans:
            settings = Settings(
                args.every_minutes,
                args.deadline_minutes,
                replace(Policy(), down_after_lost=n),
                learn_deadline=learn,
            )
            rng = random.Random(args.seed)  # the same delays and drop times for each setting
            folder = Path(tmp) / f"down-after-{n}-{'learned' if learn else 'fixed'}"
            (folder / "healthy").mkdir(parents=True)
            healthy = healthy_run(folder / "healthy", settings, args.cycles, rng)
            (folder / "drops").mkdir()
            drops = drop_trials(
                folder / "drops", settings, args.trials, rng, warm_cycles=args.warm_cycles
            )
            runs.append(Run(settings, healthy, drops))
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = report(runs, args.seed, when, machine())
    print(block)
    if args.write_docs:
        write_docs(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
