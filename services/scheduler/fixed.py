"""An admin's fixed placement (a chosen time with a chosen consultant), judged as pure code.

The verdict is the one the scheduler applies when the admin's ``booking.reschedule_requested`` with
``start`` and ``consultant_id`` arrives (``handlers._reserve_fixed``): never on a public holiday or
closing day, and the consultant's calendar must take the talk (:func:`~services.scheduler.domain.why_not`:
weekday, absence, daily maximum, hours and travel buffers, other talks, their own calendar). The
notice and the theme do not bind an admin; they are warnings. For the back office the verdict also
names a ``code`` (which its texts translate) and the talks and busy times in the way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.scheduler.domain import Busy, Calendar, Consultant, SearchLimits, Talk, gives_theme, why_not
from shared.text.localtime import to_local

# What ``why_not`` says, by the start of its reason, and the code the back office translates.
_CODES = (
    ("does not work on", "day_off"),
    ("is absent", "absent"),
    ("already has", "day_full"),
    ("the talk with its travel buffers is outside", "outside_hours"),
    ("too close to another talk", "too_close"),
)


@dataclass(frozen=True, slots=True)
class FixedVerdict:
    fits: bool
    code: str | None  # why not: closed_day, day_off, absent, day_full, outside_hours, too_close, busy, busy_day
    reason: str | None  # the same in the scheduler's plain English
    warnings: tuple[str, ...]  # allowed for an admin: "theme", "notice"
    conflicts: tuple[Talk, ...]  # other talks that day within the travel buffer
    busy: tuple[Busy, ...]  # busy times of their own calendar within the travel buffer
    day: tuple[Talk, ...]  # every other talk the consultant has that day


def misfit(consultant: Consultant, start: datetime, end: datetime, calendar: Calendar, *, booking_id: str,
           limits: SearchLimits) -> str | None:
    """Why the scheduler refuses this fixed placement, or None: the one rule for an admin's chosen time."""
    closed = limits.closed.on(to_local(start).date())
    if closed is not None:  # an admin may override the notice, never a holiday or closing day
        return f"the chosen time is on a closed day ({closed.name.da})"
    reason = why_not(consultant, start, end, calendar, ignore_booking_id=booking_id)
    return None if reason is None else f"the chosen time does not fit: {reason}"


def judge(
    consultant: Consultant,
    start: datetime,
    end: datetime,
    calendar: Calendar,
    *,
    booking_id: str,
    theme: str | None,
    now: datetime,
    limits: SearchLimits,
) -> FixedVerdict:
    reason = misfit(consultant, start, end, calendar, booking_id=booking_id, limits=limits)
    day = to_local(start).date()
    others = tuple(t for t in calendar.talks_on(consultant.id, day) if t.booking_id != booking_id)
    buffer = consultant.travel_buffer
    conflicts = tuple(t for t in others if start < t.end + buffer and t.start < end + buffer)
    busy = tuple(b for b in calendar.busy_on(consultant.id, day) if start < b.end + buffer and b.start < end + buffer)
    warnings: list[str] = []
    if theme is not None and not gives_theme(consultant, theme):
        warnings.append("theme")
    if not limits.min_notice <= start - now <= limits.max_ahead:
        warnings.append("notice")
    return FixedVerdict(
        fits=reason is None,
        code=None if reason is None else _code(reason),
        reason=reason,
        warnings=tuple(warnings),
        conflicts=conflicts,
        busy=busy,
        day=tuple(sorted(others, key=lambda t: t.start)),
    )


def _code(reason: str) -> str:
    if reason.startswith("the chosen time is on a closed day"):
        return "closed_day"
    detail = reason.removeprefix("the chosen time does not fit: ")
    for start, code in _CODES:
        if detail.startswith(start):
            return code
    # a busy time of their own calendar: near the talk, or covering the whole working day
    return "busy" if detail.endswith("(travel buffer included)") else "busy_day"
