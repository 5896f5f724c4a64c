"""A consultant's day of talks: what a reservation writes, as one unit with a version.

Two replicas may search at once: each reads the days it needs with their versions, and a
reservation rewrites a day only if its version is still the one read (see ``store.write_day``), so
the loser of a race searches again and nobody is double-booked. Pure code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from services.scheduler.domain import DictCalendar, Talk
from shared.contracts.models import BookingDetails, Slot
from shared.text.localtime import to_local


def local_day(moment: datetime) -> date:
    """The Copenhagen date a talk starting at ``moment`` belongs to."""
    return to_local(moment).date()


@dataclass(frozen=True, slots=True)
class BookedTalk:
    """A reserved talk, with what the consultant's calendar feed shows about it."""

    booking_id: str
    start: datetime  # UTC
    end: datetime  # UTC
    theme: str
    location: str
    setting: str
    participants: int
    contact: str
    notes: str = ""

    @classmethod
    def of(cls, booking_id: str, details: BookingDetails, start: datetime, end: datetime) -> BookedTalk:
        return cls(
            booking_id=booking_id,
            start=start,
            end=end,
            theme=details.theme,
            location=details.workplace.one_line(),
            setting=details.setting,
            participants=details.participants,
            contact=f"{details.contact.name}, {details.contact.phone}, {details.contact.email}",
            notes=details.notes,
        )


@dataclass(frozen=True, slots=True)
class Day:
    """One consultant's talks on one local date; ``version`` as read (0: nothing stored yet)."""

    consultant_id: str
    day: date
    version: int = 0
    talks: tuple[BookedTalk, ...] = ()

    def with_talk(self, talk: BookedTalk) -> Day:
        """The day with ``talk`` reserved; a talk of the same booking is replaced (a move within the day)."""
        kept = tuple(t for t in self.talks if t.booking_id != talk.booking_id)
        return dataclasses.replace(self, talks=(*kept, talk))

    def without(self, booking_id: str, keep: Slot | None = None) -> Day:
        """The day without the booking's talks, except the one at ``keep`` (the slot it still holds)."""

        def stays(talk: BookedTalk) -> bool:
            if talk.booking_id != booking_id:
                return True
            return keep is not None and keep.consultant.id == self.consultant_id and talk.start == keep.start

        return dataclasses.replace(self, talks=tuple(t for t in self.talks if stays(t)))


    def anonymised(self, booking_id: str) -> Day:
        """The day with the booking's talks kept but without who booked them (erasure)."""
        talks = tuple(
            dataclasses.replace(t, location="", contact="", notes="") if t.booking_id == booking_id else t
            for t in self.talks
        )
        return dataclasses.replace(self, talks=talks)


def calendar_of(days: Iterable[Day]) -> DictCalendar:
    """The talks of ``days`` as the slot search reads them."""
    calendar = DictCalendar()
    for day in days:
        for talk in day.talks:
            calendar.add(day.consultant_id, Talk(talk.booking_id, talk.start, talk.end))
    return calendar
