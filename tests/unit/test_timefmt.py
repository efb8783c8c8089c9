"""One time-stamp format (issue 13): every JSON and CSV the watchdog writes (``--json``,
``export``, the webhook payload) writes a moment the same way, ISO 8601 UTC to the millisecond
with ``Z``, as docs/export.md and docs/escalation.md say.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from watchdog.cli.common import result_json, status_json
from watchdog.core.models import CheckResult, Diagnosis, Outcome, Status, StatusSnapshot
from watchdog.core.timefmt import iso_utc, iso_utc_or_none
from watchdog.notify import Alert, AlertKind
from watchdog.notify.webhook import json_payload
from watchdog.storage import export

MOMENT = 1_767_000_000.25  # 2025-12-29 09:20:00.250 UTC
WRITTEN = "2025-12-29T09:20:00.250Z"


@pytest.mark.parametrize(
    ("timestamp", "written"),
    [
        (MOMENT, WRITTEN),
        (0.0, "1970-01-01T00:00:00.000Z"),
        (1_767_000_000.0, "2025-12-29T09:20:00.000Z"),
        (1_767_000_000.9996, "2025-12-29T09:20:00.999Z"),  # cut, never rounded into the next second
    ],
)
def test_a_moment_is_written_in_utc_to_the_millisecond_with_z(
    timestamp: float, written: str
) -> None:
    assert iso_utc(timestamp) == written


def test_what_is_written_reads_back_as_the_same_moment() -> None:
    back = datetime.fromisoformat(iso_utc(MOMENT))
    assert back.tzinfo is not None and back.utcoffset() == UTC.utcoffset(None)
    assert back.timestamp() == MOMENT


def test_a_moment_that_has_not_happened_is_none() -> None:
    assert iso_utc_or_none(None) is None
    assert iso_utc_or_none(MOMENT) == WRITTEN


def test_the_cli_json_the_export_and_the_webhook_write_a_moment_alike() -> None:
    """Before: ``--json`` wrote ``+00:00``, the webhook dropped the milliseconds."""
    result = CheckResult(
        token="t",
        sent_at=MOMENT,
        deadline_at=MOMENT + 600,
        outcome=Outcome.DELIVERED,
        diagnosis=Diagnosis.OK,
        found_at=MOMENT,
        latency_s=1.0,
        folder="INBOX",
    )
    snapshot = StatusSnapshot(status=Status.UP, since=MOMENT)
    alert = Alert(kind=AlertKind.DOWN, status=Status.DOWN, title="t", message="m", since=MOMENT)
    payload = json_payload(alert, at=MOMENT)
    written = {
        result_json(result)["sent_at"],
        result_json(result)["found_at"],
        status_json(snapshot)["since"],
        export.row_of(result)["sent_at"],
        export.row_of(result)["found_at"],
        payload["since"],
        payload["at"],
    }
    assert written == {WRITTEN}
