"""Local time of the users (Europe/Copenhagen): parse, convert and format, DST-safe."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Europe/Copenhagen")


class NonexistentLocalTime(ValueError):
    """A wall-clock time skipped by the spring DST change (e.g. 2027-03-28T02:30)."""


def localize(naive: datetime) -> datetime:
    """Attach Europe/Copenhagen to a naive local time; refuse times that do not exist."""
    aware = naive.replace(tzinfo=LOCAL_TZ)
    if aware.astimezone(UTC).astimezone(LOCAL_TZ).replace(tzinfo=None) != naive:
        raise NonexistentLocalTime(naive.isoformat())
    return aware


def parse_start(text: str) -> datetime:
    """ISO 8601 start time to an aware UTC datetime; without an offset it means Copenhagen time."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = localize(parsed)
    return parsed.astimezone(UTC)


def to_local(moment: datetime) -> datetime:
    return moment.astimezone(LOCAL_TZ)


WEEKDAYS = {
    "da": ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
MONTHS = {
    "da": (
        "januar",
        "februar",
        "marts",
        "april",
        "maj",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "december",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


def format_local(moment: datetime, lang: str = "da") -> str:
    """'tirsdag den 2. marts 2027 kl. 13.00' (da) or 'Tuesday 2 March 2027 at 13:00' (en)."""
    local = to_local(moment)
    if lang == "en":
        return (
            f"{WEEKDAYS['en'][local.weekday()]} {local.day} {MONTHS['en'][local.month - 1]} "
            f"{local.year} at {local:%H:%M}"
        )
    return (
        f"{WEEKDAYS['da'][local.weekday()]} den {local.day}. {MONTHS['da'][local.month - 1]} "
        f"{local.year} kl. {local:%H.%M}"
    )
