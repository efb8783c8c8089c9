"""The product built in-process against the real test servers, and the five checks every fault gets.

A :class:`FaultRig` is ``watchdog.app.open_app`` on a real config file (``write_config``), with one
extra alert channel that records every alert instead of showing it. ``rig.cycle()`` runs one check
exactly as the background loop does (``Runner.safe_check``: an error is logged, never raised), so
"the loop keeps running" means: ``cycle()`` returned, and the next ``cycle()`` works.

The five assertions of the fault matrix (``docs/reliability.md``):

1. the loop keeps running: :meth:`FaultRig.cycle` never raises;
2. the diagnosis is the right one: asserted by each test on the cycle's result;
3. every canary has exactly one history row: :meth:`FaultRig.assert_one_row_per_canary`;
4. no alert blames the provider for our or the network's fault:
   :meth:`FaultRig.assert_no_provider_blame`;
5. the status returns to UP once the fault goes: :meth:`FaultRig.assert_back_up`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers import MailServers, write_config
from watchdog.app import App, open_app
from watchdog.config import load_config
from watchdog.core.classifier import describe
from watchdog.core.clock import Clock
from watchdog.core.models import CheckResult, Diagnosis, Outcome, Status
from watchdog.engine.runner import CycleReport
from watchdog.mail.probe import SmtpProbe
from watchdog.notify import Alert, AttemptResult, Channel

#: Diagnoses that put the fault on the mail provider ("The mail provider accepted ... but ...").
PROVIDER_BLAME = frozenset(d for d in Diagnosis if "mail provider" in describe(d))

#: Short enough for a fast test, long enough for a loopback round trip on a busy CI machine.
DEADLINE_MINUTES = 0.05  # 3 s


class RecordingChannel:
    """An alert channel that keeps every alert it is given (and always succeeds)."""

    name = "recorder"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> AttemptResult:
        self.alerts.append(alert)
        return AttemptResult(self.name, ok=True, detail="recorded")


@dataclass
class FaultRig:
    """One product instance against the test servers, and what it did."""

    app: App
    servers: MailServers
    recorder: RecordingChannel
    reports: list[CycleReport] = field(default_factory=list)
    failed_cycles: int = 0  # cycles that ended in a logged error instead of a result

    @property
    def history(self) -> Any:
        return self.app.history

    @property
    def alerts(self) -> list[Alert]:
        return self.recorder.alerts

    def cycle(self, stop: threading.Event | None = None) -> CycleReport | None:
        """One check as the loop runs it: errors are logged and the loop would go on."""
        report = self.app.runner.safe_check(stop or threading.Event())
        self.app.notifier.flush()  # alerts go out on their own thread; the matrix reads them now
        if report is None:
            self.failed_cycles += 1
        else:
            self.reports.append(report)
        return report

    def check(self) -> CycleReport:
        """One cycle that must produce a result."""
        report = self.cycle()
        assert report is not None, "the check ended in an error instead of a result"
        return report

    def rows(self) -> list[CheckResult]:
        return list(self.app.history.iter_checks())

    def row(self, token: str) -> CheckResult:
        found = self.app.history.get(token)
        assert found is not None, f"no history row for canary {token}"
        return found

    # -- the matrix's assertions ------------------------------------------------------------

    def assert_one_row_per_canary(self, *, extra_tokens: tuple[str, ...] = ()) -> None:
        """Every canary of every cycle has one history row, and there is no other row.

        ``token`` is the table's primary key, so "more than one" cannot happen; what this
        catches is a canary without a row, a row without a canary, and a row left pending.
        """
        rows = self.rows()
        tokens = [r.token for r in rows]
        assert len(tokens) == len(set(tokens))
        expected = {r.result.token for r in self.reports} | set(extra_tokens)
        assert set(tokens) == expected, (sorted(tokens), sorted(expected))
        pending = [r.token for r in rows if r.outcome is Outcome.PENDING]
        assert not pending, f"canaries left pending: {pending}"

    def assert_no_provider_blame(self) -> None:
        """No alert names a provider-side diagnosis or says the provider did it."""
        for alert in self.alerts:
            assert alert.diagnosis not in PROVIDER_BLAME, (alert.kind, alert.diagnosis)
            text = alert.message.replace("not a problem of the mail provider", "")
            assert "mail provider" not in text, alert.message

    def assert_back_up(self) -> CycleReport:
        """The fault is gone: the next check delivers and the status is UP."""
        report = self.check()
        assert report.result.outcome is Outcome.DELIVERED, report.result
        assert report.status.status is Status.UP
        assert self.app.history.status().status is Status.UP
        return report

    def close(self) -> None:
        self.app.close()


def open_rig(
    tmp_path: Path,
    servers: MailServers,
    *,
    clock: Clock | None = None,
    config_path: Path | None = None,
    channels: list[Channel] | None = None,
    **config: Any,
) -> FaultRig:
    """Write a config for ``servers`` (``config`` as for ``write_config``) and open the product.

    History and key go to ``tmp_path / "data"``. The deadline is 3 s unless ``schedule`` says
    otherwise. ``channels`` are real alert channels to use beside the recorder.
    """
    if config_path is None:
        config.setdefault("deadline_minutes", DEADLINE_MINUTES)
        config.setdefault("data_dir", tmp_path / "data")
        config_path = write_config(tmp_path, servers, **config)
    recorder = RecordingChannel()
    app = open_app(load_config(config_path), clock=clock, channels=[recorder, *(channels or [])])
    return FaultRig(app=app, servers=servers, recorder=recorder)


def smtp_timeout(rig: FaultRig, seconds: float) -> None:
    """Shorten the product's SMTP timeout (30 s) so a stalled server is given up on quickly.

    The runner knows its probe only by ``send`` (``watchdog.engine.seams.Probe``); the timeout
    belongs to the real one the app wires in.
    """
    probe = rig.app.runner.probe
    assert isinstance(probe, SmtpProbe), probe
    probe.timeout = seconds


def status_of(rig: FaultRig) -> Status:
    return rig.app.history.status().status
