"""Guidance: the short fixes, the step-by-step guides, their data files and their HTML page."""

from __future__ import annotations

import html
import os
import re
import stat
import time
import webbrowser
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from markupsafe import escape

from watchdog.core.classifier import describe
from watchdog.core.guidance import (
    Guide,
    GuideDataError,
    all_guides,
    guide_for,
    link_spans,
    parse_fixes,
    parse_guides,
    phrase,
    short_fix,
)
from watchdog.core.models import Diagnosis
from watchdog.core.providers import all_providers
from watchdog.pages.guide import open_in_browser, render_html, write_guide


@pytest.mark.parametrize("diagnosis", list(Diagnosis))
def test_every_diagnosis_has_a_fix_for_every_provider(diagnosis: Diagnosis) -> None:
    for provider in all_providers():
        fix = short_fix(provider.name, diagnosis)
        assert len(fix) > 10, (provider.name, diagnosis)


@pytest.mark.parametrize("diagnosis", [d for d in Diagnosis if d is not Diagnosis.UNKNOWN], ids=str)
def test_every_diagnosis_has_its_own_fix_never_the_generic_contact_the_provider(
    diagnosis: Diagnosis,
) -> None:
    generic = short_fix("other", Diagnosis.UNKNOWN)
    for provider in all_providers():
        assert short_fix(provider.name, diagnosis) != generic, (provider.name, diagnosis)
    defaults = [short_fix("other", d) for d in Diagnosis]
    assert defaults.count(short_fix("other", diagnosis)) == 1


@pytest.mark.parametrize(
    "diagnosis",
    [
        Diagnosis.SIGNIN_EXPIRED,
        Diagnosis.SEED_MAILBOX_FULL,
        Diagnosis.SEED_ADDRESS_UNKNOWN,
        Diagnosis.SEED_UNREACHABLE,
        Diagnosis.WRONG_SERVER_SETTINGS,
        Diagnosis.RELAY_DENIED,
        Diagnosis.RECIPIENT_UNKNOWN,
        Diagnosis.RECIPIENT_MAILBOX_FULL,
    ],
    ids=str,
)
def test_a_fix_for_a_problem_that_is_not_the_providers_never_says_contact_the_provider(
    diagnosis: Diagnosis,
) -> None:
    for provider in all_providers():
        fix = short_fix(provider.name, diagnosis).lower()
        assert "contact the provider" not in fix and "call the provider" not in fix


@pytest.mark.parametrize(
    "diagnosis", [Diagnosis.RECIPIENT_UNKNOWN, Diagnosis.RECIPIENT_MAILBOX_FULL], ids=str
)
def test_a_fix_about_a_reminders_recipient_speaks_of_the_patient_not_the_history(
    diagnosis: Diagnosis,
) -> None:
    """`watchdog explain` shows it for a reminder the practice software could not send."""
    fix = short_fix("gmail", diagnosis)
    assert "patient" in fix
    assert "practice's account" in fix
    assert "history" not in fix


