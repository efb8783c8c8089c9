"""Following the reminders (issue 14): office days with a reminder batch, some of them blocked.

On the simulated clock of ``benchmarks/detection.py`` (and with its edges: the SMTP probe, the
seed mailbox and the alert channel simulated, arrival delays drawn from its mixture: 85% within
seconds, 12% 10 s to 2 min, 3% 2 min to 8 min), this drives the product's real ``Loop`` (its
``step``, on the injected clock), ``Runner``, status and alert rules, SQLite ``History`` and, for
the new behaviour, the real ``BatchWatch`` reading a simulated Sent folder (times only, as the
real one).

Each simulated calendar day from a Monday on; Monday to Friday are office days (``--days`` of
them), each with one reminder batch at the practice's hour (``--hour``, start drawn within half
an hour after it, so its phase against a 30-minute schedule is uniform, as for a PC started
each morning): 50 to 400 messages (uniform), one every 1 to 3 s (uniform), each filed in
the Sent folder as it is sent (Gmail, Outlook.com and Microsoft 365 do, our canaries' copies
too); and ``--daytime-mail`` single e-mails from the front desk (12 by default) at random moments
from 08:00 to 18:00, since office hours follow the practice's sending. On a share of office
days (``--block-share``) a block starts at a uniformly random moment of the batch: from then on
to the end of the day, every canary the server accepts is never delivered (a silent drop, the
hard case). The same days run a second time with the block as a refusal instead (Gmail's
``550 5.4.5 Daily user sending limit exceeded``, the way the providers of docs/diagnoses.md
mostly block): the first canary after the block's start sees it at once.

Two configurations, the same days and draws (same seed):

- **old**: today's defaults before issue 14: a canary every 30 min, fixed 10 min deadline, no
  batch watch, the same schedule day and night;
- **new**: the defaults now: a canary every 30 min in office hours (``[alerts]``, Monday to
  Friday 07:00 to 19:00) and near batches, every 2 hours otherwise (``quiet_every_minutes``);
  a canary after each batch and every 2 minutes during a long one (``[batches]``); a deadline
  learned from the account's arrivals, a loss under it confirmed by a second canary; the
  canary after a batch judged by its plan (``batches.batch_canary_plan``: suspected soon,
  confirmed by a few canaries at once, false alarms bounded by the account's arrivals).

Measured: block start to the DOWN alert; DOWN alerts outside a block (false); canaries sent per
office day and per weekend day. Goals from the issue: median at most 5 min and 95th
percentile at most 10 min; no false DOWN; at most 30 canaries a day.

    .venv/bin/python benchmarks/office_days.py                    # 1,000 office days, seed 14
    .venv/bin/python benchmarks/office_days.py --write-docs

It asserts nothing: it prints a Markdown report with the goals and whether this run met them.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.detection import (  # noqa: E402
    KEY,
    Provider,
    RecordingChannel,
    SimMailbox,
    SimProbe,
    minutes,
    percentile,
    sim_clock,
    verdict,
)
from benchmarks.docs_block import write_block  # noqa: E402
from benchmarks.roundtrip import machine  # noqa: E402
from tests.support.clock import FakeClock  # noqa: E402
from watchdog.config import (  # noqa: E402
    DEFAULT_DEADLINE_MINUTES,
    DEFAULT_EVERY_MINUTES,
    QUIET_EVERY_MINUTES,
    Config,
    ScheduleConfig,
    SeedConfig,
    SenderConfig,
)
from watchdog.core.batches import local_midnight  # noqa: E402
from watchdog.core.errors import SendError  # noqa: E402
from watchdog.core.models import AlertPolicy, Policy, Security, SmtpReply  # noqa: E402
from watchdog.engine.batch_watch import BatchWatch  # noqa: E402
from watchdog.engine.loop import Loop, Plan  # noqa: E402
from watchdog.engine.runner import Runner  # noqa: E402
from watchdog.mail.sent_folder import SentFolderReader, SentPoll  # noqa: E402
from watchdog.notify import AlertKind  # noqa: E402
from watchdog.notify.notifier import Notifier  # noqa: E402
from watchdog.storage.history import History  # noqa: E402

BEGIN = "<!-- office-days:begin (written by benchmarks/office_days.py --write-docs) -->"
END = "<!-- office-days:end -->"

#: A Monday, local midnight (this PC's zone, as the product's "today" rules use).
START = dt.datetime(2027, 3, 1, 0, 0).timestamp()
#: The loop is never left asleep longer than this in the simulation (it wakes itself sooner).
MIN_STEP_S = 1.0


# -- the simulated outside world (on top of detection.py's) -------------------------------------


@dataclass
class BlockingProvider(Provider):
    """The mail path, with a block from ``drop_from`` until ``drop_until``."""

    drop_until: float = 0.0
    refuse: bool = False  # True: a block refuses at the send (5.4.5) instead of dropping
    sends: list[float] = field(default_factory=list)  # every canary sent (its send time)

    def blocked(self) -> bool:
        return self.drop_from <= self.clock.now() < self.drop_until

    def accept(self, token: str) -> None:
        sent = self.clock.now()
        self.sends.append(sent)
        if self.drop_from <= sent < self.drop_until:
            return
        delay = self.forced.pop(0) if self.forced else _draw(self)
        self.delays.append(delay)
        self.arrivals[token] = sent + delay


class BlockingProbe(SimProbe):
    """The SMTP edge: accepted with 250, or refused as a provider's block refuses."""

    provider: BlockingProvider

    def __init__(self, provider: BlockingProvider) -> None:
        super().__init__(provider)
        self.provider = provider

    def send(self, message: EmailMessage, *, should_stop: Callable[[], bool]) -> SmtpReply:
        if self.provider.refuse and self.provider.blocked():
            self.provider.sends.append(self.provider.clock.now())
            reply = SmtpReply(550, "5.4.5 Daily user sending limit exceeded.", "5.4.5")
            raise SendError("The server refused at data: 550", reply=reply, stage="data")
        return super().send(message, should_stop=should_stop)


