"""What the batch watch can tell from the Sent folder: whether the practice sent since a canary.

The loop thins office hours only on a reading it can trust (``BatchWatch.sent_since``): a
successful look today, recent, that left our own canaries out. Anything else is "cannot tell".
"""

from __future__ import annotations

import datetime as dt

from tests.support.clock import FakeClock
from tests.support.sent_folder import FakeSentFolder
from watchdog.engine.batch_watch import SEND_TIME_SKEW_S, SENT_READING_FRESH_S, BatchWatch


def at(hhmm: str, day: str = "2026-12-07") -> float:  # a Monday
    return dt.datetime.strptime(f"{day} {hhmm}", "%Y-%m-%d %H:%M").astimezone().timestamp()


def watching(
    hhmm: str, *, canaries_excluded: bool = True
) -> tuple[BatchWatch, FakeSentFolder, FakeClock]:
    """A batch watch on a fake Sent folder, Monday at ``hhmm`` on a simulated clock."""
    clock = FakeClock(at(hhmm))
    folder = FakeSentFolder(clock, canaries_excluded=canaries_excluded)
    return BatchWatch(folder, clock), folder, clock


def test_nothing_sent_since_the_canary_is_told_apart_from_one_message_sent_after_it() -> None:
    watch, folder, _clock = watching("10:00")
    canary = at("09:30")
    folder.send(at("09:00"))  # before the canary: answered by it
    watch.poll()
    assert watch.sent_since(canary) is False
    folder.send(at("10:00"))
    watch.poll()
    assert watch.sent_since(canary) is True


def test_a_message_dated_just_before_the_canary_by_the_server_s_clock_counts_as_after_it() -> None:
    watch, folder, _clock = watching("10:00")
    canary = at("09:30")
    folder.send(canary - SEND_TIME_SKEW_S / 2)
    watch.poll()
    assert watch.sent_since(canary) is True


def test_before_the_first_successful_look_the_watch_cannot_tell() -> None:
    watch, folder, _clock = watching("10:00")
    assert watch.sent_since(at("09:30")) is None
    folder.failing = True
    watch.poll()
    assert watch.sent_since(at("09:30")) is None


def test_after_a_failed_look_the_watch_cannot_tell_even_if_an_earlier_one_saw_nothing() -> None:
    watch, folder, clock = watching("10:00")
    watch.poll()
    assert watch.sent_since(at("09:30")) is False
    folder.failing = True
    clock.t += 60
    watch.poll()
    assert watch.last_error is not None
    assert watch.sent_since(at("09:30")) is None


def test_an_old_reading_cannot_tell_whether_mail_goes_out_now() -> None:
    watch, _folder, clock = watching("10:00")
    watch.poll()
    clock.t += SENT_READING_FRESH_S - 1
    assert watch.sent_since(at("09:30")) is False
    clock.t += 2
    assert watch.sent_since(at("09:30")) is None


def test_a_server_that_cannot_leave_our_canaries_out_cannot_tell() -> None:
    watch, _folder, _clock = watching("10:00", canaries_excluded=False)
    watch.poll()
    assert watch.sent_since(at("09:30")) is None  # each canary would look like sending


def test_yesterday_s_reading_and_a_canary_before_midnight_cannot_tell_about_today() -> None:
    watch, _folder, clock = watching("23:55")
    watch.poll()  # Monday 23:55: nothing sent today
    clock.t = at("00:05", "2026-12-08")
    assert watch.sent_since(at("23:50")) is None  # the look was yesterday's
    watch.poll()
    # Today's look saw nothing since midnight, but the canary went before it: the minutes
    # between the canary and midnight are not kept.
    assert watch.sent_since(at("23:50")) is None
    assert watch.sent_since(at("00:01", "2026-12-08")) is False


def test_until_a_copy_of_our_own_canary_is_seen_in_sent_the_watch_cannot_tell() -> None:
    clock = FakeClock(at("10:00"))
    folder = FakeSentFolder(clock, files_canaries=False)
    watch = BatchWatch(folder, clock)
    watch.poll()
    # The folder may hold only what a mail program copied there, not the reminders.
    assert watch.sent_since(at("09:30")) is None
    folder.files_canaries = True  # our canary's copy shows up: the route files copies
    clock.t += 300
    watch.poll()
    assert watch.sent_since(at("09:30")) is False
    folder.files_canaries = False  # proof once seen stays (older copies may be deleted)
    clock.t += 300
    watch.poll()
    assert watch.sent_since(at("09:30")) is False