def test_the_fixes_file_without_a_diagnosis_fails_naming_it() -> None:
    tables = "".join(f'[{d.value}]\ndefault = "Fix {d.value}."\n' for d in Diagnosis)
    assert parse_fixes(tables, "fixes.toml")[Diagnosis.OK] == {"default": "Fix ok."}
    without = tables.replace('[seed_mailbox_full]\ndefault = "Fix seed_mailbox_full."\n', "")
    with pytest.raises(ValueError, match=r"fixes.toml: no fix for seed_mailbox_full"):
        parse_fixes(without, "fixes.toml")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[mailbox_stuffed]\ndefault = "x"\n', r"\[mailbox_stuffed\] is not a diagnosis"),
        ('[ok]\ngmail = "x"\n', r"\[ok\] needs default \(must be text\)"),
        (
            '[ok]\ndefault = "x"\ngmial = "y"\n',
            r"\[ok\] has unknown keys: gmial \(allowed: default, gmail,",
        ),
        ('[ok]\ndefault = ""\n', r"\[ok\] default = '' must be text"),
        ("[ok\n", r"not valid TOML"),
    ],
    ids=["unknown-diagnosis", "no-default", "unknown-provider", "empty-text", "bad-toml"],
)
def test_a_broken_fixes_file_is_refused_with_what_is_wrong(body: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fixes(body, "fixes.toml")


def test_a_provider_line_wins_over_the_default() -> None:
    gmail = short_fix("gmail", Diagnosis.APP_PASSWORD_REQUIRED)
    assert "myaccount.google.com/apppasswords" in gmail
    assert short_fix("other", Diagnosis.APP_PASSWORD_REQUIRED) != gmail


def test_no_fix_sends_people_to_the_retired_gmail_unlock_page() -> None:
    for provider in all_providers():
        for diagnosis in Diagnosis:
            assert "DisplayUnlockCaptcha" not in short_fix(provider.name, diagnosis)


def test_the_offline_fix_does_not_blame_the_provider() -> None:
    assert "not a problem with the mail provider" in short_fix("gmail", Diagnosis.OFFLINE)


# --- step-by-step guides ------------------------------------------------------------------------

_PROVIDERS = [p.name for p in all_providers()]
_EXPECTED_PROVIDERS = ["gmail", "outlook", "microsoft365", "yahoo", "att", "aol", "comcast"]
_EXPECTED_PROVIDERS += ["icloud", "other"]
#: Diagnoses a provider causes, where only a different way of sending helps for good.
_PROVIDER_TROUBLE = {
    Diagnosis.DELAYED,
    Diagnosis.VERIFICATION_REQUIRED,
    Diagnosis.SENDING_LIMIT,
    Diagnosis.SENDER_BLOCKED,
    Diagnosis.RATE_LIMITED,
    Diagnosis.MESSAGE_REJECTED,
    Diagnosis.SILENT_DROP,
    Diagnosis.JUNK_PLACEMENT,
    Diagnosis.UNKNOWN,
}


def _texts(guide: Guide) -> list[str]:
    return [
        guide.title,
        guide.what_happened,
        *guide.steps,
        guide.confirm,
        guide.lasting_fix,
        guide.call_provider,
    ]


def test_guides_cover_the_providers_the_product_owner_listed() -> None:
    assert _PROVIDERS == _EXPECTED_PROVIDERS


def test_all_guides_is_every_provider_times_every_diagnosis_once() -> None:
    guides = all_guides()
    pairs = [(g.provider, g.diagnosis) for g in guides]
    assert len(pairs) == len(set(pairs)) == len(_PROVIDERS) * len(Diagnosis)


@pytest.mark.parametrize("diagnosis", list(Diagnosis))
def test_every_provider_gets_a_complete_guide_for_every_diagnosis(diagnosis: Diagnosis) -> None:
    for provider in all_providers():
        guide = guide_for(provider.name, diagnosis)
        assert guide.provider == provider.name
        assert guide.provider_name == provider.display_name
        assert guide.diagnosis is diagnosis
        assert guide.title and guide.what_happened and guide.lasting_fix
        assert guide.steps and all(len(step) > 20 for step in guide.steps), guide.source
        assert "**Check now**" in guide.confirm, guide.source
        # The front desk acts through the icon (its menu, or its window where the tray has no
        # menu), never through a command (issue 12).
        assert "watchdog check" not in guide.confirm, guide.source
        assert "{" not in " ".join(_texts(guide)), f"unfilled phrase in {guide.source}"


def test_the_ok_guide_says_plainly_that_there_is_nothing_to_do() -> None:
    for provider in _PROVIDERS:
        guide = guide_for(provider, Diagnosis.OK)
        assert not guide.action_needed
        assert guide.steps[0].startswith("Nothing to do")


def test_problems_that_need_a_person_are_marked_action_needed() -> None:
    calm = {g.diagnosis for g in all_guides() if not g.action_needed}
    assert calm == {Diagnosis.OK, Diagnosis.DELAYED, Diagnosis.RATE_LIMITED}


def test_what_happened_defaults_to_the_diagnosis_sentence() -> None:
    assert guide_for("other", Diagnosis.SILENT_DROP).what_happened == describe(
        Diagnosis.SILENT_DROP
    )


def test_a_provider_table_can_say_what_happened_in_its_own_words() -> None:
    outlook = guide_for("outlook", Diagnosis.BASIC_AUTH_DISABLED)
    assert "16 September 2024" in outlook.what_happened


def test_provider_specific_steps_win_over_the_default_steps() -> None:
    gmail = guide_for("gmail", Diagnosis.APP_PASSWORD_REQUIRED)
    other = guide_for("other", Diagnosis.APP_PASSWORD_REQUIRED)
    assert gmail.steps != other.steps
    assert "https://myaccount.google.com/apppasswords" in gmail.links
    assert gmail.source == "guides/app_password_required.toml [gmail]"
    assert other.source == "guides/app_password_required.toml [default]"


def test_a_provider_without_a_table_of_its_own_gets_the_default_guide() -> None:
    comcast = guide_for("comcast", Diagnosis.SENDING_LIMIT)
    other = guide_for("other", Diagnosis.SENDING_LIMIT)
    assert comcast.steps == other.steps and comcast.title == other.title
    assert comcast.provider_name != other.provider_name


def test_a_provider_table_keeps_the_default_for_keys_it_does_not_give() -> None:
    yahoo = guide_for("yahoo", Diagnosis.SENDING_LIMIT)
    default = guide_for("other", Diagnosis.SENDING_LIMIT)
    assert yahoo.steps != default.steps
    assert yahoo.title == default.title and yahoo.confirm == default.confirm


def test_guide_for_accepts_any_case_and_refuses_an_unknown_provider() -> None:
    assert guide_for("  Gmail ", Diagnosis.OK).provider == "gmail"
    with pytest.raises(ValueError, match="unknown mail provider 'gmial'"):
        guide_for("gmial", Diagnosis.OK)


def test_the_shipped_guides_are_read_once_and_cached() -> None:
    assert guide_for("att", Diagnosis.SENDER_BLOCKED) is guide_for("att", Diagnosis.SENDER_BLOCKED)


def test_no_guide_sends_people_to_the_retired_gmail_unlock_page() -> None:
    for guide in all_guides():
        for text in [*_texts(guide), *guide.links]:
            assert "displayunlockcaptcha" not in text.lower(), guide.source


def test_the_offline_guide_says_it_is_not_the_provider() -> None:
    for provider in _PROVIDERS:
        guide = guide_for(provider, Diagnosis.OFFLINE)
        assert "not a problem with the mail provider" in guide.steps[0]


def test_the_seed_unreachable_guide_is_addressed_to_support() -> None:
    guide = guide_for("gmail", Diagnosis.SEED_UNREACHABLE)
    assert "support" in guide.title.lower()
    assert "does not mean reminders have stopped" in guide.steps[0]


@pytest.mark.parametrize("diagnosis", sorted(_PROVIDER_TROUBLE))
def test_the_lasting_fix_for_provider_trouble_is_a_service_meant_for_bulk(
    diagnosis: Diagnosis,
) -> None:
    for provider in _PROVIDERS:
        lasting = guide_for(provider, diagnosis).lasting_fix
        assert "business e-mail plan" in lasting and "sending" in lasting, (provider, diagnosis)


def test_att_guides_give_the_number_to_call_when_only_a_phone_call_helps() -> None:
    assert "866-722-3425" in guide_for("att", Diagnosis.SENDER_BLOCKED).call_provider
    assert guide_for("gmail", Diagnosis.SENDER_BLOCKED).call_provider == ""


def test_links_are_every_address_in_the_texts_in_order_without_repeats() -> None:
    guide = guide_for("gmail", Diagnosis.VERIFICATION_REQUIRED)
    assert guide.links == (
        "https://mail.google.com",
        "https://myaccount.google.com/security",
        "https://support.google.com/mail/answer/78754",
    )


def test_link_spans_leave_sentence_punctuation_outside_the_address() -> None:
    text = "Open (see https://example.org/a/b)."
    assert link_spans(text) == [(10, 33, "https://example.org/a/b")]


#: Every page the guides send people to, in one place: review this list when a provider moves.
_ALL_LINKS = sorted({link for guide in all_guides() for link in guide.links})


def test_the_guides_send_people_to_a_reviewable_number_of_pages() -> None:
    assert 10 <= len(_ALL_LINKS) <= 60


@pytest.mark.parametrize("link", _ALL_LINKS)
def test_every_page_a_guide_links_to_is_a_well_formed_https_address(link: str) -> None:
    parts = urlsplit(link)
    assert parts.scheme == "https"
    assert re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", parts.netloc), parts.netloc
    assert not re.search(r"[\s<>\"'`{}]", link)
    assert not parts.username and not parts.password and not parts.port
    assert link == link.rstrip(".,;:)")


# --- the loader refuses mistakes, naming the file, table and key --------------------------------


def _shipped_files() -> dict[str, str]:
    folder = resources.files("watchdog").joinpath("data", "guides")
    return {
        f.name: f.read_text(encoding="utf-8") for f in folder.iterdir() if f.name.endswith(".toml")
    }


def test_the_shipped_guide_files_parse_on_their_own() -> None:
    guides = parse_guides(_shipped_files())
    assert guides[("gmail", Diagnosis.OK)] == guide_for("gmail", Diagnosis.OK)


_SMALL_GUIDE = """
action_needed = true
[default]
title = "T"
steps = ["Do it."]
confirm = "Then {check_now}."
lasting_fix = "L"
"""


@pytest.mark.parametrize(
    ("file_name", "text", "expected"),
    [
        ("sending_limits.toml", _SMALL_GUIDE, r"guides/sending_limits\.toml: 'sending_limits' is"),
        ("ok.toml", _SMALL_GUIDE + "[gmial]\ntitle = 'x'\n", r"guides/ok\.toml: \[gmial\] is not"),
        ("ok.toml", _SMALL_GUIDE + "stepz = ['x']\n", r"guides/ok\.toml: \[default\] .*stepz"),
        ("ok.toml", _SMALL_GUIDE.replace("{check_now}", "{check_later}"), r"\{check_later\}"),
        (
            "ok.toml",
            _SMALL_GUIDE.replace("Then {check_now}.", "Done."),
            r"ok\.toml: \[default\] confirm",
        ),
        ("ok.toml", _SMALL_GUIDE.replace('"L"', '"See http://x.example"'), r"lasting_fix.*https"),
        ("ok.toml", _SMALL_GUIDE.replace('"L"', '"DisplayUnlockCaptcha"'), r"no longer exists"),
        ("ok.toml", _SMALL_GUIDE.replace("true", "'yes'"), r"ok\.toml: action_needed"),
        (
            "ok.toml",
            _SMALL_GUIDE.replace('["Do it."]', "[]"),
            r"\[default\] steps = \[\] must be a list",
        ),
        ("ok.toml", _SMALL_GUIDE.replace('steps = ["Do it."]\n', ""), r"\[default\] needs steps"),
        ("ok.toml", _SMALL_GUIDE.replace("[default]", "[gmail]"), r"needs a \[default\]"),
        ("ok.toml", _SMALL_GUIDE + "[gmail\n", r"guides/ok\.toml: not valid TOML"),
    ],
)
def test_a_mistake_in_a_guide_file_fails_loudly_naming_where(
    file_name: str, text: str, expected: str
) -> None:
    files = _shipped_files()
    files[file_name] = text
    with pytest.raises(GuideDataError, match=expected):
        parse_guides(files)


def test_a_missing_guide_file_is_named() -> None:
    files = _shipped_files()
    del files["tls_error.toml"]
    with pytest.raises(GuideDataError, match="no guide file for tls_error"):
        parse_guides(files)


def test_an_unknown_shared_phrase_table_is_refused() -> None:
    files = _shipped_files()
    files["_common.toml"] += "\n[phrasez]\nx = 'y'\n"
    with pytest.raises(GuideDataError, match=r"_common\.toml: unknown tables: phrasez"):
        parse_guides(files)


def test_a_phrase_may_not_use_another_phrase() -> None:
    files = _shipped_files()
    files["_common.toml"] += "\nloop = 'see {check_now}'\n"
    with pytest.raises(GuideDataError, match=r"\[phrases\] loop must not use"):
        parse_guides(files)


def test_phrase_gives_the_shared_words_and_names_an_unknown_one() -> None:
    assert "support contact" in phrase("no_support_contact")
    with pytest.raises(ValueError, match="no 'nope'"):
        phrase("nope")


# --- the HTML page ------------------------------------------------------------------------------

_HOSTILE_REPLY = '550 5.7.1 <script>alert("x")</script> it\'s https://evil.example/phish & more'
_NOW = 1_800_000_000.0


def _page(
    guide: Guide | None = None,
    *,
    since: float | None = _NOW - 3 * 3600 - 600,
    office: str = 'Smith & "Jones" <Family> Practice',
    support_contact: str = "Acme IT <help@acme.example>, 555-0100",
    last_reply: str | None = _HOSTILE_REPLY,
) -> str:
    return render_html(
        guide or guide_for("att", Diagnosis.SENDER_BLOCKED),
        since=since,
        office=office,
        support_contact=support_contact,
        last_reply=last_reply,
        generated_at=_NOW,
    )


def _hrefs(page: str) -> set[str]:
    return {html.unescape(h) for h in re.findall(r'href="([^"]*)"', page)}


def test_the_page_shows_a_hostile_server_reply_as_escaped_text_for_support() -> None:
    page = _page()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; it&#39;s" in page
    assert "<script" not in page.lower()
    assert f"<pre>{escape(_HOSTILE_REPLY)}</pre>" in page


def test_addresses_in_server_text_office_and_contact_are_never_made_into_links() -> None:
    page = _page(
        office="Evil https://evil.example/office", support_contact="https://evil.example/x"
    )
    assert not any("evil" in href for href in _hrefs(page))
    assert "Evil https://evil.example/office" in page


def test_office_and_support_contact_are_escaped() -> None:
    page = _page()
    assert "Smith &amp; &#34;Jones&#34; &lt;Family&gt; Practice" in page
    assert "Acme IT &lt;help@acme.example&gt;, 555-0100" in page
    assert "<Family>" not in page and "<help@" not in page


@pytest.mark.parametrize("guide", all_guides(), ids=lambda g: f"{g.provider}-{g.diagnosis}")
def test_every_guide_page_links_exactly_its_own_data_addresses_and_loads_nothing(
    guide: Guide,
) -> None:
    page = _page(guide)
    assert _hrefs(page) == set(guide.links)
    assert "<script" not in page.lower()
    assert not re.search(r"<(link|img|iframe|object|embed|base)\b", page, re.IGNORECASE)
    assert not re.search(r"\bsrc\s*=", page, re.IGNORECASE)
    assert not re.search(r"@import|url\(", page, re.IGNORECASE)
    assert page.count("<li>") == len(guide.steps)
    for link in guide.links:
        assert f'<a href="{escape(link)}">{escape(link)}</a>' in page


def test_the_page_forbids_scripts_and_remote_loads_even_if_something_slipped_in() -> None:
    page = _page()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_the_page_uses_relative_sizes_a_readable_width_and_wraps_long_addresses() -> None:
    page = _page()
    sizes = re.findall(r"font-size:\s*([^;}]+)", page)
    assert sizes and all(re.fullmatch(r"[\d.]+(rem|em|%|pt)", s.strip()) for s in sizes), sizes
    assert "max-width: 44rem" in page
    assert 'name="viewport"' in page
    assert "overflow-wrap: anywhere" in page  # long addresses wrap instead of widening the page
    assert not re.search(r"\b(width|max-width|min-width):\s*\d+px", page)


def test_the_page_turns_light_markup_into_html() -> None:
    page = _page(guide_for("gmail", Diagnosis.SENDING_LIMIT))
    assert "<strong>Check now</strong>" in page
    assert "<code>" in page  # `code` still becomes <code> (support steps name settings)
    assert "**" not in page and "`" not in page


def test_the_page_says_since_when_in_words() -> None:
    page = _page()
    t = time.localtime(_NOW - 3 * 3600 - 600)
    assert f"{time.strftime('%A', t)} {t.tm_mday} {time.strftime('%B %Y', t)}" in page
    assert "(3 hours 10 minutes ago)" in page


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (20, "just now"),
        (60, "1 minute ago"),
        (25 * 3600, "25 hours ago"),
        (3 * 86400, "3 days ago"),
    ],
)
def test_how_long_ago_is_rounded_the_way_people_say_it(seconds: float, words: str) -> None:
    assert f"({words})" in _page(since=_NOW - seconds)


