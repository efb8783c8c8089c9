"""The desktop channel against a real notification daemon (Xvfb + a private D-Bus bus + dunst).

Every test reads what dunst *received* (``NotificationDaemon.received``) as well as what ``send``
returned: plyer and notify-send can "succeed" while nothing is shown. Without Xvfb/dunst the
daemon tests are skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest

from tests.servers.notification_daemon import (
    WATCHED_DESKTOP_ENTRY,
    NotificationDaemon,
    Received,
    missing_tools,
)
from watchdog.core.models import Status
from watchdog.notify import Alert, AlertKind, AttemptResult, Channel
from watchdog.notify.desktop import (
    APP_NAME,
    DESKTOP_ENTRY,
    ELLIPSIS,
    MESSAGE_LIMIT,
    TITLE_LIMIT,
    Backend,
    DesktopChannel,
    clip_text,
    escape_markup,
    icon_path,
    one_line,
    plain_body,
    utf16_len,
)

#: Only a safety net against a hang, never a speed assertion: the time limit is 5 s.
HANG_BOUND_S = 6.0

DOWN_TITLE = "Reminder e-mails are not going out (AT&T)"
DOWN_MESSAGE = (
    "The last two checks never arrived. Open your e-mail program and check the Outbox first."
)
SERVER_TEXT = 'Server said: 550 <b>blocked</b> & <a href="http://evil.test">click</a> &amp; more'


def in_ci() -> bool:
    """``CI=true`` (GitHub Actions and most CI systems): missing tools fail instead of skip."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def alert(
    kind: AlertKind = AlertKind.DOWN,
    status: Status = Status.DOWN,
    title: str = DOWN_TITLE,
    message: str = DOWN_MESSAGE,
) -> Alert:
    """An alert as the notifier builds them (only what the desktop channel renders matters)."""
    return Alert(kind=kind, status=status, title=title, message=message, at=time.time())


def package_icon(name: str) -> Path:
    """The icon file inside the installed package (or the checkout, for an editable install)."""
    return Path(str(files("watchdog").joinpath("data", "icons", name))).resolve()


# --- the headless desktop -----------------------------------------------------------------------


def _require_tools() -> None:
    missing = missing_tools()
    if missing:
        reason = (
            f"not installed: {', '.join(missing)} (apt-get install xvfb dbus dbus-x11 dunst "
            "libglib2.0-bin libnotify-bin, or run scripts/test.sh)"
        )
        if in_ci():
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def desktop() -> Iterator[NotificationDaemon]:
    """One headless desktop for the module (about 0.2 s to start)."""
    _require_tools()
    with NotificationDaemon() as daemon:
        yield daemon


@pytest.fixture
def daemon(desktop: NotificationDaemon, monkeypatch: pytest.MonkeyPatch) -> NotificationDaemon:
    """The desktop with nothing received yet, and this process pointed at it."""
    desktop.clear()
    for name, value in desktop.env.items():
        monkeypatch.setenv(name, value)
    return desktop


@pytest.fixture(autouse=True)
def no_stray_app_folder() -> None:
    """plyer picks the Flatpak portal whenever a folder ``/app`` exists, and nothing shows."""
    if Path("/app").is_dir():
        pytest.skip("a folder /app exists here: plyer would use the Flatpak portal")


def assert_down_arrived(shown: Received, result: AttemptResult) -> None:
    """What a DOWN alert must look like on arrival, whatever carried it."""
    assert result.ok, result.detail
    assert result.channel == "desktop"
    assert shown["appname"] == APP_NAME
    assert shown["summary"] == DOWN_TITLE
    assert shown["body"] == DOWN_MESSAGE
    assert shown["icon_path"] == str(package_icon("watchdog-down.png"))
    assert shown["urgency"] == "critical"
    assert shown["desktop_entry"] == DESKTOP_ENTRY == WATCHED_DESKTOP_ENTRY
    assert shown["timeout"] == 0  # critical: stays until dismissed


# --- delivery -----------------------------------------------------------------------------------


