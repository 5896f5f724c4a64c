"""The event contract: a versioned envelope around frozen, typed data (docs/architecture.md, "Events").

Decode incoming messages with ``decode_event`` (one ``TypeAdapter`` over the discriminated union);
build outgoing ones with ``new_event``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from shared.contracts.models import BookingDetails, Slot

EXCHANGE = "inspiration.events"


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID
    version: Literal[1] = 1
    occurred_at: AwareDatetime
    correlation_id: str


# --- data of each event -------------------------------------------------------------------------


class BookingRequestedData(_Data):
    booking_id: str
    booking: BookingDetails
    status_url: str


class BookingScheduledData(_Data):
    booking_id: str
    booking: BookingDetails
    status_url: str
    slot: Slot
    sequence: int = 0
    # The placement's revision: grows by one with every outcome for the booking, so a consumer can
    # apply them in order whatever the clocks of the replicas that stored them say.
    revision: int = 0


class BookingNeedsAlternativeData(_Data):
    booking_id: str
    booking: BookingDetails
    status_url: str
    alternatives: tuple[AwareDatetime, ...]
    reason: str
    # Set when a scheduled talk could not be moved: the talk keeps this slot.
    current_slot: Slot | None = None
    # The placement's revision: grows by one with every outcome for the booking, so a consumer can
    # apply them in order whatever the clocks of the replicas that stored them say.
    revision: int = 0


class BookingCancelRequestedData(_Data):
    booking_id: str
    requested_by: Literal["workplace", "admin"]
    reason: str = ""


class BookingCancelledData(_Data):
    booking_id: str
    booking: BookingDetails
    status_url: str
    slot: Slot | None  # None when nothing was reserved
    sequence: int
    reason: str = ""
    # The placement's revision: grows by one with every outcome for the booking, so a consumer can
    # apply them in order whatever the clocks of the replicas that stored them say.
    revision: int = 0


class BookingRescheduleRequestedData(_Data):
    booking_id: str
    requested_by: Literal["workplace", "admin"]
    preferred_starts: tuple[AwareDatetime, ...] = ()
    # An admin may fix the new time and consultant directly.
    start: AwareDatetime | None = None
    consultant_id: str | None = None


class BookingRescheduledData(_Data):
    booking_id: str
    booking: BookingDetails
    status_url: str
    slot: Slot
    previous_slot: Slot | None
    sequence: int
    # The placement's revision: grows by one with every outcome for the booking, so a consumer can
    # apply them in order whatever the clocks of the replicas that stored them say.
    revision: int = 0


class BookingErasedData(_Data):
    """An admin (or the retention rule) erased the booking's personal data: every service erases its
    copy. The talk itself stays on record, anonymised (``BookingDetails.anonymised``)."""

    booking_id: str


# --- envelopes -------------------------------------------------------------------------------------


class BookingRequested(_Envelope):
    type: Literal["booking.requested"] = "booking.requested"
    data: BookingRequestedData


class BookingScheduled(_Envelope):
    type: Literal["booking.scheduled"] = "booking.scheduled"
    data: BookingScheduledData


class BookingNeedsAlternative(_Envelope):
    type: Literal["booking.needs_alternative"] = "booking.needs_alternative"
    data: BookingNeedsAlternativeData


class BookingCancelRequested(_Envelope):
    type: Literal["booking.cancel_requested"] = "booking.cancel_requested"
    data: BookingCancelRequestedData


class BookingCancelled(_Envelope):
    type: Literal["booking.cancelled"] = "booking.cancelled"
    data: BookingCancelledData


class BookingRescheduleRequested(_Envelope):
    type: Literal["booking.reschedule_requested"] = "booking.reschedule_requested"
    data: BookingRescheduleRequestedData


class BookingRescheduled(_Envelope):
    type: Literal["booking.rescheduled"] = "booking.rescheduled"
    data: BookingRescheduledData


class BookingErased(_Envelope):
    type: Literal["booking.erased"] = "booking.erased"
    data: BookingErasedData


Event = Annotated[
    BookingRequested
    | BookingScheduled
    | BookingNeedsAlternative
    | BookingCancelRequested
    | BookingCancelled
    | BookingRescheduleRequested
    | BookingRescheduled
    | BookingErased,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

_DATA_TO_EVENT: dict[type[_Data], type[_Envelope]] = {
    BookingRequestedData: BookingRequested,
    BookingScheduledData: BookingScheduled,
    BookingNeedsAlternativeData: BookingNeedsAlternative,
    BookingCancelRequestedData: BookingCancelRequested,
    BookingCancelledData: BookingCancelled,
    BookingRescheduleRequestedData: BookingRescheduleRequested,
    BookingRescheduledData: BookingRescheduled,
    BookingErasedData: BookingErased,
}


EVENT_TYPES: frozenset[str] = frozenset(envelope.model_fields["type"].default for envelope in _DATA_TO_EVENT.values())


def new_event(data: _Data, *, now: datetime | None = None) -> Event:
    """Wrap event data in a fresh envelope; the booking id is the correlation id."""
    envelope_type = _DATA_TO_EVENT[type(data)]
    envelope = envelope_type.model_validate(
        {
            "event_id": uuid.uuid4(),
            "occurred_at": now or datetime.now(UTC),
            "correlation_id": data.booking_id,  # type: ignore[attr-defined]
            "data": data,
        }
    )
    return EVENT_ADAPTER.validate_python(envelope)


def decode_event(body: bytes) -> Event:
    """Parse a message body; raises ``pydantic.ValidationError`` on anything off-contract."""
    return EVENT_ADAPTER.validate_json(body)


def encode_event(event: Event) -> bytes:
    return event.model_dump_json().encode()


def event_to_document(event: Event) -> dict[str, Any]:
    """The JSON-compatible form stored in an outbox, published verbatim later."""
    return event.model_dump(mode="json")
