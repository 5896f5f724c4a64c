"""The booking rules (``services.booking.domain``), pure: a fixed ``now``, no I/O.

Each refused request must name the wrong field and say, in Danish, what is wrong with it.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from services.booking.domain import (
    BookingRules,
    FieldError,
    InvalidBooking,
    check_starts,
    parse_booking,
)
from shared.contracts.models import BookingDetails

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Copenhagen
RULES = BookingRules()

VALID: dict[str, Any] = {
    "workplace": {"name": "Bostedet Lindely", "address": "Skovvej 12", "postcode": "8000", "city": "Aarhus C"},
    "contact": {"name": "Mette Hansen", "email": "mette@example.dk", "phone": "+45 20 30 40 50"},
    "theme": "selvledelse",
    "setting": "staff_meeting",
    "participants": 18,
    "duration_minutes": 120,
    "preferred_starts": ["2027-03-02T13:00", "2027-06-01T13:00"],
    "notes": "Vi holder personalemøde i fællesrummet.",
}


def request(**changes: Any) -> dict[str, Any]:
    """The valid request with some top-level fields replaced."""
    raw = copy.deepcopy(VALID)
    raw.update(changes)
    return raw


def nested(group: str, **changes: Any) -> dict[str, Any]:
    """The valid request with fields of ``workplace`` or ``contact`` replaced."""
    raw = copy.deepcopy(VALID)
    raw[group].update(changes)
    return raw


def starts(*texts: str, duration: int = 120) -> dict[str, Any]:
    return request(preferred_starts=list(texts), duration_minutes=duration)


def errors(raw: object, lang: str = "da", rules: BookingRules = RULES) -> dict[str, str]:
    """Field path -> message of every error the request is refused with."""
    with pytest.raises(InvalidBooking) as refused:
        parse_booking(raw, now=NOW, rules=rules)
    found = {error.field: error.message(lang) for error in refused.value.errors}
    assert found, "InvalidBooking without any field error"
    return found


def only_error(raw: object, lang: str = "da") -> tuple[str, str]:
    found = errors(raw, lang)
    assert len(found) == 1, found
    return next(iter(found.items()))


# --- a valid request ---------------------------------------------------------------------------------


def test_valid_request_parses_to_booking_details_with_utc_starts() -> None:
    details = parse_booking(request(), now=NOW, rules=RULES)

    assert isinstance(details, BookingDetails)
    assert details.theme == "selvledelse"
    assert details.setting == "staff_meeting"
    assert details.participants == 18
    assert details.duration_minutes == 120
    assert details.workplace.postcode == "8000"
    assert details.contact.phone == "+4520304050"
    assert details.notes == "Vi holder personalemøde i fællesrummet."
    assert details.language == "da"
    # 13:00 in Copenhagen is 12:00 UTC in winter (CET) and 11:00 UTC in summer (CEST).
    assert details.preferred_starts == (
        datetime(2027, 3, 2, 12, 0, tzinfo=UTC),
        datetime(2027, 6, 1, 11, 0, tzinfo=UTC),
    )
    assert all(start.utcoffset() == timedelta(0) for start in details.preferred_starts)


def test_start_with_an_explicit_offset_is_taken_as_given() -> None:
    details = parse_booking(starts("2027-03-02T13:00+00:00"), now=NOW, rules=RULES)
    assert details.preferred_starts == (datetime(2027, 3, 2, 13, 0, tzinfo=UTC),)


@pytest.mark.parametrize("duration", [90, 105, 120])
def test_every_duration_from_90_to_120_minutes_is_accepted(duration: int) -> None:
    assert parse_booking(request(duration_minutes=duration), now=NOW, rules=RULES).duration_minutes == duration


@pytest.mark.parametrize("participants", [1, 500])
def test_participants_limits_are_inclusive(participants: int) -> None:
    assert parse_booking(request(participants=participants), now=NOW, rules=RULES).participants == participants


def test_work_environment_group_setting_and_english_language_are_accepted() -> None:
    details = parse_booking(request(setting="work_environment_group", language="en"), now=NOW, rules=RULES)
    assert (details.setting, details.language) == ("work_environment_group", "en")


def test_three_starts_at_the_edges_of_the_bookable_day_are_accepted() -> None:
    # 08:00 start, and a 120-minute talk at 15:00 ends exactly at 17:00.
    details = parse_booking(starts("2027-03-02T08:00", "2027-03-02T15:00", "2027-03-03T10:00"), now=NOW, rules=RULES)
    assert len(details.preferred_starts) == 3


def test_notice_and_horizon_limits_are_inclusive() -> None:
    # NOW + 14 days is 2027-01-18 10:00 local; NOW + 365 days is 2028-01-04 10:00 local.
    details = parse_booking(starts("2027-01-18T10:00", "2028-01-04T10:00"), now=NOW, rules=RULES)
    assert details.preferred_starts == (NOW + timedelta(days=14), NOW + timedelta(days=365))


# --- theme: exactly one from the catalogue -----------------------------------------------------------


@pytest.mark.parametrize(
    "theme",
    [["selvledelse", "smidighed"], "stress-og-trivsel", {"id": "selvledelse"}],
    ids=["list", "unknown-id", "object"],
)
def test_theme_must_be_exactly_one_from_the_catalogue(theme: Any) -> None:
    field, message = only_error(request(theme=theme))

    assert field == "theme"
    assert "ét tema pr. oplæg" in message  # one theme per talk ...
    assert "book et oplæg mere" in message  # ... and book another talk for another theme


def test_theme_message_in_english() -> None:
    _, message = only_error(request(theme=["selvledelse", "smidighed"]), lang="en")
    assert "one theme per talk" in message
    assert "book another talk" in message


def test_missing_theme_is_reported() -> None:
    raw = request()
    del raw["theme"]
    assert errors(raw) == {
        "theme": "Vælg præcis ét tema fra kataloget – der er ét tema pr. oplæg. "
        "Ønsker I et andet tema, så book et oplæg mere."
    }


# --- duration, participants, setting ------------------------------------------------------------------


@pytest.mark.parametrize("duration", [89, 121, "120", 120.5, True], ids=repr)
def test_duration_outside_90_to_120_whole_minutes_is_refused(duration: Any) -> None:
    field, message = only_error(request(duration_minutes=duration))
    assert field == "duration_minutes"
    assert "90 til 120 minutter" in message


@pytest.mark.parametrize("participants", [0, 501, "18", 18.5], ids=repr)
def test_participants_must_be_a_whole_number_from_1_to_500(participants: Any) -> None:
    field, message = only_error(request(participants=participants))
    assert field == "participants"
    assert "helt tal fra 1 til 500" in message


def test_unknown_setting_is_refused() -> None:
    field, message = only_error(request(setting="cafe"))
    assert field == "setting"
    assert "personalemøde" in message and "arbejdsmiljøgruppen" in message


# --- desired start times ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "texts",
    [[], ["2027-03-02T09:00", "2027-03-03T09:00", "2027-03-04T09:00", "2027-03-05T09:00"]],
    ids=["none", "four"],
)
def test_one_to_three_starts_are_required(texts: list[str]) -> None:
    field, message = only_error(starts(*texts))
    assert field == "preferred_starts"
    assert "1 til 3" in message


def test_the_same_instant_written_twice_is_a_duplicate() -> None:
    # 13:00 Copenhagen time in March is 13:00+01:00: the same moment, with and without offset.
    field, message = only_error(starts("2027-03-02T13:00", "2027-03-02T13:00+01:00"))
    assert field == "preferred_starts.1"
    assert "to gange" in message


@pytest.mark.parametrize("text", ["next tuesday", "2027-13-02T13:00", "02-03-2027 13:00", ""], ids=repr)
def test_start_in_a_garbage_format_is_refused(text: str) -> None:
    field, message = only_error(starts(text))
    assert field == "preferred_starts.0"
    assert "Ugyldigt tidspunkt" in message and "2027-03-02T13:00" in message  # says what to write


def test_start_that_is_not_a_string_is_refused() -> None:
    field, message = only_error(request(preferred_starts=[20270302]))
    assert field == "preferred_starts"
    assert "liste af tidspunkter" in message


def test_local_time_skipped_by_the_spring_dst_change_is_refused() -> None:
    # The clocks go from 02:00 to 03:00 on 2027-03-28: 02:30 never happens.
    field, message = only_error(starts("2027-03-28T02:30"))
    assert field == "preferred_starts.0"
    assert "findes ikke" in message and "sommertid" in message


def test_ambiguous_autumn_time_is_handled_without_crashing() -> None:
    # 02:30 on 2027-10-31 happens twice (CEST, then CET). It is a Sunday night, so it is refused,
    # but with a field message, not an exception escaping the rules.
    for text in ("2027-10-31T02:30", "2027-10-31T02:30+02:00", "2027-10-31T02:30+01:00"):
        assert set(errors(starts(text))) == {"preferred_starts.0"}


def test_weekend_is_refused() -> None:
    field, message = only_error(starts("2027-03-06T10:00"))  # a Saturday
    assert field == "preferred_starts.0"
    assert "hverdage" in message


@pytest.mark.parametrize(
    ("text", "duration"),
    [("2027-03-02T07:30", 90), ("2027-03-02T15:30", 120)],
    ids=["starts-before-08", "ends-after-17"],
)
def test_talk_must_start_and_end_inside_bookable_hours(text: str, duration: int) -> None:
    field, message = only_error(starts(text, duration=duration))
    assert field == "preferred_starts.0"
    assert "08.00" in message and "17.00" in message


def test_less_than_14_days_ahead_is_refused() -> None:
    field, message = only_error(starts("2027-01-15T10:00"))
    assert field == "preferred_starts.0"
    assert "mindst 14 dage" in message


def test_more_than_365_days_ahead_is_refused() -> None:
    field, message = only_error(starts("2028-01-05T10:00"))
    assert field == "preferred_starts.0"
    assert "højst ligge 365 dage" in message


def test_each_wrong_start_is_reported_at_its_own_position() -> None:
    found = errors(starts("2027-03-02T13:00", "2027-03-06T10:00", "2027-01-15T10:00"))
    assert set(found) == {"preferred_starts.1", "preferred_starts.2"}


def test_configured_rules_change_the_limits_and_the_message() -> None:
    rules = BookingRules(min_notice=timedelta(days=30), day_start=time(9, 0), day_end=time(15, 0))
    found = errors(starts("2027-01-25T10:00", "2027-03-02T08:30"), rules=rules)
    assert "mindst 30 dage" in found["preferred_starts.0"]
    assert "09.00" in found["preferred_starts.1"] and "15.00" in found["preferred_starts.1"]


def test_check_starts_returns_utc_starts_and_no_errors_for_good_times() -> None:
    parsed, problems = check_starts(["2027-06-01T13:00"], 90, now=NOW, rules=RULES)
    assert parsed == [datetime(2027, 6, 1, 11, 0, tzinfo=UTC)]
    assert problems == []


# --- who and where ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["mette@", "mette.example.dk", "mette@@example.dk", "mette@example"])
def test_email_syntax_is_checked(email: str) -> None:
    field, message = only_error(nested("contact", email=email))
    assert field == "contact.email"
    assert "Ugyldig e-mailadresse" in message


@pytest.mark.parametrize(
    ("raw", "e164"),
    [("20 30 40 50", "+4520304050"), ("+45 20 30 40 50", "+4520304050"), ("+46 70 123 45 67", "+46701234567")],
)
def test_phone_danish_8_digits_or_international_is_normalised_to_e164(raw: str, e164: str) -> None:
    rules = replace(RULES, phone_countries=("DK", "SE"))
    assert parse_booking(nested("contact", phone=raw), now=NOW, rules=rules).contact.phone == e164


def test_a_number_of_a_country_sms_does_not_go_to_is_refused() -> None:
    field, message = only_error(nested("contact", phone="+46 70 123 45 67"))
    assert field == "contact.phone"
    assert message == "Vi kan kun sende SMS til telefonnumre fra +45 (DK). Angiv et sådant nummer."


@pytest.mark.parametrize("phone", ["1234", "123456789", "+45 1234", "ring til mig"])
def test_phone_that_is_neither_danish_nor_international_is_refused(phone: str) -> None:
    field, message = only_error(nested("contact", phone=phone))
    assert field == "contact.phone"
    assert "8 cifre" in message and "+landekode" in message


@pytest.mark.parametrize("postcode", ["800", "80000", "8OOO"])
def test_postcode_must_be_4_digits(postcode: str) -> None:
    field, message = only_error(nested("workplace", postcode=postcode))
    assert field == "workplace.postcode"
    assert "4 cifre" in message


def test_over_long_name_is_refused() -> None:
    field, message = only_error(nested("workplace", name="x" * 201))
    assert field == "workplace.name"
    assert "højst være 200 tegn" in message


def test_empty_required_text_is_refused() -> None:
    field, message = only_error(nested("contact", name="   "))
    assert field == "contact.name"
    assert message == "Skal udfyldes."


def test_over_long_notes_are_refused() -> None:
    field, message = only_error(request(notes="x" * 2001))
    assert field == "notes"
    assert "2000 tegn" in message


# --- structure: nothing unexpected reaches the database ----------------------------------------------------


def test_unknown_top_level_field_is_refused() -> None:
    field, message = only_error(request(priority="high"))
    assert field == "priority"
    assert "Ukendt felt" in message


@pytest.mark.parametrize("key", ["$where", "$gt"])
def test_operator_key_at_top_level_is_refused(key: str) -> None:
    field, message = only_error(request(**{key: "1 == 1"}))
    assert field == key
    assert "Ukendt felt" in message


def test_operator_key_inside_workplace_is_refused() -> None:
    field, _ = only_error(nested("workplace", **{"$gt": ""}))
    assert field == "workplace.$gt"


def test_operator_object_where_a_string_belongs_is_refused() -> None:
    field, message = only_error(nested("contact", name={"$ne": 1}))
    assert field == "contact.name"
    assert "tekst" in message


def test_number_where_a_string_belongs_is_refused() -> None:
    field, _ = only_error(nested("workplace", postcode=8000))
    assert field == "workplace.postcode"


@pytest.mark.parametrize("body", [[VALID], "booking", None, 42], ids=["list", "string", "null", "number"])
def test_non_object_body_is_refused(body: object) -> None:
    field, message = only_error(body)
    assert field == "body"
    assert "objekt" in message


def test_every_problem_is_reported_at_once() -> None:
    raw = request(theme="ukendt", participants=0, duration_minutes=60, preferred_starts=["2027-03-06T10:00"])
    raw["contact"]["email"] = "nope"
    assert set(errors(raw)) == {"theme", "participants", "duration_minutes", "preferred_starts.0", "contact.email"}


# --- English messages and the JSON shape ------------------------------------------------------------------


def test_messages_in_english() -> None:
    raw = request(participants=0, preferred_starts=["2027-03-06T10:00"])
    raw["workplace"]["postcode"] = "800"
    found = errors(raw, lang="en")
    assert found == {
        "participants": "The number of participants must be a whole number from 1 to 500.",
        "preferred_starts.0": "Talks are held on weekdays (Monday to Friday).",
        "workplace.postcode": "The postcode must be 4 digits.",
    }


def test_field_error_as_json() -> None:
    error = FieldError("contact.email", "email")
    assert error.as_json() == {"field": "contact.email", "message": "Ugyldig e-mailadresse, fx navn@arbejdsplads.dk."}
    assert error.as_json("en") == {
        "field": "contact.email",
        "message": "Invalid e-mail address, e.g. name@workplace.dk.",
    }


def test_field_error_as_json_fills_in_parameters_and_falls_back_for_unknown_codes() -> None:
    too_long = FieldError("workplace.city", "string_too_long", {"max_length": 100})
    assert too_long.as_json() == {"field": "workplace.city", "message": "Må højst være 100 tegn."}
    assert FieldError("x", "no_such_code").as_json("en") == {"field": "x", "message": "Invalid value."}