def test_an_unknown_start_is_said_plainly() -> None:
    assert "not known yet." in _page(since=None)


def test_without_a_support_contact_the_page_says_who_to_ask() -> None:
    page = _page(support_contact="  ")
    assert escape(phrase("no_support_contact")) in page
    assert "Support:</span>" not in page


def test_the_page_gives_the_providers_own_number_when_it_has_one() -> None:
    assert "866-722-3425" in _page(guide_for("att", Diagnosis.SENDER_BLOCKED))


def test_without_a_server_reply_there_is_no_empty_support_box() -> None:
    assert "<pre>" not in _page(last_reply=None)
    assert "<pre>" not in _page(last_reply=" \n")


def test_the_ok_page_does_not_speak_of_fixing() -> None:
    page = _page(guide_for("gmail", Diagnosis.OK), last_reply=None)
    assert "No action needed right now" in page
    assert "fixed" not in page and "keeps happening" not in page


def test_the_page_says_where_its_text_is_edited() -> None:
    assert "guides/sender_blocked.toml [att]" in _page()


def test_write_guide_writes_the_page_readable_by_all_and_replaces_an_old_one(
    tmp_path: Path,
) -> None:
    target = tmp_path / "new" / "guide.html"
    write_guide(target, "old")
    path = write_guide(target, "<p>new</p>")
    assert path == target.resolve() and path.is_absolute()
    assert path.read_text(encoding="utf-8") == "<p>new</p>"
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["guide.html"]  # no temporary file left


