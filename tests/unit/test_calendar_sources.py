"""A consultant's external calendars as given (services.scheduler.calendars.sources, .credentials)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from services.scheduler.calendars.credentials import CredentialCipher, CredentialsUnreadable
from services.scheduler.calendars.sources import (
    ExternalCalendar,
    access_of,
    input_context,
    with_kept_passwords,
    without_password,
)

KEY = Fernet.generate_key().decode()
CIPHER = CredentialCipher([KEY])


def given(data: dict[str, Any], cipher: CredentialCipher | None = CIPHER) -> ExternalCalendar:
    return ExternalCalendar.model_validate(data, context=input_context(cipher))


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("webcal://p55-caldav.icloud.com/published/2/abc", "https://p55-caldav.icloud.com/published/2/abc"),
        ("WEBCAL://example.dk/cal.ics", "https://example.dk/cal.ics"),
        ("https://outlook.office365.com/owa/calendar/x/reachcalendar.ics", None),
        ("http://127.0.0.1:8000/feed.ics?secret=1", None),
        ("https://example.dk", "https://example.dk/"),
    ],
)
def test_feed_urls_are_kept_and_webcal_means_https(url: str, stored: str | None) -> None:
    source = given({"url": url})
    assert source.url == (stored or url)
    assert source.kind == "feed"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.dk/cal.ics", "https://"),
        ("calendar.ics", "https://"),
        ("https:///cal.ics", "no host"),
        ("https://anne:secret@example.dk/cal.ics", "own fields"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(url: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        given({"url": url})


def test_a_caldav_password_is_sealed_and_never_kept_in_clear() -> None:
    source = given({"url": "https://dav.example.dk/anne/work/", "username": "anne", "password": "hemmelig"})
    assert source.kind == "caldav"
    assert source.password_sealed is not None
    assert "hemmelig" not in source.model_dump_json()
    assert access_of(source, CIPHER).password == "hemmelig"
    assert "hemmelig" not in repr(access_of(source, CIPHER))


def test_without_calendar_key_a_password_is_refused() -> None:
    with pytest.raises(ValidationError, match="CALENDAR_KEY"):
        given({"url": "https://dav.example.dk/", "username": "anne", "password": "x"}, cipher=None)


def test_a_password_needs_a_username() -> None:
    with pytest.raises(ValidationError, match="needs a username"):
        given({"url": "https://dav.example.dk/", "password": "x"})


def test_a_client_cannot_hand_in_a_sealed_password() -> None:
    with pytest.raises(ValidationError, match="password_sealed"):
        given({"url": "https://dav.example.dk/", "username": "anne", "password_sealed": "gAAAA"})


def test_a_stored_source_is_read_back_without_the_key() -> None:
    stored = given({"url": "https://dav.example.dk/", "username": "anne", "password": "x"}).model_dump(mode="json")
    again = ExternalCalendar.model_validate(stored)
    assert again.password_sealed == stored["password_sealed"]


def test_the_id_is_stable_and_depends_on_url_and_username() -> None:
    a = given({"url": "webcal://example.dk/cal.ics"})
    assert a.id == given({"url": "https://example.dk/cal.ics"}).id
    assert a.id != given({"url": "https://example.dk/other.ics"}).id
    assert len(a.id) == 16


def test_a_source_given_again_without_password_keeps_the_stored_one() -> None:
    old = [given({"url": "https://dav.example.dk/", "username": "anne", "password": "x"})]
    new = [given({"url": "https://dav.example.dk/", "username": "anne"}), given({"url": "https://dav.example.dk/b/"})]
    kept = with_kept_passwords(new, old)
    assert kept[0].password_sealed == old[0].password_sealed
    assert without_password(kept) == []
    assert without_password(new) == [0]


def test_another_username_does_not_inherit_the_password() -> None:
    old = [given({"url": "https://dav.example.dk/", "username": "anne", "password": "x"})]
    kept = with_kept_passwords([given({"url": "https://dav.example.dk/", "username": "bo"})], old)
    assert without_password(kept) == [0]


def test_keys_rotate_the_first_seals_all_open() -> None:
    new_key = Fernet.generate_key().decode()
    sealed_with_old = CIPHER.seal("hemmelig")
    rotated = CredentialCipher.from_setting(f"{new_key}, {KEY}")
    assert rotated is not None
    assert rotated.open(sealed_with_old) == "hemmelig"
    assert CredentialCipher([new_key]).open(rotated.seal("x")) == "x"


def test_a_lost_key_is_told_not_crashed() -> None:
    with pytest.raises(CredentialsUnreadable):
        CredentialCipher([Fernet.generate_key().decode()]).open(CIPHER.seal("x"))


def test_bad_or_missing_keys() -> None:
    assert CredentialCipher.from_setting(None) is None
    assert CredentialCipher.from_setting(" ") is None
    with pytest.raises(ValueError, match="url-safe base64"):
        CredentialCipher.from_setting("not-a-key")
