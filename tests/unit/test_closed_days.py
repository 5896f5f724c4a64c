"""Days without talks: Denmark's public holidays (fixed and Easter-based, computed for any year) and
the organisation's closing days, refused at intake with the day's name and never used by the
scheduler, neither for a placement nor for an alternative. Pure: no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from services.booking.domain import BookingRules, check_starts
from services.scheduler.domain import (
    Consultant,
    DictCalendar,
    NoPlacement,
    SearchLimits,
    TalkRequest,
    available_starts,
    place,
)
from shared.contracts.closed_days import ClosedDays, parse_closing_days
from shared.infra.settings import Settings
from shared.text.localtime import localize, to_local

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
DENMARK = ClosedDays()

# The holidays the issue found talks placed on, in two years: the fixed ones and those that move with Easter.
HOLIDAYS = {
    2027: {
        date(2027, 1, 1): "Nytårsdag",
        date(2027, 3, 25): "Skærtorsdag",
        date(2027, 3, 26): "Langfredag",
        date(2027, 3, 29): "Anden påskedag",
        date(2027, 5, 6): "Kristi himmelfartsdag",
        date(2027, 5, 17): "Anden pinsedag",
        date(2027, 12, 25): "Juledag",
    },
    2028: {
        date(2028, 1, 1): "Nytårsdag",
        date(2028, 4, 13): "Skærtorsdag",
        date(2028, 4, 14): "Langfredag",
        date(2028, 4, 17): "Anden påskedag",
        date(2028, 5, 25): "Kristi himmelfartsdag",
        date(2028, 6, 5): "Anden pinsedag",  # also Grundlovsdag, a closing day: named as the holiday
        date(2028, 12, 25): "Juledag",
    },
}
ALL_HOLIDAYS = [(day, name) for year in HOLIDAYS.values() for day, name in year.items()]


@pytest.mark.parametrize(("day", "name"), ALL_HOLIDAYS)
def test_public_holidays_fixed_and_easter_based_are_closed_with_their_danish_name(day: date, name: str) -> None:
    closed = DENMARK.on(day)
    assert closed is not None and closed.kind == "holiday"
    assert closed.name("da") == name


def test_holidays_have_english_names_too() -> None:
    assert DENMARK.on(date(2027, 12, 25)).name("en") == "Christmas Day"  # type: ignore[union-attr]
    assert DENMARK.on(date(2028, 4, 14)).name("en") == "Good Friday"  # type: ignore[union-attr]


def test_the_days_around_the_holidays_are_open() -> None:
    for day in (date(2027, 3, 24), date(2027, 3, 30), date(2027, 5, 7), date(2028, 4, 18), date(2027, 12, 27)):
        assert DENMARK.on(day) is None, day


def test_the_default_closing_days_are_christmas_eve_new_years_eve_and_constitution_day() -> None:
    for day, da, en in (
        (date(2027, 12, 24), "Juleaftensdag", "Christmas Eve"),
        (date(2027, 12, 31), "Nytårsaften", "New Year's Eve"),
        (date(2027, 6, 5), "Grundlovsdag", "Constitution Day"),
        (date(2029, 6, 5), "Grundlovsdag", "Constitution Day"),
    ):
        closed = DENMARK.on(day)
        assert closed is not None and closed.kind == "closing_day"
        assert (closed.name("da"), closed.name("en")) == (da, en)


def test_closing_days_come_from_the_setting_recurring_and_one_off_with_or_without_a_name() -> None:
    closed = Settings(closing_days="12-24, 2027-08-13=Personaledag, 07-15").closed_days
    assert closed.on(date(2027, 8, 13)).name("da") == "Personaledag"  # type: ignore[union-attr]
    assert closed.on(date(2028, 8, 13)) is None  # one-off
    assert closed.on(date(2027, 7, 15)).name("da") == "Lukkedag"  # type: ignore[union-attr]
    assert closed.on(date(2030, 7, 15)).name("en") == "Closing day"  # type: ignore[union-attr]
    assert closed.on(date(2027, 12, 31)) is None  # not in this setting
    assert closed.on(date(2027, 12, 25)) is not None  # the holidays stay


@pytest.mark.parametrize("wrong", ["24-12", "2027-02-30", "12/24", "tomorrow", "12-24=", "13-01"])
def test_a_wrong_closing_day_setting_is_refused_at_start_naming_the_entry(wrong: str) -> None:
    with pytest.raises(ValueError, match="closing day"):
        parse_closing_days(f"06-05,{wrong}")


# --- the booking's intake -----------------------------------------------------------------------------


RULES = BookingRules()


def starts_error(text: str, lang: str = "da", rules: BookingRules = RULES) -> str:
    _, errors = check_starts([text], 120, now=NOW, rules=rules)
    assert len(errors) == 1, errors
    assert errors[0].field == "preferred_starts.0"
    return errors[0].message(lang)


@pytest.mark.parametrize(("day", "name"), ALL_HOLIDAYS)
def test_a_desired_time_on_a_holiday_is_refused_naming_the_holiday(day: date, name: str) -> None:
    if day.weekday() >= 5 or day > date(2027, 12, 31):  # a weekend is refused as such; 2028 is too far ahead
        return
    message = starts_error(f"{day.isoformat()}T10:00")
    assert f"helligdag ({name})" in message


def test_the_holiday_is_named_in_english_for_an_english_request() -> None:
    message = starts_error("2027-03-26T10:00", "en")
    assert "(Good Friday)" in message and "holiday" in message


def test_a_desired_time_on_a_closing_day_is_refused_naming_it() -> None:
    assert "lukkedag (Juleaftensdag)" in starts_error("2027-12-24T10:00")
    custom = BookingRules(closed=ClosedDays.from_setting("2027-08-13=Personaledag"))
    assert "lukkedag (Personaledag)" in starts_error("2027-08-13T10:00", rules=custom)
    assert "closing day (Personaledag)" in starts_error("2027-08-13T10:00", "en", rules=custom)


def test_the_day_before_a_holiday_is_accepted() -> None:
    parsed, errors = check_starts(["2027-03-24T10:00"], 120, now=NOW, rules=BookingRules())
    assert errors == [] and len(parsed) == 1


# --- the scheduler --------------------------------------------------------------------------------------


def consultant() -> Consultant:
    return Consultant(
        id="c1", name="Konsulent", email="c1@example.dk", phone=None,
        working_hours={weekday: (time(8), time(16)) for weekday in range(5)},
    )


def local(day: date, hour: int) -> datetime:
    return localize(datetime.combine(day, time(hour))).astimezone(UTC)


@pytest.mark.parametrize(("day", "name"), [item for item in ALL_HOLIDAYS if item[0].weekday() < 5])
def test_the_scheduler_never_places_a_talk_on_a_holiday(day: date, name: str) -> None:
    now = local(day, 10) - timedelta(days=60)
    request = TalkRequest("b1", "selvledelse", timedelta(hours=2), (local(day, 10),))
    result = place(request, [consultant()], DictCalendar(), now=now)
    assert isinstance(result, NoPlacement)
    assert name in result.reason
    assert result.alternatives, "other days are proposed"
    assert all(DENMARK.on(to_local(start).date()) is None for start in result.alternatives)


def test_alternatives_skip_the_easter_days_and_closing_days() -> None:
    busy_tuesday = date(2027, 3, 23)
    consultant_away = Consultant(
        id="c1", name="Konsulent", email="c1@example.dk", phone=None,
        working_hours={weekday: (time(8), time(16)) for weekday in range(5)},
        absences=((busy_tuesday, busy_tuesday),),
    )
    request = TalkRequest("b1", "selvledelse", timedelta(hours=2), (local(busy_tuesday, 10),))
    result = place(request, [consultant_away], DictCalendar(), now=NOW, limits=SearchLimits(alternatives=10))
    assert isinstance(result, NoPlacement)
    days = {to_local(start).date() for start in result.alternatives}
    assert days and not days & {date(2027, 3, 25), date(2027, 3, 26), date(2027, 3, 29)}


def test_free_starts_leave_out_holidays_and_closing_days() -> None:
    week = [date(2027, 12, 20) + timedelta(days=offset) for offset in range(14)]
    free = available_starts("selvledelse", timedelta(hours=2), week, [consultant()], DictCalendar(), now=NOW)
    days = {to_local(choice.start).date() for choice in free}
    assert days == {date(2027, 12, 20), date(2027, 12, 21), date(2027, 12, 22), date(2027, 12, 23),
                    date(2027, 12, 27), date(2027, 12, 28), date(2027, 12, 29), date(2027, 12, 30)}
    # with no closing days configured, 24 and 31 December are working days again
    open_limits = SearchLimits(closed=ClosedDays.from_setting(""))
    free = available_starts("selvledelse", timedelta(hours=2), week, [consultant()], DictCalendar(), now=NOW,
                            limits=open_limits)
    assert {date(2027, 12, 24), date(2027, 12, 31)} <= {to_local(choice.start).date() for choice in free}