def test_a_down_alert_arrives_with_its_exact_texts_the_packaged_png_icon_and_critical_urgency(
    daemon: NotificationDaemon,
) -> None:
    result = DesktopChannel().send(alert())

    [shown] = daemon.received()
    assert_down_arrived(shown, result)
    icon = Path(shown["icon_path"])
    assert icon.is_file()
    assert icon.parent == package_icon("watchdog.png").parent
    assert icon.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "Failed to load image" not in daemon.dunst_log


def test_a_down_alert_followed_by_a_recovered_alert_gives_exactly_two_notifications(
    daemon: NotificationDaemon,
) -> None:
    channel = DesktopChannel()
    down = channel.send(alert())
    recovered = channel.send(
        alert(
            AlertKind.RECOVERED,
            Status.UP,
            "Reminder e-mails are going out again",
            "The last check arrived in 12 seconds. Nothing to do.",
        )
    )

    first, second = daemon.received()
    assert_down_arrived(first, down)
    assert recovered.ok, recovered.detail
    assert second["summary"] == "Reminder e-mails are going out again"
    assert second["body"] == "The last check arrived in 12 seconds. Nothing to do."
    assert second["urgency"] == "normal"
    assert second["timeout"] == 30_000
    assert second["icon_path"] == str(package_icon("watchdog-up.png"))


def test_a_long_title_and_message_arrive_cut_to_63_and_255_characters_at_a_word(
    daemon: NotificationDaemon,
) -> None:
    title = "Reminder e-mails are not going out because the server refused the login " * 3
    message = "Open your e-mail program and look at the Outbox before anything else. " * 10

    result = DesktopChannel().send(alert(title=title, message=message))

    [shown] = daemon.received()
    assert result.ok, result.detail
    for text, original, limit in (
        (shown["summary"], title, TITLE_LIMIT),
        (shown["body"], message, MESSAGE_LIMIT),
    ):
        assert limit - 10 < len(text) <= limit
        assert text.endswith(ELLIPSIS)
        kept = text.removesuffix(ELLIPSIS)
        assert original.startswith(kept)
        assert original[len(kept)] == " "  # the cut fell between two words
    assert shown["summary"] == "Reminder e-mails are not going out because the server refused…"
    assert shown["body"].endswith(" Open your e-mail program and look at the…")


def test_html_in_the_body_arrives_escaped_so_it_shows_as_literal_text_not_markup(
    daemon: NotificationDaemon,
) -> None:
    result = DesktopChannel().send(alert(message=SERVER_TEXT))

    [shown] = daemon.received()
    assert result.ok, result.detail
    assert shown["body"] == (
        "Server said: 550 &lt;b&gt;blocked&lt;/b&gt; &amp; "
        '&lt;a href="http://evil.test"&gt;click&lt;/a&gt; &amp;amp; more'
    )
    assert "<" not in shown["body"]
    assert shown["summary"] == DOWN_TITLE  # the summary is plain text by the spec: as is


