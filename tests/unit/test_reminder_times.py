"""Canaries at the practice's reminder times, named in the config or learned (issue 14).

For an account whose Sent folder shows nothing, the practice names when its software sends
(``[schedule] reminder_times``), or the times are learned from the sending counts kept while the
Sent folder could be seen; a canary is due 20 minutes after each, unless one was sent since.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.support.clock import FakeClock
from watchdog.config import load_config
from watchdog.core.errors import ConfigError
from watchdog.engine.batch_watch import ReminderTimes
from watchdog.engine.runner import Runner
from watchdog.mail.sent_folder import SentFolderReader, SentPoll


class EmptySentFolder:
    """The practice's inbox as the batch watch reads it: a Sent folder with nothing today."""

    def __enter__(self) -> EmptySentFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def sent_times(self, reader: SentFolderReader, since: float) -> SentPoll:
        return SentPoll(folder="Sent", new_times=(), restarted=True)


def at(day: str, hhmm: str) -> float:
    return dt.datetime.strptime(f"{day} {hhmm}", "%Y-%m-%d %H:%M").astimezone().timestamp()


def clock_at(ts: float) -> FakeClock:
    clock = FakeClock()
    clock.t = ts
    return clock


def test_a_canary_is_due_twenty_minutes_after_a_named_reminder_time_unless_one_went_since() -> None:
    times = ReminderTimes(["08:00", "17:30"], clock_at(at("2026-12-07", "08:25")))
    assert times.due(last_canary_sent_at=at("2026-12-07", "07:00")) == "08:00"
    assert times.due(last_canary_sent_at=at("2026-12-07", "08:21")) is None
    early = ReminderTimes(["08:00"], clock_at(at("2026-12-07", "08:10")))
    assert early.due(last_canary_sent_at=None) is None  # the run may still be going on


def test_reminder_times_are_learned_from_batches_seen_on_three_days() -> None:
    minutes: list[tuple[float, int]] = []
    for day in ("2026-12-01", "2026-12-02", "2026-12-03"):
        start = at(day, "17:02")
        minutes += [(start + 60 * k, 5) for k in range(6)]  # 30 e-mails in six minutes
    minutes.append((at("2026-12-02", "11:00"), 40))  # one day only: a coincidence
    now = at("2026-12-04", "17:25")
    times = ReminderTimes([], clock_at(now), sent_minutes_since=lambda since: minutes)
    assert times.times() == ("17:00",)
    assert times.due(last_canary_sent_at=at("2026-12-04", "16:00")) == "17:00"


