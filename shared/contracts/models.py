"""Value types that travel between the services inside events."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_serializer, model_validator

Setting = Literal["staff_meeting", "work_environment_group"]
Language = Literal["da", "en"]
# What happens when a wanted time frees later: an offer to accept, a direct placement, or nothing.
WaitlistMode = Literal["offer", "auto", "off"]
PartOfDay = Literal["morning", "afternoon", "any"]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Workplace(_Value):
    name: str
    address: str
    postcode: str
    city: str

    def one_line(self) -> str:
        return f"{self.name}, {self.address}, {self.postcode} {self.city}"


class Contact(_Value):
    name: str
    email: str
    phone: str  # E.164


class WaitWindow(_Value):
    """Besides its own desired times, a waiting workplace takes any weekday start between two local dates
    (inclusive) in a part of the day: ``morning`` starts before 12.00, ``afternoon`` at 12.00 or later."""

    first: date
    last: date
    part_of_day: PartOfDay = "any"

    @field_serializer("first", "last")
    def _iso(self, day: date) -> str:
        """Dates as text in every form (a database stores datetimes, not dates)."""
        return day.isoformat()

    @model_validator(mode="after")
    def _ordered(self) -> WaitWindow:
        if self.last < self.first:
            raise ValueError("the window's last day is before its first")
        return self


class BookingDetails(_Value):
    """A validated booking request: what the workplace asked for."""

    workplace: Workplace
    contact: Contact
    theme: str
    setting: Setting
    participants: int
    duration_minutes: int
    preferred_starts: tuple[AwareDatetime, ...]
    notes: str = ""
    language: Language = "da"
    waitlist: WaitlistMode = "offer"
    waitlist_window: WaitWindow | None = None

    def anonymised(self) -> BookingDetails:
        """The talk without who asked for it: no contact, workplace name or address, nor notes (the
        postcode and city, the theme and the numbers stay, for the record and the statistics)."""
        return self.model_copy(
            update={
                "workplace": self.workplace.model_copy(update={"name": "", "address": ""}),
                "contact": Contact(name="", email="", phone=""),
                "notes": "",
            }
        )


class ConsultantRef(_Value):
    id: str
    name: str
    email: str
    phone: str | None = None


class Slot(_Value):
    """A reserved talk: who, and from when to when (UTC)."""

    consultant: ConsultantRef
    start: AwareDatetime
    end: AwareDatetime


class Offer(_Value):
    """A freed time offered to a waiting workplace, until ``expires_at`` (UTC)."""

    id: str
    start: AwareDatetime
    end: AwareDatetime
    expires_at: AwareDatetime


def utc_iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