@pytest.mark.parametrize("backend", ["dbus", "notify-send"])
def test_a_daemon_that_shows_plain_text_gets_the_body_unescaped(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dunst with ``markup = no`` does not advertise body-markup: "&amp;" would show as such."""
    _require_tools()
    with NotificationDaemon(markup="no") as plain:
        for name, value in plain.env.items():
            monkeypatch.setenv(name, value)
        result = DesktopChannel(backend=backend).send(alert(message=SERVER_TEXT))
        [shown] = plain.received()
    assert result.ok, result.detail
    assert shown["body"] == SERVER_TEXT


def test_the_notify_send_fallback_delivers_icon_urgency_and_timeout_too(
    daemon: NotificationDaemon,
) -> None:
    result = DesktopChannel(backend="notify-send").send(alert())

    [shown] = daemon.received()
    assert_down_arrived(shown, result)
    assert result.detail == "shown with notify-send"


def test_the_plyer_backend_delivers_to_the_daemon_with_clipped_plain_texts(
    daemon: NotificationDaemon,
) -> None:
    """Forced plyer (the Windows/macOS path) on Linux; plyer then talks D-Bus itself.

    plyer cannot send hints, so urgency and desktop-entry do not arrive, and a "until
    dismissed" timeout becomes ``timeout_s``: plyer on Windows cannot keep a balloon.
    """
    result = DesktopChannel(backend="plyer").send(alert(message=DOWN_MESSAGE * 4))

    [shown] = daemon.received()
    assert result.ok, result.detail
    assert shown["summary"] == DOWN_TITLE
    assert shown["body"] == clip_text(DOWN_MESSAGE * 4, MESSAGE_LIMIT)
    assert shown["icon_path"] == str(package_icon("watchdog-down.png"))
    assert shown["timeout"] == 30_000


# --- failures: returned, logged, never raised, never hanging ------------------------------------


@pytest.fixture
def dead_socket(tmp_path: Path) -> Path:
    """A bus socket file whose bus has gone (what a crashed session leaves): connect is refused."""
    path = tmp_path / "bus"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
    return path


@pytest.mark.parametrize("backend", ["auto", "dbus", "notify-send", "plyer"])
def test_with_a_dead_session_bus_send_fails_permanently_without_raising_or_hanging(
    backend: Backend,
    daemon: NotificationDaemon,
    dead_socket: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={dead_socket}")

    started = time.monotonic()
    result = DesktopChannel(backend=backend).send(alert())
    elapsed = time.monotonic() - started

    assert elapsed < HANG_BOUND_S
    assert not result.ok
    assert result.permanent
    assert result.channel == "desktop"
    assert "no desktop session bus is running" in result.detail
    assert f"nothing listens at {dead_socket}" in result.detail
    assert result.detail in caplog.text  # logged as well as returned
    assert daemon.received() == []


def test_without_any_session_bus_address_send_fails_permanently(
    daemon: NotificationDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # no "bus" socket in it

    result = DesktopChannel().send(alert())

    assert (result.ok, result.permanent) == (False, True)
    assert "DBUS_SESSION_BUS_ADDRESS is not set" in result.detail
    assert daemon.received() == []


@pytest.mark.parametrize("backend", ["dbus", "notify-send"])
def test_a_hung_session_bus_is_a_transient_failure_within_the_time_limit(
    backend: Backend, daemon: NotificationDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket that accepts connections into its backlog but never answers, like a stopped bus.

    ``call_timeout_s`` is shortened so the test is quick; the default is 5 s.
    """
    path = tmp_path / "bus"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        listener.listen(8)
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={path}")
        started = time.monotonic()
        result = DesktopChannel(backend=backend, call_timeout_s=0.5).send(alert())
        elapsed = time.monotonic() - started

    assert elapsed < HANG_BOUND_S
    assert (result.ok, result.permanent) == (False, False)
    assert "did not answer in time" in result.detail
    assert daemon.received() == []


@pytest.mark.parametrize("backend", ["dbus", "notify-send"])
def test_a_frozen_notification_daemon_is_a_transient_failure_within_the_time_limit(
    backend: Backend, daemon: NotificationDaemon
) -> None:
    """The bus answers but dunst is stopped (SIGSTOP): the D-Bus call's own limit must hold."""
    with daemon.frozen():
        started = time.monotonic()
        result = DesktopChannel(backend=backend, call_timeout_s=0.5).send(alert())
        elapsed = time.monotonic() - started

    assert elapsed < HANG_BOUND_S
    assert (result.ok, result.permanent) == (False, False)
    assert "did not answer" in result.detail  # which step runs out first depends on load
    assert daemon.received() == []  # also after dunst resumed: nothing was queued for it


@pytest.mark.parametrize("backend", ["dbus", "notify-send"])
def test_a_session_without_a_notification_daemon_is_a_permanent_failure(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    _require_tools()
    with NotificationDaemon(start_dunst=False) as bare:
        for name, value in bare.env.items():
            monkeypatch.setenv(name, value)
        result = DesktopChannel(backend=backend).send(alert())

    assert (result.ok, result.permanent) == (False, True)
    assert "no notification daemon is running" in result.detail
    assert "ServiceUnknown" in result.detail


def test_without_notify_send_on_the_path_the_fallback_fails_permanently(
    daemon: NotificationDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    result = DesktopChannel(backend="notify-send").send(alert())

    assert (result.ok, result.permanent) == (False, True)
    assert "notify-send is not installed" in result.detail
    assert daemon.received() == []


# --- the shipped icons --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stem", ["watchdog", "watchdog-up", "watchdog-down", "watchdog-degraded", "watchdog-unknown"]
)
def test_every_status_icon_ships_as_png_and_as_a_multi_size_ico(stem: str) -> None:
    image = pytest.importorskip("PIL.Image")
    png = icon_path(stem, ".png")
    ico = icon_path(stem, ".ico")
    assert png == package_icon(f"{stem}.png")
    assert ico == package_icon(f"{stem}.ico")
    with image.open(png) as opened:
        assert (opened.format, opened.size) == ("PNG", (256, 256))
    with image.open(ico) as opened:
        assert opened.format == "ICO"
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(opened.info["sizes"])


def test_an_icon_without_a_status_variant_falls_back_to_the_app_icon() -> None:
    assert icon_path("watchdog-paused", ".png") == package_icon("watchdog.png")


# --- the pure text functions --------------------------------------------------------------------


def test_text_that_fits_is_left_alone_up_to_the_exact_limit() -> None:
    assert clip_text("a" * 63, 63) == "a" * 63
    assert clip_text("", 63) == ""


def test_a_cut_goes_back_to_the_last_space_and_ends_with_an_ellipsis() -> None:
    assert clip_text("Reminder e-mails are not going out", 20) == "Reminder e-mails…"


def test_punctuation_before_the_cut_is_dropped_rather_than_left_dangling() -> None:
    assert clip_text("Check the Outbox, then the Sent folder", 19) == "Check the Outbox…"


def test_one_long_word_is_cut_inside_rather_than_losing_the_whole_text() -> None:
    text = "See https://support.example.test/" + "x" * 100
    cut = clip_text(text, 63)
    assert len(cut) == 63
    assert cut == text[:62] + ELLIPSIS


def test_characters_outside_the_bmp_count_twice_as_windows_counts_them() -> None:
    text = "\U0001f4e7" * 40  # 80 UTF-16 units
    cut = clip_text(text, 63)
    assert utf16_len(cut) <= 63
    assert cut == "\U0001f4e7" * 31 + ELLIPSIS


def test_a_combining_accent_is_never_separated_from_its_letter() -> None:
    text = "Cafe\u0301" * 20  # "Café" with a combining acute accent
    cut = clip_text(text, 9)
    assert not cut.removesuffix(ELLIPSIS).endswith("e")
    assert utf16_len(cut) <= 9


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        clip_text("x", 0)


def test_a_title_becomes_one_line_without_control_characters() -> None:
    assert one_line(" Mail\r\n is\tnot\x00 going   out \n") == "Mail is not going out"


def test_a_message_keeps_its_lines_but_loses_windows_line_ends_and_controls() -> None:
    assert plain_body("First line  \r\nSecond\x07 line\r\n\r\n") == "First line\nSecond line"


def test_only_ampersand_and_angle_brackets_are_escaped() -> None:
    assert escape_markup("AT&T <b> \"quoted\" 'x'") == "AT&amp;T &lt;b&gt; \"quoted\" 'x'"


def test_the_channel_renders_down_as_critical_and_until_dismissed_and_others_as_normal() -> None:
    channel = DesktopChannel(timeout_s=20)
    down = channel.render(alert())
    reminder = channel.render(alert(AlertKind.REMINDER, Status.DOWN))
    degraded = channel.render(alert(AlertKind.DEGRADED, Status.DEGRADED))
    recovered = channel.render(alert(AlertKind.RECOVERED, Status.DOWN))
    assert (down.critical, down.timeout_ms, down.stem) == (True, 0, "watchdog-down")
    assert (reminder.critical, reminder.timeout_ms) == (True, 0)
    assert (degraded.critical, degraded.timeout_ms, degraded.stem) == (
        False,
        20_000,
        "watchdog-degraded",
    )
    assert (recovered.critical, recovered.stem) == (False, "watchdog-up")
    assert DesktopChannel().name == "desktop"


def test_the_desktop_channel_is_a_channel_for_the_notifier() -> None:
    channel: Channel = DesktopChannel()  # checked by mypy: the Channel protocol
    assert channel.name == "desktop"