def test_reminder_times_in_the_config_must_be_times_of_day(tmp_path: Path) -> None:
    base = """
[sender]
address = "frontdesk@example.test"
smtp_host = "127.0.0.1"
smtp_port = 587
security = "none"
username = "frontdesk"
[seed]
address = "seed@example.test"
imap_host = "127.0.0.1"
imap_port = 143
security = "none"
username = "seed"
[schedule]
"""
    good = tmp_path / "good.toml"
    good.write_text(base + 'reminder_times = ["17:30", "08:00", "08:00"]\n', encoding="utf-8")
    assert load_config(good).schedule.reminder_times == ("08:00", "17:30")
    bad = tmp_path / "bad.toml"
    bad.write_text(base + 'reminder_times = ["5pm"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(bad)
    message = str(raised.value)
    assert "reminder_times" in message and "'5pm'" in message and "HH:MM" in message


def test_the_loop_asks_for_a_canary_at_a_reminder_time(tmp_path: Path) -> None:
    from tests.unit.test_runner import FakeMailbox
    from tests.unit.test_runner_hardening import QueuedProbe, runner_for
    from watchdog.engine.loop import Loop

    clock = clock_at(at("2026-12-07", "08:25"))
    runner = runner_for(tmp_path, QueuedProbe(), FakeMailbox(clock), clock)
    loop = Loop(runner, clock, reminder_times=ReminderTimes(["08:00"], clock))
    loop._check_requested = False
    loop._watch_batches()
    assert loop._check_requested is True
    runner.check()  # the canary after the reminders
    loop._check_requested = False
    loop._watch_batches()
    assert loop._check_requested is False


def spied_runner(tmp_path: Path, clock: FakeClock) -> tuple[Runner, list[bool]]:
    """A real runner on fakes, and for each of its checks whether it answered for reminders."""
    from tests.unit.test_runner import FakeMailbox
    from tests.unit.test_runner_hardening import QueuedProbe, runner_for

    runner = runner_for(tmp_path, QueuedProbe(), FakeMailbox(clock), clock)
    asked: list[bool] = []
    check = runner.check

    def spy(**kwargs: Any) -> Any:
        asked.append(bool(kwargs.get("after_reminders")))
        return check(**kwargs)

    runner.check = spy  # type: ignore[method-assign]
    return runner, asked


def test_the_canary_at_a_reminder_time_is_judged_as_after_the_reminders_and_a_scheduled_one_not(
    tmp_path: Path,
) -> None:
    from watchdog.engine.loop import Loop, Plan

    clock = clock_at(at("2026-12-07", "08:25"))
    runner, asked = spied_runner(tmp_path, clock)
    loop = Loop(runner, clock, reminder_times=ReminderTimes(["08:00"], clock))
    plan = Plan(runner.config.schedule.every_seconds, clock.now())
    loop.step(plan)  # the 08:00 reminders have had no canary yet: this one answers for them
    clock.t = plan.next_at
    loop.step(plan)  # the regular schedule
    assert asked == [True, False]


def test_a_scheduled_check_during_a_running_batch_is_judged_as_after_the_reminders(
    tmp_path: Path,
) -> None:
    from tests.support.sent_folder import FakeSentFolder
    from watchdog.engine.batch_watch import BatchWatch
    from watchdog.engine.loop import Loop, Plan

    clock = clock_at(at("2026-12-07", "12:00"))
    runner, asked = spied_runner(tmp_path, clock)
    folder = FakeSentFolder(clock)
    loop = Loop(runner, clock, batch_watch=BatchWatch(folder, clock))
    plan = Plan(runner.config.schedule.every_seconds, clock.now())
    loop.step(plan)  # the first check, nothing sent today
    folder.send(*(clock.now() + 600 + 2 * k for k in range(100)))  # 12:10 to 12:13:18
    clock.t = at("2026-12-07", "12:12")
    loop.batch_watch.poll()  # type: ignore[union-attr]
    plan.next_at = clock.now()  # the regular check falls due in the middle of the batch
    loop.step(plan)
    assert asked == [False, True]


def test_a_scheduled_check_looks_at_the_sent_folder_first_for_a_batch_begun_since(
    tmp_path: Path,
) -> None:
    from tests.support.sent_folder import FakeSentFolder
    from watchdog.engine.batch_watch import BatchWatch
    from watchdog.engine.loop import Loop, Plan

    clock = clock_at(at("2026-12-07", "12:00"))
    runner, asked = spied_runner(tmp_path, clock)
    folder = FakeSentFolder(clock)
    watch = BatchWatch(folder, clock)
    loop = Loop(runner, clock, batch_watch=watch)
    plan = Plan(runner.config.schedule.every_seconds, clock.now())
    loop.step(plan)  # the first check and a look: nothing sent today; the next look in 5 min
    clock.t = at("2026-12-07", "12:30")
    watch.next_poll_at = clock.now() + 300  # looked a moment ago, as between batches
    folder.send(*(clock.now() - 60 + 2 * k for k in range(100)))  # a batch began a minute ago
    plan.next_at = clock.now()
    looks = folder.looks
    loop.step(plan)
    assert folder.looks == looks + 1  # one fresh look, right before the check
    assert asked == [False, True]  # so the check is judged as the batch canary


def test_a_tight_daily_budget_thins_the_regular_schedule_but_never_the_canary_after_a_batch(
    tmp_path: Path,
) -> None:
    from tests.unit.test_runner import FakeMailbox
    from tests.unit.test_runner_hardening import QueuedProbe, runner_for
    from watchdog.core.batches import daily_budget
    from watchdog.engine.batch_watch import BatchWatch
    from watchdog.engine.loop import Loop, Plan

    clock = clock_at(at("2026-12-07", "12:00"))
    runner = runner_for(tmp_path, QueuedProbe(), FakeMailbox(clock), clock)
    runner.check()  # a canary just now
    watch = BatchWatch(EmptySentFolder, clock)
    loop = Loop(runner, clock, batch_watch=watch)
    plan = Plan(60, clock.now())

    def due() -> bool:
        plan.next_at = clock.now() - 1
        loop._check_requested = False
        return loop._due(plan)

    assert due() is True  # nothing known of the budget: the schedule as configured
    watch.budget = daily_budget(100, 1, 500, "Gmail")  # room left, but not for every minute
    every = runner.config.schedule.every_seconds
    interval = watch.regular_interval(every)
    assert interval is not None and interval > every  # stretched to stay a small share
    clock.t += every
    assert due() is False
    clock.t += interval
    assert due() is True
    watch.budget = daily_budget(420, 10, 500, "Gmail")  # warned: only batch canaries now
    assert watch.budget.warn
    assert due() is False
    loop.request_check()  # a batch (or a person) asks: it still goes
    assert loop._due(plan) is True


def test_batches_and_the_sent_folder_can_be_set_and_a_contradiction_is_named(
    tmp_path: Path,
) -> None:
    base = """
[sender]
address = "frontdesk@example.test"
smtp_host = "127.0.0.1"
smtp_port = 587
security = "none"
username = "frontdesk"
imap_host = "127.0.0.1"
imap_security = "none"
sent_folder = "Postausgang/Gesendet"
[seed]
address = "seed@example.test"
imap_host = "127.0.0.1"
imap_port = 143
security = "none"
username = "seed"
[batches]
"""
    good = tmp_path / "good.toml"
    good.write_text(
        base + "min_messages = 5\nquiet_after_seconds = 300\ncanary_every_minutes = 0\n",
        encoding="utf-8",
    )
    config = load_config(good)
    assert config.sender.sent_folder == "Postausgang/Gesendet"
    assert (config.batches.min_messages, config.batches.quiet_after_s) == (5, 300.0)
    assert config.batches.running_canary_every_s is None  # only after a batch
    bad = tmp_path / "bad.toml"
    bad.write_text(base + "max_gap_seconds = 200\nquiet_after_seconds = 100\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(bad)
    message = str(raised.value)
    assert str(bad) in message and "[batches]" in message and "quiet_after_s" in message


def test_nights_and_weekends_get_the_quiet_interval_and_office_hours_the_regular_one(
    tmp_path: Path,
) -> None:
    from dataclasses import replace

    from tests.unit.test_runner import FakeMailbox
    from tests.unit.test_runner_hardening import QueuedProbe, runner_for
    from watchdog.config import ScheduleConfig
    from watchdog.engine.loop import Loop, Plan

    clock = clock_at(at("2026-12-06", "02:00"))  # a Sunday night
    runner = runner_for(tmp_path, QueuedProbe(), FakeMailbox(clock), clock)
    runner.config = replace(
        runner.config,
        schedule=ScheduleConfig(every_minutes=30, deadline_minutes=1, quiet_every_minutes=120),
    )
    times = ReminderTimes(["20:00"], clock)
    loop = Loop(runner, clock, reminder_times=times)
    plan = Plan(1800, clock.now())

    def scheduled_check_due() -> bool:
        plan.next_at = clock.now()
        loop._check_requested = False
        return loop._due(plan)

    runner.check()  # 02:00
    assert loop.regular_interval_now() == 7200
    clock.t = at("2026-12-06", "02:30")
    assert scheduled_check_due() is False  # the night's interval is 2 hours
    clock.t = at("2026-12-06", "04:00")
    assert scheduled_check_due() is True
    runner.check()
    clock.t = at("2026-12-06", "19:30")  # an hour near the practice's 20:00 reminders
    runner.check()
    clock.t = at("2026-12-06", "20:00")
    assert loop.regular_interval_now() == 1800
    assert scheduled_check_due() is True
    clock.t = at("2026-12-07", "07:00")  # Monday: the office opens
    runner.check()
    clock.t = at("2026-12-07", "07:30")
    assert scheduled_check_due() is True
    loop.request_check()  # "Check now" is never held
    clock.t = at("2026-12-07", "02:00") + 60
    assert loop._due(plan) is True


def test_the_quiet_interval_in_the_config_is_bounded_and_named_when_wrong(tmp_path: Path) -> None:
    base = """
[sender]
address = "frontdesk@gmail.com"
smtp_host = "smtp.gmail.com"
smtp_port = 465
security = "ssl"
username = "frontdesk@gmail.com"
[seed]
address = "seed@example.test"
imap_host = "127.0.0.1"
imap_port = 143
security = "none"
username = "seed"
[schedule]
"""
    default = tmp_path / "default.toml"
    default.write_text(base, encoding="utf-8")
    assert load_config(default).schedule.quiet_every_minutes == 120
    local = tmp_path / "local.toml"
    local.write_text(base.replace("smtp.gmail.com", "127.0.0.1"), encoding="utf-8")
    assert load_config(local).schedule.quiet_every_seconds is None  # no provider behind it
    for value in ("10", "300", '"2h"'):
        bad = tmp_path / "bad.toml"
        bad.write_text(base + f"quiet_every_minutes = {value}\n", encoding="utf-8")
        with pytest.raises(ConfigError) as raised:
            load_config(bad)
        message = str(raised.value)
        assert "quiet_every_minutes" in message and str(bad) in message
        assert value.strip('"') in message
    same = tmp_path / "same.toml"
    same.write_text(base + "quiet_every_minutes = 30\n", encoding="utf-8")
    assert load_config(same).schedule.quiet_every_seconds is None  # no quieter schedule
