"""The back office's statistics as plain numbers (pure): talks per theme and month, per setting, requested
vs. placed vs. cancelled per month, lead time from request to talk, and talks per consultant.

A *talk* is a booking scheduled (or held) with a time in the period; *requested* counts the requests
made in the period, *placed* those of them that got a time, *cancelled* those of them cancelled.
Months are local (Europe/Copenhagen)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from statistics import median

from services.booking.domain import Booking
from shared.text.localtime import to_local

LEAD_BUCKETS = ((0, 14, "< 2"), (14, 28, "2–4"), (28, 56, "4–8"), (56, 91, "8–13"), (91, 10_000, "13+"))  # weeks


@dataclass(frozen=True)
class Figures:
    months: list[str]  # "2027-03", in order
    per_theme_month: dict[str, dict[str, int]]  # theme -> month -> talks
    per_setting: dict[str, int]
    flow: dict[str, dict[str, int]]  # "requested" | "placed" | "cancelled" -> month -> count
    lead_days: list[int]  # from request to talk, one per talk
    lead_buckets: dict[str, int]
    per_consultant: dict[str, int]  # consultant name -> talks

    @property
    def talks(self) -> int:
        return sum(self.per_setting.values())

    @property
    def median_lead_days(self) -> float | None:
        return median(self.lead_days) if self.lead_days else None


def month_keys(first: date, last: date) -> list[str]:
    keys, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        keys.append(f"{year}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return keys


def _month(moment: datetime) -> str:
    return f"{to_local(moment):%Y-%m}"


def compute(bookings: Iterable[Booking], first: date, last: date) -> Figures:
    months = month_keys(first, last)
    inside = set(months)
    per_theme: dict[str, Counter[str]] = {}
    per_setting: Counter[str] = Counter()
    flow = {name: Counter[str]() for name in ("requested", "placed", "cancelled")}
    leads: list[int] = []
    per_consultant: Counter[str] = Counter()
    for booking in bookings:
        created = _month(booking.created_at)
        if created in inside and first <= to_local(booking.created_at).date() <= last:
            flow["requested"][created] += 1
            if booking.slot is not None or any(e.status == "scheduled" for e in booking.history):
                flow["placed"][created] += 1
            if booking.status == "cancelled":
                flow["cancelled"][created] += 1
        slot = booking.slot
        if booking.status != "scheduled" or slot is None or not first <= to_local(slot.start).date() <= last:
            continue
        month = _month(slot.start)
        per_theme.setdefault(booking.details.theme, Counter())[month] += 1
        per_setting[booking.details.setting] += 1
        per_consultant[slot.consultant.name] += 1
        leads.append(max(0, (slot.start - booking.created_at).days))
    buckets = {label: sum(1 for d in leads if low <= d < high) for low, high, label in LEAD_BUCKETS}
    return Figures(
        months=months,
        per_theme_month={theme: {m: counts[m] for m in months} for theme, counts in sorted(per_theme.items())},
        per_setting=dict(per_setting),
        flow={name: {m: counts[m] for m in months} for name, counts in flow.items()},
        lead_days=sorted(leads),
        lead_buckets=buckets,
        per_consultant=dict(sorted(per_consultant.items(), key=lambda item: (-item[1], item[0]))),
    )
