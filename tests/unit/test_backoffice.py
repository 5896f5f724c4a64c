"""The back office's plain parts: the CSV export guards against formulas, the list's filter is parsed
with errors per field, the calendar's periods, the statistics' counts, and the scheduler's verdict on
an admin's fixed placement names why not."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from services.booking.backoffice.calendar import period
from services.booking.backoffice.export import bookings_csv, safe_cell
from services.booking.backoffice.queries import parse_filter
from services.booking.backoffice.statistics import compute
from services.booking.domain import Booking
from services.scheduler.domain import Consultant, DictCalendar, SearchLimits, Talk
from services.scheduler.fixed import judge
from shared.contracts.models import BookingDetails, ConsultantRef, Contact, Slot, Workplace
from shared.text.localtime import LOCAL_TZ


def booking(name: str = "Bostedet", *, created: datetime, start: datetime | None = None, status: str = "received",
            setting: str = "staff_meeting") -> Booking:
    details = BookingDetails(
        workplace=Workplace(name=name, address="Skovvej 12", postcode="8000", city="Aarhus C"),
        contact=Contact(name="Mette", email="mette@example.dk", phone="+4520304050"),
        theme="selvledelse", setting=setting, participants=10, duration_minutes=120,
        preferred_starts=(created + timedelta(days=20),), notes="", language="da",
    )
    slot = None
    if start:
        slot = Slot(consultant=ConsultantRef(id="anne", name="Anne Kragh", email="anne@example.dk", phone=None),
                    start=start, end=start + timedelta(hours=2))
    return Booking(id="ABCD-EFGH", secret="s", status_url="u", status=status, details=details,  # type: ignore[arg-type]
                   created_at=created, updated_at=created, history=(), slot=slot)


def test_cells_a_spreadsheet_would_run_as_formulas_get_an_apostrophe() -> None:
    assert safe_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert [safe_cell(v) for v in ("+45", "-1", "@SUM(A1)", "\tx", "Bostedet", 18)] == [
        "'+45", "'-1", "'@SUM(A1)", "'\tx", "Bostedet", "18"]
    text = bookings_csv([booking("=cmd|' /C calc'!A0", created=datetime(2027, 3, 1, tzinfo=UTC))], "da",
                        lambda c: c, lambda s: s)
    assert text.startswith("\ufeffNr.;Status;")
    assert ";'=cmd|' /C calc'!A0;" in text


def test_the_filter_keeps_what_is_right_and_names_what_is_wrong() -> None:
    where, errors = parse_filter({"q": " lindely ", "status": "scheduled", "theme": "nope", "from": "2027-03-10",
                                  "to": "2027-03-01"})
    assert (where.text, where.status, where.theme, where.first, where.last) == (
        "lindely", "scheduled", None, date(2027, 3, 10), None)
    assert errors == {"theme": "invalid", "to": "window_order"}
    assert parse_filter({"from": "10/3"})[1] == {"from": "date_format"}


def test_a_week_starts_on_monday_and_a_month_shows_whole_weeks() -> None:
    assert period("week", date(2027, 3, 4)) == (date(2027, 3, 1), date(2027, 3, 7))
    assert period("month", date(2027, 2, 14)) == (date(2027, 2, 1), date(2027, 2, 28))
    assert period("month", date(2027, 3, 14)) == (date(2027, 3, 1), date(2027, 4, 4))


def test_statistics_count_talks_requests_and_lead_time_per_month() -> None:
    march = datetime(2027, 3, 1, 9, tzinfo=UTC)
    bookings = [
        booking(created=march, start=march + timedelta(days=20), status="scheduled"),
        booking(created=march, start=march + timedelta(days=40), status="scheduled", setting="work_environment_group"),
        booking(created=march + timedelta(days=2), status="cancelled"),
    ]
    figures = compute(bookings, date(2027, 3, 1), date(2027, 4, 30))
    assert figures.months == ["2027-03", "2027-04"]
    assert figures.per_theme_month == {"selvledelse": {"2027-03": 1, "2027-04": 1}}
    assert figures.per_setting == {"staff_meeting": 1, "work_environment_group": 1}
    assert figures.flow["requested"] == {"2027-03": 3, "2027-04": 0}
    assert figures.flow["placed"]["2027-03"] == 2 and figures.flow["cancelled"]["2027-03"] == 1
    assert figures.lead_days == [20, 40] and figures.median_lead_days == 30
    assert figures.per_consultant == {"Anne Kragh": 2}


def local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=LOCAL_TZ)


def test_the_verdict_on_a_fixed_placement_says_why_not_and_what_is_in_the_way() -> None:
    tuesday = date(2027, 3, 2)
    anne = Consultant("anne", "Anne", "a@x.dk", None, {d: (time(8), time(16)) for d in range(5)},
                      absences=((date(2027, 3, 3), date(2027, 3, 3)),), themes=frozenset({"smidighed"}))
    calendar = DictCalendar.from_talks([("anne", Talk("OTHER", local(tuesday, 9), local(tuesday, 11)))])
    now = datetime(2027, 1, 1, tzinfo=UTC)
    limits = SearchLimits()

    def verdict(start: datetime):  # type: ignore[no-untyped-def]
        return judge(anne, start, start + timedelta(hours=2), calendar, booking_id="MINE", theme="selvledelse",
                     now=now, limits=limits)

    close = verdict(local(tuesday, 11))
    assert (close.fits, close.code) == (False, "too_close")
    assert [t.booking_id for t in close.conflicts] == ["OTHER"]
    assert verdict(local(date(2027, 3, 3), 10)).code == "absent"
    assert verdict(local(date(2027, 3, 6), 10)).code == "day_off"
    assert verdict(local(date(2027, 3, 25), 10)).code == "closed_day"  # Maundy Thursday
    fits = verdict(local(tuesday, 13))
    assert fits.fits and fits.code is None and fits.warnings == ("theme",)
    assert [t.booking_id for t in fits.day] == ["OTHER"]
