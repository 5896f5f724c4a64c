"""What the back office asks about bookings, parsed from a page's query string (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from shared.contracts.catalogue import content
from shared.text.localtime import LOCAL_TZ

STATUSES = ("received", "scheduled", "needs_alternative", "cancelled")
MAX_TEXT = 100


@dataclass(frozen=True)
class BookingFilter:
    """Bookings matching all that is given: ``text`` in the reference, workplace (name, city) or contact
    (name, e-mail, phone); a status, theme or consultant; a talk (or, unplaced, a first desired time) in
    the local dates ``first``..``last``."""

    text: str = ""
    status: str | None = None
    theme: str | None = None
    consultant_id: str | None = None
    first: date | None = None
    last: date | None = None

    def as_query(self) -> dict[str, str]:
        """The filter as a page's query string (for paging and the CSV link)."""
        values = {
            "q": self.text,
            "status": self.status or "",
            "theme": self.theme or "",
            "consultant": self.consultant_id or "",
            "from": self.first.isoformat() if self.first else "",
            "to": self.last.isoformat() if self.last else "",
        }
        return {k: v for k, v in values.items() if v}


def parse_filter(query: Mapping[str, Any]) -> tuple[BookingFilter, dict[str, str]]:
    """The filter of a query string, and its wrong fields by name (each an error code); a wrong field is
    left out of the filter."""
    errors: dict[str, str] = {}
    text = str(query.get("q", "")).strip()[:MAX_TEXT]
    status = str(query.get("status", "")) or None
    if status is not None and status not in STATUSES:
        errors["status"] = "invalid"
        status = None
    theme = str(query.get("theme", "")) or None
    if theme is not None and theme not in content().theme_ids:
        errors["theme"] = "invalid"
        theme = None
    consultant = str(query.get("consultant", "")).strip()[:64] or None
    days: dict[str, date | None] = {}
    for name in ("from", "to"):
        value = str(query.get(name, "")).strip()
        try:
            days[name] = date.fromisoformat(value) if value else None
        except ValueError:
            errors[name] = "date_format"
            days[name] = None
    first, last = days["from"], days["to"]
    if first and last and last < first:
        errors["to"] = "window_order"
        last = None
    return BookingFilter(text, status, theme, consultant, first, last), errors


def page_number(query: Mapping[str, Any]) -> int:
    value = str(query.get("page", "1"))
    return max(1, min(int(value), 10_000)) if value.isdigit() else 1


def day_start(day: date) -> datetime:
    """The UTC instant a local date begins."""
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)


def local_range(first: date, last: date) -> tuple[datetime, datetime]:
    """The UTC instants from the start of local date ``first`` to the start of the day after ``last``."""
    return day_start(first), day_start(last + timedelta(days=1))