def _draw(provider: Provider) -> float:
    from benchmarks.detection import draw_delay

    return draw_delay(provider.rng, provider.deadline_s)


class SentFolder:
    """The practice's Sent folder: the batch's send times, each visible once it was sent."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.times: list[float] = []
        self._given = 0

    def plan(self, times: Sequence[float]) -> None:
        """A new day's sends; yesterday's are forgotten (the watch keeps today only)."""
        self.times = sorted(times)
        self._given = 0

    def __call__(self) -> SentFolder:
        return self

    def __enter__(self) -> SentFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def sent_times(self, reader: SentFolderReader, since: float) -> SentPoll:
        upto = bisect.bisect_right(self.times, self.clock.now())
        new = tuple(t for t in self.times[self._given : upto] if t >= since)
        self._given = max(self._given, upto)
        # Gmail files every message sent through its SMTP server, our canaries included.
        return SentPoll("Sent", new, restarted=False, canary_copies_seen=True)


# -- one simulated installation ----------------------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    name: str
    learn_deadline: bool
    batch_watch: bool
    quiet_every_minutes: float | None
    refused: bool = False  # the block refuses at the send instead of dropping silently


OLD = Behaviour("old: every 30 min, 10 min deadline, no batch watch", False, False, None)
#: Today's defaults, read from the config module so the benchmark cannot drift from them.
NEW = Behaviour("new: the defaults now", True, True, QUIET_EVERY_MINUTES)
OLD_REFUSED = Behaviour("old, block refused (550 5.4.5)", False, False, None, refused=True)
NEW_REFUSED = Behaviour(
    "new, block refused (550 5.4.5)", True, True, QUIET_EVERY_MINUTES, refused=True
)


class Office:
    """The real loop, runner, history and notifier, wired to the simulated edges."""

    def __init__(self, folder: Path, behaviour: Behaviour, rng: random.Random) -> None:
        self.clock = sim_clock(START)
        schedule = ScheduleConfig(
            DEFAULT_EVERY_MINUTES,
            DEFAULT_DEADLINE_MINUTES,
            learn_deadline=behaviour.learn_deadline,
            quiet_every_minutes=behaviour.quiet_every_minutes,
        )
        self.provider = BlockingProvider(self.clock, rng, schedule.deadline_seconds)
        self.provider.refuse = behaviour.refused
        self.channel = RecordingChannel()
        self.sent = SentFolder(self.clock)
        config = Config(
            path=folder / "config.toml",
            sender=SenderConfig(
                "frontdesk@example.test", "smtp.example.test", 465, Security.SSL, "frontdesk"
            ),
            seed=SeedConfig("seed@example.test", "imap.example.test", 993, Security.SSL, "seed"),
            schedule=schedule,
            policy=Policy(),
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
        runner = Runner(
            config=config,
            history=self.history,
            probe=BlockingProbe(self.provider),
            open_mailbox=lambda: mailbox,
            key=KEY,
            clock=self.clock,
            has_route=lambda: True,
            listeners=[notifier.on_result],
            before_check=[notifier.before_check],
            after_check=[notifier.after_check],
        )
        watch = BatchWatch(self.sent, self.clock) if behaviour.batch_watch else None
        self.loop = Loop(runner, self.clock, batch_watch=watch)
        self.plan = Plan(schedule.every_seconds, self.clock.now())

    def run_until(self, end: float) -> None:
        """The loop's turns until ``end``, sleeping as long as it asks (at least a second)."""
        while self.clock.now() < end:
            idle = self.loop.step(self.plan)
            self.clock.advance_to(min(end, self.clock.now() + max(idle, MIN_STEP_S)))

    def close(self) -> None:
        self.history.close()


