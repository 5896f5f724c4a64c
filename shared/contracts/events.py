"""The event contract: a versioned envelope around frozen, typed data (docs/architecture.md, "Events").

Decode incoming messages with ``decode_event`` (one ``TypeAdapter`` over the discriminated union);
build outgoing ones with ``new_event``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from shared.contracts.models import BookingDetails, Offer, Slot, WaitlistMode, WaitWindow

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


class BookingWaitlistRequestedData(_Data):
    """The workplace chose what happens when a wanted time frees: for a booking still without a talk its
    desired times (and the window, if given); for a scheduled one, any earlier time (in the window, if given)."""

    booking_id: str
    requested_by: Literal["workplace", "admin"]
    waitlist: WaitlistMode
    window: WaitWindow | None = None


class BookingTimeFreedData(_Data):
    """A consultant's time became free (a talk cancelled or moved, an offer expired): the scheduler offers
    it to the requests waiting for it. ``booking_id`` is the booking that gave the time up."""

    booking_id: str
    consultant_id: str
    start: AwareDatetime
    end: AwareDatetime
    cause: Literal["cancelled", "moved", "offer_expired"]


class BookingOfferMadeData(_Data):
    """A freed time is offered to a waiting workplace (to accept on its status page before it expires)."""

    booking_id: str
    booking: BookingDetails
    status_url: str
    offer: Offer
    # The placement's revision: grows by one with every outcome for the booking, so a consumer can
    # apply them in order whatever the clocks of the replicas that stored them say.
    revision: int = 0


class BookingOfferExpiredData(_Data):
    """The offer was not accepted in time; the time passes to the next in line."""

    booking_id: str
    offer_id: str
    revision: int = 0


class BookingOfferAcceptRequestedData(_Data):
    booking_id: str
    offer_id: str
    requested_by: Literal["workplace", "admin"]


class BookingOfferTakenData(_Data):
    """An offer accepted too late: the time was taken meanwhile (or the offer had just expired). Fresh
    choices come with it; a scheduled talk keeps ``current_slot``."""

    booking_id: str
    booking: BookingDetails
    status_url: str
    offer_id: str
    expired: bool = False  # True: the offer had run out, rather than the time being taken
    alternatives: tuple[AwareDatetime, ...] = ()
    current_slot: Slot | None = None
    revision: int = 0


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


class BookingWaitlistRequested(_Envelope):
    type: Literal["booking.waitlist_requested"] = "booking.waitlist_requested"
    data: BookingWaitlistRequestedData


class BookingTimeFreed(_Envelope):
    type: Literal["booking.time_freed"] = "booking.time_freed"
    data: BookingTimeFreedData


class BookingOfferMade(_Envelope):
    type: Literal["booking.offer_made"] = "booking.offer_made"
    data: BookingOfferMadeData


class BookingOfferExpired(_Envelope):
    type: Literal["booking.offer_expired"] = "booking.offer_expired"
    data: BookingOfferExpiredData


class BookingOfferAcceptRequested(_Envelope):
    type: Literal["booking.offer_accept_requested"] = "booking.offer_accept_requested"
    data: BookingOfferAcceptRequestedData


class BookingOfferTaken(_Envelope):
    type: Literal["booking.offer_taken"] = "booking.offer_taken"
    data: BookingOfferTakenData


Event = Annotated[
    BookingRequested
    | BookingScheduled
    | BookingNeedsAlternative
    | BookingCancelRequested
    | BookingCancelled
    | BookingRescheduleRequested
    | BookingRescheduled
    | BookingErased
    | BookingWaitlistRequested
    | BookingTimeFreed
    | BookingOfferMade
    | BookingOfferExpired
    | BookingOfferAcceptRequested
    | BookingOfferTaken,
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
    BookingWaitlistRequestedData: BookingWaitlistRequested,
    BookingTimeFreedData: BookingTimeFreed,
    BookingOfferMadeData: BookingOfferMade,
    BookingOfferExpiredData: BookingOfferExpired,
    BookingOfferAcceptRequestedData: BookingOfferAcceptRequested,
    BookingOfferTakenData: BookingOfferTaken,
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
