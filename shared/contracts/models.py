"""Value types that travel between the services inside events."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

Setting = Literal["staff_meeting", "work_environment_group"]
Language = Literal["da", "en"]


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


def utc_iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