# -- the days ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    start: float  # local midnight
    office: bool
    batch: tuple[float, ...]  # the reminder batch (empty on weekends)
    sends: tuple[float, ...]  # everything the account sends: the batch and the day's mail
    block: tuple[float, float] | None  # (start, end) of the block, if any


def plan_days(
    office_days: int,
    hour: float,
    block_share: float,
    rng: random.Random,
    daytime_mail: int = 0,
    mail_rng: random.Random | None = None,
) -> list[Day]:
    """Calendar days from a Monday until ``office_days`` office days are planned.

    ``daytime_mail``: on each office day, that many single e-mails from the front desk at
    random moments from 08:00 to 18:00, drawn from ``mail_rng`` (its own generator, so the
    batches and blocks are the same with or without them).
    """
    days: list[Day] = []
    n = 0
    while sum(d.office for d in days) < office_days:
        start = local_midnight(START, days=n)
        office = dt.datetime.fromtimestamp(start).weekday() < 5
        sends: list[float] = []
        block = None
        if office:
            t = start + hour * 3600 + rng.uniform(0, 1800)
            for _ in range(rng.randint(50, 400)):
                sends.append(t)
                t += rng.uniform(1.0, 3.0)
            if rng.random() < block_share:
                block = (rng.uniform(sends[0], sends[-1]), local_midnight(start, days=1) - 60)
        mail = mail_rng or random.Random(n)
        singles = [start + mail.uniform(8 * 3600, 18 * 3600) for _ in range(daytime_mail)]
        days.append(
            Day(
                start,
                office,
                tuple(sends),
                tuple(sorted([*sends, *singles])) if office else (),
                block,
            )
        )
        n += 1
    return days


@dataclass(frozen=True)
class Result:
    behaviour: Behaviour
    delays: list[float]  # block start -> DOWN alert
    missed: int  # blocks with no DOWN alert before the block ended
    false_down: int  # DOWN alerts outside any block
    office_canaries: list[int]
    weekend_canaries: list[int]
    seconds: float  # wall time the simulation took


def simulate(folder: Path, behaviour: Behaviour, days: list[Day], seed: int) -> Result:
    """Every day in order on one installation; what the alerts and the sends say."""
    began = time.perf_counter()
    office = Office(folder, behaviour, random.Random(seed))
    try:
        for day in days:
            office.sent.plan(day.sends)
            office.provider.drop_from, office.provider.drop_until = day.block or (0.0, 0.0)
            office.run_until(local_midnight(day.start, days=1))
        downs = [a.at for a in office.channel.alerts if a.kind is AlertKind.DOWN]
        sends = sorted(office.provider.sends)
    finally:
        office.close()
    delays: list[float] = []
    missed = 0
    blocks = [d.block for d in days if d.block is not None]
    for start, end in blocks:
        hit = [t for t in downs if start <= t <= end]
        if hit:
            delays.append(hit[0] - start)
        else:
            missed += 1
    # A DOWN up to one configured deadline after a block ended still belongs to it.
    false_down = sum(1 for t in downs if not any(s <= t <= e + 600 for s, e in blocks))
    per_day: list[tuple[bool, int]] = []
    for day in days:
        end = local_midnight(day.start, days=1)
        count = bisect.bisect_left(sends, end) - bisect.bisect_left(sends, day.start)
        per_day.append((day.office, count))
    return Result(
        behaviour,
        delays,
        missed,
        false_down,
        [c for o, c in per_day if o],
        [c for o, c in per_day if not o],
        time.perf_counter() - began,
    )