def test_open_in_browser_opens_the_file_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []

    def fake_open(uri: str) -> bool:
        opened.append(uri)
        return True

    monkeypatch.setattr(webbrowser, "open", fake_open)
    assert open_in_browser(tmp_path / "guide.html") is True
    assert opened == [(tmp_path / "guide.html").resolve().as_uri()]


def test_open_in_browser_returns_false_without_a_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_browser(uri: str) -> bool:
        raise webbrowser.Error("could not locate runnable browser")

    monkeypatch.setattr(webbrowser, "open", no_browser)
    assert open_in_browser(tmp_path / "guide.html") is False
    monkeypatch.setattr(webbrowser, "open", lambda uri: False)
    assert open_in_browser(tmp_path / "guide.html") is False


def test_the_docs_list_every_guide_with_its_title_and_own_texts() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "guides.md"
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \| (.+?) \|$", docs.read_text("utf-8"), re.MULTILINE)
    listed = {name: (title, own) for name, title, own in rows}
    for diagnosis in Diagnosis:
        guides = [g for g in all_guides() if g.diagnosis is diagnosis]
        own = [g.provider for g in guides if not g.source.endswith("[default]")]
        title = guide_for("other", diagnosis).title
        assert listed.get(diagnosis.value) == (title, ", ".join(own) or "—"), diagnosis.value