# -- report ------------------------------------------------------------------------------------


def report(
    results: Sequence[Result], days: list[Day], seed: int, when: str, mach: dict[str, Any]
) -> str:
    office_days = sum(d.office for d in days)
    blocks = sum(d.block is not None for d in days)
    sizes = [len(d.batch) for d in days if d.office]
    singles = max((len(d.sends) - len(d.batch) for d in days if d.office), default=0)
    lines = [
        f"{office_days:,} office days ({len(days):,} calendar days), one batch of "
        f"{min(sizes)} to {max(sizes)} messages each (median {statistics.median(sizes):.0f}) "
        f"and {singles} single e-mails from 08:00 to 18:00; "
        f"{blocks} of them blocked from a random moment of the batch on. Seed {seed}.",
        "",
        "| Behaviour | Block start to DOWN alert | False DOWN alerts | Canaries per office day "
        "| Canaries per weekend day |",
        "|---|---|---:|---|---|",
    ]
    goals = []
    for r in results:
        d = r.delays
        if d:
            spread = (
                f"median {minutes(statistics.median(d))}, 95th percentile "
                f"{minutes(percentile(d, 0.95))}, worst {minutes(max(d))}"
            )
        else:
            spread = "no DOWN alert"
        if r.missed:
            spread += f"; **{r.missed} blocks never told**"
        oc, wc = r.office_canaries, r.weekend_canaries
        weekend = f"mean {statistics.mean(wc):.1f}, most {max(wc)}" if wc else "-"
        lines.append(
            f"| {r.behaviour.name} | {spread} | {r.false_down} | mean "
            f"{statistics.mean(oc):.1f}, most {max(oc)} | {weekend} |"
        )
        if d:
            goals.append(
                f"- {r.behaviour.name.split(':')[0]}: median at most 5 min: "
                f"{verdict(statistics.median(d) <= 300 and not r.missed)}; 95th percentile at "
                f"most 10 min: {verdict(percentile(d, 0.95) <= 600 and not r.missed)}; no false "
                f"DOWN: {verdict(r.false_down == 0)}; at most 30 canaries a day (office days, "
                f"mean): {verdict(statistics.mean(oc) <= 30)}, (office days, every one): "
                f"{verdict(max(oc) <= 30)}. Simulated in {r.seconds:.0f} s."
            )
    lines += [
        "",
        *goals,
        "",
        f"Measured {when} on {mach['nproc']} CPUs ({mach['cpu']}), {mach['python']}, "
        f"{mach['kernel']}.",
    ]
    return "\n".join(lines)


def write_docs(block: str) -> None:
    """Put the block into docs/performance.md (see benchmarks/docs_block.py)."""
    write_block(BEGIN, END, block, heading="## Following the reminders (issue 14)")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--days", type=int, default=1000, help="office days (default 1000)")
    p.add_argument("--hour", type=float, default=17.0, help="the practice's batch hour (17)")
    p.add_argument(
        "--block-share", type=float, default=0.2, help="share of office days blocked (0.2)"
    )
    p.add_argument("--seed", type=int, default=14, help="random seed (default 14)")
    p.add_argument(
        "--daytime-mail",
        type=int,
        default=12,
        help="single e-mails from the front desk per office day, 08:00 to 18:00 (12)",
    )
    p.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    days = plan_days(
        args.days,
        args.hour,
        args.block_share,
        random.Random(args.seed),
        args.daytime_mail,
        random.Random(f"{args.seed}-daytime-mail"),
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="watchdog-office-days-") as tmp:
        for n, behaviour in enumerate((OLD, NEW, OLD_REFUSED, NEW_REFUSED)):
            folder = Path(tmp) / f"behaviour-{n}"
            folder.mkdir()
            results.append(simulate(folder, behaviour, days, args.seed))
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = report(results, days, args.seed, when, machine())
    print(block)
    if args.write_docs:
        write_docs(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
