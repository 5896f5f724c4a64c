"""The booking's domain, as pure code: nothing here does I/O, and ``now`` is always an argument.

* **Input rules.** ``parse_booking`` turns untrusted input (a JSON body or the form's fields) into
  ``BookingDetails`` or raises ``InvalidBooking`` with one ``FieldError`` per wrong field;
  ``parse_reschedule`` does the same for a request for a new time. Structure and types are checked
  strictly by pydantic models (unknown fields, ``$``-keys and non-strings where a string belongs are
  refused, so no operator can reach a MongoDB query); the desired start times are then checked
  against the calendar rules (``BookingRules``).
* **The waitlist.** ``parse_waitlist`` checks the workplace's choice (``offer``, ``auto`` or ``off``)
  and its optional window ("any weekday morning between two dates"), in a booking request and when
  changed later; ``Booking.request_waitlist`` and ``Booking.request_offer_accept`` announce them.
* **The booking.** ``Booking`` is the aggregate: what was asked for, where the scheduler has placed
  it, and its history. Its methods return the booking after the change together with the event that
  announces it (``Recorded``), or, for a scheduler's outcome, the booking after it (or None when the
  outcome is old news).

Messages are Danish texts marked with ``N_``; the views choose the language and ``FieldError.message``
looks the text up in the service's catalogue (``locale/``, read once on first use).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal, get_args

import phonenumbers
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from services.booking.texts import translate
from shared.contracts.catalogue import Localized, content
from shared.contracts.closed_days import DENMARK, ClosedDays
from shared.contracts.events import (
    BookingCancelled,
    BookingCancelledData,
    BookingCancelRequestedData,
    BookingErasedData,
    BookingNeedsAlternative,
    BookingNeedsAlternativeData,
    BookingOfferAcceptRequestedData,
    BookingOfferExpired,
    BookingOfferExpiredData,
    BookingOfferMade,
    BookingOfferMadeData,
    BookingOfferTaken,
    BookingOfferTakenData,
    BookingRequestedData,
    BookingRescheduled,
    BookingRescheduleRequestedData,
    BookingScheduled,
    BookingWaitlistRequestedData,
    Event,
    new_event,
)
from shared.contracts.models import BookingDetails, Contact, Offer, PartOfDay, Slot, WaitlistMode, WaitWindow, Workplace
from shared.text.clean import NOTE_MESSAGE, ONE_LINE_MESSAGE, has_forbidden, normalize_newlines
from shared.text.email import normalize_email
from shared.text.i18n import N_
from shared.text.localtime import LOCAL_TZ, NonexistentLocalTime, parse_start, to_local
from shared.text.phone import country_of, normalize_phone

MIN_DURATION, MAX_DURATION = 90, 120
DURATION_CHOICES = (90, 105, 120)  # what the form offers; the API takes any whole number in range
MIN_PARTICIPANTS, MAX_PARTICIPANTS = 1, 500
MAX_STARTS = 3
MAX_REASON = 1000
MAX_IDEMPOTENCY_KEY = 200
MAX_WAIT_WINDOW_DAYS = 92  # a waitlist window of about three months at most


@dataclass(frozen=True)
class BookingRules:
    min_notice: timedelta = timedelta(days=14)
    max_ahead: timedelta = timedelta(days=365)
    day_start: time = time(8, 0)
    day_end: time = time(17, 0)
    closed: ClosedDays = DENMARK  # public holidays and the organisation's closing days
    # Countries whose phone numbers are taken (ISO codes): SMS goes only there (SMS_COUNTRIES).
    phone_countries: tuple[str, ...] = ("DK",)


def earliest_start(now: datetime, rules: BookingRules) -> datetime:
    """The earliest start the pages suggest (local time): the first bookable hour of the day after the
    minimum notice, so any time that day is far enough ahead."""
    day = to_local(now + rules.min_notice + timedelta(days=1)).date()
    return datetime.combine(day, rules.day_start, tzinfo=LOCAL_TZ)


# --- field errors --------------------------------------------------------------------------------------

# What each error code says (Danish; the catalogue has the English).
MESSAGES: dict[str, str] = {
    "missing": N_("Skal udfyldes."),
    "extra_forbidden": N_("Ukendt felt – det kan ikke bruges her."),
    "string_type": N_("Skal være tekst."),
    "string_too_short": N_("Skal udfyldes."),
    "string_too_long": N_("Må højst være {max_length} tegn."),
    "int_type": N_("Skal være et helt tal."),
    "model_type": N_("Skal være et objekt med felter."),
    "theme_one": N_(
        "Vælg præcis ét tema fra kataloget – der er ét tema pr. oplæg. Ønsker I et andet tema, så book et oplæg mere."
    ),
    "setting": N_("Vælg enten personalemøde eller arbejdsmiljøgruppen."),
    "language": N_("Sproget skal være da eller en."),
    "duration": N_("Et oplæg varer 90 til 120 minutter (1,5 til 2 timer)."),
    "participants": N_("Antal deltagere skal være et helt tal fra 1 til 500."),
    "starts_count": N_("Angiv 1 til 3 ønskede tidspunkter."),
    "starts_type": N_("Ønskede tidspunkter skal være en liste af tidspunkter."),
    "start_format": N_("Ugyldigt tidspunkt. Brug dato og klokkeslæt, fx 2027-03-02T13:00."),
    "start_nonexistent": N_("Tidspunktet findes ikke, fordi uret stilles frem til sommertid. Vælg et andet."),
    "start_weekend": N_("Oplæg holdes på hverdage (mandag til fredag)."),
    "start_holiday": N_("Dagen er en helligdag ({name}). Der holdes ikke oplæg på helligdage – vælg en anden dag."),
    "start_closing_day": N_("Dagen er en lukkedag ({name}), hvor der ikke holdes oplæg – vælg en anden dag."),
    "start_hours": N_("Oplægget skal ligge mellem kl. {day_start} og {day_end} (start og slut)."),
    "start_too_soon": N_("Tidspunktet skal ligge mindst {days} dage ude i fremtiden."),
    "start_too_late": N_("Tidspunktet må højst ligge {days} dage ude i fremtiden."),
    "start_duplicate": N_("Samme tidspunkt er angivet to gange."),
    "email": N_("Ugyldig e-mailadresse, fx navn@arbejdsplads.dk."),
    "phone_country": N_("Vi kan kun sende SMS til telefonnumre fra {countries}. Angiv et sådant nummer."),
    "phone": N_("Telefonnummeret skal være et dansk nummer med 8 cifre eller et internationalt nummer med +landekode."),
    "postcode": N_("Postnummeret skal være 4 cifre."),
    "text_line": ONE_LINE_MESSAGE,
    "text_chars": NOTE_MESSAGE,
    "date_format": N_("Ugyldig dato. Brug formatet ÅÅÅÅ-MM-DD, fx 2027-03-01."),
    "window_order": N_("Slutdatoen må ikke ligge før startdatoen."),
    "window_too_long": N_("Højst {days} dage ad gangen."),
    "window_outside": N_("Der kan bookes tider fra {first} til {last}."),
    "waitlist": N_("Vælg tilbud, automatisk booking eller nej tak (offer, auto eller off)."),
    "window_type": N_("Perioden skal have en startdato (from) og en slutdato (to), fx 2027-03-01."),
    "part_of_day": N_("Vælg formiddag, eftermiddag eller hele dagen (morning, afternoon eller any)."),
    "offer_unknown": N_("Tilbuddet findes ikke (længere)."),
    "offer_expired": N_("Tilbuddet er udløbet, og tiden er givet videre til den næste på ventelisten."),
    "invalid": N_("Ugyldig værdi."),
}


@dataclass(frozen=True)
class FieldError:
    field: str  # dotted path: "contact.email", "preferred_starts.1"
    code: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def text(self) -> str:
        """The Danish message, placeholders not filled in (the msgid in the catalogue)."""
        return MESSAGES.get(self.code) or MESSAGES["invalid"]

    def message(self, lang: str = "da") -> str:
        """The message in ``lang``, its placeholders filled in from ``params`` (a ``Localized`` one in ``lang``)."""
        params = {key: value(lang) if isinstance(value, Localized) else value for key, value in self.params.items()}
        return translate(lang, self.text, **params)

    def as_json(self, lang: str = "da") -> dict[str, str]:
        """The error as the APIs answer it: ``{"field", "message"}``."""
        return {"field": self.field, "message": self.message(lang)}


class InvalidBooking(ValueError):
    """Input refused: ``errors`` names every wrong field at once."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(", ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors = errors


# --- structure (strict pydantic) ------------------------------------------------------------------

_STRICT = ConfigDict(strict=True, extra="forbid", str_strip_whitespace=True)


def _refuse_hidden_characters(multiline: bool) -> BeforeValidator:
    """Refuse control characters, separators and direction overrides (``shared.text.clean``)."""

    def check(value: Any) -> Any:
        if isinstance(value, str):
            if has_forbidden(value, multiline=multiline):
                code = "text_chars" if multiline else "text_line"
                raise PydanticCustomError(code, code)
            if multiline:
                return normalize_newlines(value)
        return value

    return BeforeValidator(check)


def _text(max_length: int) -> Any:
    """A required single-line text field."""
    return Annotated[str, Field(min_length=1, max_length=max_length), _refuse_hidden_characters(False)]


# A note: may span lines (stored with LF line ends).
Note = Annotated[str, Field(max_length=2000), _refuse_hidden_characters(True)]


class _WorkplaceIn(BaseModel):
    model_config = _STRICT
    name: _text(200)  # type: ignore[valid-type]
    address: _text(200)  # type: ignore[valid-type]
    postcode: str
    city: _text(100)  # type: ignore[valid-type]

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str) -> str:
        if not re.fullmatch(r"\d{4}", value):
            raise PydanticCustomError("postcode", "postcode")
        return value


class _ContactIn(BaseModel):
    model_config = _STRICT
    name: _text(200)  # type: ignore[valid-type]
    email: Annotated[str, _refuse_hidden_characters(False)]
    phone: Annotated[str, _refuse_hidden_characters(False)]

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        try:
            return normalize_email(value)
        except ValueError:
            raise PydanticCustomError("email", "email") from None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        try:
            return normalize_phone(value)
        except ValueError:
            raise PydanticCustomError("phone", "phone") from None


class _BookingIn(BaseModel):
    model_config = _STRICT
    workplace: _WorkplaceIn
    contact: _ContactIn
    theme: Any
    setting: Any
    participants: Any
    duration_minutes: Any
    preferred_starts: Any
    notes: Note = ""
    language: Any = "da"
    waitlist: Any = "offer"
    waitlist_window: Any = None

    @field_validator("waitlist")
    @classmethod
    def _waitlist(cls, value: Any) -> str:
        if value not in get_args(WaitlistMode):
            raise PydanticCustomError("waitlist", "waitlist")
        return str(value)

    @field_validator("theme")
    @classmethod
    def _theme(cls, value: Any) -> str:
        if not isinstance(value, str) or value.strip() not in content().theme_ids:
            raise PydanticCustomError("theme_one", "theme_one")
        return value.strip()

    @field_validator("setting")
    @classmethod
    def _setting(cls, value: Any) -> str:
        if value not in ("staff_meeting", "work_environment_group"):
            raise PydanticCustomError("setting", "setting")
        return str(value)

    @field_validator("language")
    @classmethod
    def _language(cls, value: Any) -> str:
        if value not in ("da", "en"):
            raise PydanticCustomError("language", "language")
        return str(value)

    @field_validator("participants")
    @classmethod
    def _participants(cls, value: Any) -> int:
        if not _whole(value) or not MIN_PARTICIPANTS <= value <= MAX_PARTICIPANTS:
            raise PydanticCustomError("participants", "participants")
        return int(value)

    @field_validator("duration_minutes")
    @classmethod
    def _duration(cls, value: Any) -> int:
        if not _whole(value) or not MIN_DURATION <= value <= MAX_DURATION:
            raise PydanticCustomError("duration", "duration")
        return int(value)

    @field_validator("preferred_starts")
    @classmethod
    def _starts(cls, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PydanticCustomError("starts_type", "starts_type")
        if not 1 <= len(value) <= MAX_STARTS:
            raise PydanticCustomError("starts_count", "starts_count")
        return [v.strip() for v in value]


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- calendar rules ----------------------------------------------------------------------------------


def check_starts(
    texts: list[str], duration_minutes: int | None, *, now: datetime, rules: BookingRules
) -> tuple[list[datetime], list[FieldError]]:
    """Parse desired start times and check them; returns the UTC starts and the errors."""
    starts: list[datetime] = []
    errors: list[FieldError] = []
    seen: set[datetime] = set()
    for index, text in enumerate(texts):
        where = f"preferred_starts.{index}"
        try:
            start = parse_start(text)
        except NonexistentLocalTime:
            errors.append(FieldError(where, "start_nonexistent"))
            continue
        except ValueError:
            errors.append(FieldError(where, "start_format"))
            continue
        problem = FieldError(where, "start_duplicate") if start in seen else start_problem(
            start, duration_minutes, now=now, rules=rules, field=where
        )
        if problem:
            errors.append(problem)
        seen.add(start)
        starts.append(start)
    return starts, errors


def start_problem(
    start: datetime, duration_minutes: int | None, *, now: datetime, rules: BookingRules, field: str
) -> FieldError | None:
    """What is wrong with a talk starting at ``start`` by the calendar rules, or None: a weekday, no
    holiday nor closing day, inside the bookable hours, within the notice and how far ahead."""
    local = to_local(start)
    if local.weekday() >= 5:
        return FieldError(field, "start_weekend")
    if closed := rules.closed.on(local.date()):
        return FieldError(field, f"start_{closed.kind}", {"name": closed.name})
    if not _inside_hours(start, duration_minutes, rules):
        hours = {"day_start": f"{rules.day_start:%H.%M}", "day_end": f"{rules.day_end:%H.%M}"}
        return FieldError(field, "start_hours", hours)
    if start < now + rules.min_notice:
        return FieldError(field, "start_too_soon", {"days": rules.min_notice.days})
    if start > now + rules.max_ahead:
        return FieldError(field, "start_too_late", {"days": rules.max_ahead.days})
    return None


def _inside_hours(start: datetime, duration_minutes: int | None, rules: BookingRules) -> bool:
    local_start = to_local(start)
    if local_start.time() < rules.day_start:
        return False
    end = to_local(start + timedelta(minutes=duration_minutes or MIN_DURATION))
    return end.date() == local_start.date() and end.time() <= rules.day_end


# --- a booking request ---------------------------------------------------------------------------------


def parse_booking(raw: object, *, now: datetime, rules: BookingRules) -> BookingDetails:
    """Validate a booking request; raises ``InvalidBooking`` listing every problem at once."""
    errors: list[FieldError] = []
    parsed: _BookingIn | None = None
    bad_fields: set[str] = set()
    try:
        parsed = _BookingIn.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            path = ".".join(str(part) for part in error["loc"]) or "body"
            code = "theme_one" if path == "theme" else error["type"]  # also when no theme was chosen
            errors.append(FieldError(path, code, error.get("ctx") or {}))
            bad_fields.add(str(error["loc"][0]) if error["loc"] else "body")
    if not isinstance(raw, dict):
        raise InvalidBooking(errors or [FieldError("body", "model_type")])

    starts: list[datetime] = []
    if "preferred_starts" not in bad_fields:
        duration = None if "duration_minutes" in bad_fields else raw.get("duration_minutes")
        starts, start_errors = check_starts(
            [s.strip() for s in raw["preferred_starts"]], duration, now=now, rules=rules
        )
        errors.extend(start_errors)
    if parsed is not None and country_of(parsed.contact.phone) not in rules.phone_countries:
        errors.append(FieldError("contact.phone", "phone_country", {"countries": _countries(rules.phone_countries)}))
    window, window_errors = parse_window(raw.get("waitlist_window"), "waitlist_window", now=now, rules=rules)
    errors.extend(window_errors)
    if errors or parsed is None:
        raise InvalidBooking(errors)
    return BookingDetails(
        workplace=Workplace(**parsed.workplace.model_dump()),
        contact=Contact(**parsed.contact.model_dump()),
        theme=parsed.theme,
        setting=parsed.setting,
        participants=parsed.participants,
        duration_minutes=parsed.duration_minutes,
        preferred_starts=tuple(starts),
        notes=parsed.notes,
        language=parsed.language,
        waitlist=parsed.waitlist,
        waitlist_window=window,
    )


def _countries(codes: tuple[str, ...]) -> str:
    """"+45 (DK)", "+45 (DK), +46 (SE)": how a workplace recognises the countries meant."""
    return ", ".join(f"+{phonenumbers.country_code_for_region(code)} ({code})" for code in codes)


# --- the waitlist -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WaitlistRequest:
    """What happens when a wanted time frees: ``offer``, ``auto`` or ``off``, and the optional window."""

    mode: WaitlistMode
    window: WaitWindow | None = None


def parse_window(
    raw: object, field: str, *, now: datetime, rules: BookingRules
) -> tuple[WaitWindow | None, list[FieldError]]:
    """``{"from": "YYYY-MM-DD", "to": "YYYY-MM-DD", "part_of_day": "morning"|"afternoon"|"any"}`` or
    nothing: any weekday (in that part of the day) between the dates, inclusive, within the bookable
    days and at most ``MAX_WAIT_WINDOW_DAYS`` long."""
    if raw is None:
        return None, []
    if not isinstance(raw, dict) or set(raw) - {"from", "to", "part_of_day"}:
        return None, [FieldError(field, "window_type")]
    errors: list[FieldError] = []
    days: dict[str, date] = {}
    for name in ("from", "to"):
        value = raw.get(name)
        try:
            days[name] = date.fromisoformat(value.strip()) if isinstance(value, str) else date.fromisoformat("")
        except ValueError:
            errors.append(FieldError(f"{field}.{name}", "date_format"))
    part = raw.get("part_of_day", "any")
    if part not in get_args(PartOfDay):
        errors.append(FieldError(f"{field}.part_of_day", "part_of_day"))
    if len(days) == 2:
        first, last = days["from"], days["to"]
        bookable = (to_local(now + rules.min_notice).date(), to_local(now + rules.max_ahead).date())
        outside = {"first": bookable[0].isoformat(), "last": bookable[1].isoformat()}
        if last < first:
            errors.append(FieldError(f"{field}.to", "window_order"))
        elif (last - first).days >= MAX_WAIT_WINDOW_DAYS:
            errors.append(FieldError(f"{field}.to", "window_too_long", {"days": MAX_WAIT_WINDOW_DAYS}))
        elif last < bookable[0]:
            errors.append(FieldError(f"{field}.to", "window_outside", outside))
        elif first > bookable[1]:
            errors.append(FieldError(f"{field}.from", "window_outside", outside))
    if errors:
        return None, errors
    return WaitWindow(first=days["from"], last=days["to"], part_of_day=part), []


def parse_waitlist(raw: object, *, now: datetime, rules: BookingRules) -> WaitlistRequest:
    """``{"waitlist": "offer"|"auto"|"off", "window": {...} | null}``; raises ``InvalidBooking``."""
    if not isinstance(raw, dict):
        raise InvalidBooking([FieldError("body", "model_type")])
    errors = [FieldError(k, "extra_forbidden") for k in raw if k not in ("waitlist", "window")]
    mode: WaitlistMode = raw.get("waitlist")  # type: ignore[assignment]  # checked on the next line
    if mode not in get_args(WaitlistMode):
        errors.append(FieldError("waitlist", "waitlist"))
    window, window_errors = parse_window(raw.get("window"), "window", now=now, rules=rules)
    errors.extend(window_errors)
    if errors:
        raise InvalidBooking(errors)
    return WaitlistRequest(mode, window if mode != "off" else None)


class UnknownOffer(Exception):
    """No such offer open for this booking."""


class OfferExpired(Exception):
    """The offer ran out: its time has passed to the next in line."""


# --- the other requests ----------------------------------------------------------------------------------

Requester = Literal["workplace", "admin"]
Eraser = Literal["admin", "retention"]  # who erases a booking's personal data: an admin, or the retention rule


@dataclass(frozen=True)
class RescheduleRequest:
    """A wish for a new time: desired starts (anyone), or a fixed start with a consultant (an admin only)."""

    by: Requester
    preferred_starts: tuple[datetime, ...] = ()
    start: datetime | None = None
    consultant_id: str | None = None


def parse_reschedule(
    raw: object, *, duration_minutes: int, by: Requester, now: datetime, rules: BookingRules
) -> RescheduleRequest:
    """``{"preferred_starts": [...]}`` for anyone; ``{"start", "consultant_id"}`` for an admin only.

    Raises ``InvalidBooking`` listing every problem; the starts are checked as a booking's are, for a
    talk of ``duration_minutes``."""
    if not isinstance(raw, dict):
        raise InvalidBooking([FieldError("body", "model_type")])
    allowed = {"preferred_starts", "start", "consultant_id"} if by == "admin" else {"preferred_starts"}
    errors = [FieldError(k, "extra_forbidden") for k in raw if k not in allowed]
    if "start" in raw or "consultant_id" in raw:
        consultant_id = raw.get("consultant_id")
        if not isinstance(consultant_id, str) or not consultant_id:
            errors.append(FieldError("consultant_id", "string_type"))
        fixed = _parse_one_start(raw.get("start"))
        if fixed is None:
            errors.append(FieldError("start", "start_format"))
        if errors or fixed is None or not isinstance(consultant_id, str):
            raise InvalidBooking(errors)
        return RescheduleRequest(by="admin", start=fixed, consultant_id=consultant_id)
    starts_raw = raw.get("preferred_starts")
    starts: list[datetime] = []
    if not isinstance(starts_raw, list) or not all(isinstance(s, str) for s in starts_raw):
        errors.append(FieldError("preferred_starts", "starts_type"))
    elif not 1 <= len(starts_raw) <= MAX_STARTS:
        errors.append(FieldError("preferred_starts", "starts_count"))
    else:
        starts, start_errors = check_starts(starts_raw, duration_minutes, now=now, rules=rules)
        errors.extend(start_errors)
    if errors:
        raise InvalidBooking(errors)
    return RescheduleRequest(by=by, preferred_starts=tuple(starts))


def _parse_one_start(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_start(value)
    except ValueError:
        return None


def parse_reason(value: object) -> str:
    """A cancellation reason: optional text of at most 1,000 characters, line breaks allowed (kept as LF)."""
    if not isinstance(value, str):
        raise InvalidBooking([FieldError("reason", "string_type")])
    if len(value) > MAX_REASON:
        raise InvalidBooking([FieldError("reason", "string_too_long", {"max_length": MAX_REASON})])
    if has_forbidden(value, multiline=True):
        raise InvalidBooking([FieldError("reason", "text_chars")])
    return normalize_newlines(value)


def check_idempotency_key(key: str | None) -> None:
    """An ``Idempotency-Key`` is optional; given, it has 1 to 200 characters."""
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise InvalidBooking([FieldError("Idempotency-Key", "string_too_long", {"max_length": MAX_IDEMPOTENCY_KEY})])


# --- the booking --------------------------------------------------------------------------------------------

Status = Literal["received", "scheduled", "needs_alternative", "cancelled"]
OPEN_STATUSES: tuple[Status, ...] = ("received", "scheduled", "needs_alternative")
# The scheduler's outcomes for a booking, each carrying the placement's revision.
Outcome = (
    BookingScheduled
    | BookingNeedsAlternative
    | BookingCancelled
    | BookingRescheduled
    | BookingOfferMade
    | BookingOfferExpired
    | BookingOfferTaken
)

# Crockford's base 32 without look-alikes: references are read aloud on the phone.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_reference() -> str:
    """A booking's id, e.g. ``7K3M-Q9XD``: what the workplace quotes when it calls."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def new_secret() -> str:
    """The secret in the workplace's private link to its booking."""
    return secrets.token_urlsafe(24)


def status_url(base_url: str, booking_id: str, secret: str) -> str:
    return f"{base_url.rstrip('/')}/bookings/{booking_id}?token={secret}"


class NotOpen(Exception):
    """The booking is cancelled, or its cancellation is under way: it cannot change any more."""

    text = N_("Bookingen er aflyst eller ved at blive aflyst og kan ikke ændres.")


@dataclass(frozen=True)
class HistoryEntry:
    """One step in a booking's history, shown on its status page."""

    at: datetime
    status: str  # the booking's new status, or the request made: "cancel_requested", "reschedule_requested"
    event_id: str  # the event that announced the step (or, for an outcome, brought it)
    type: str | None = None  # an outcome: the scheduler's event type
    by: str | None = None  # a request: who made it (a Requester)
    preferred_starts: tuple[datetime, ...] | None = None  # a request for a new time: the desired starts
    start: datetime | None = None  # an admin's fixed time (with ``consultant_id``)
    consultant_id: str | None = None
    reason: str | None = None  # a cancellation's reason, as given


@dataclass(frozen=True)
class Idempotency:
    """The ``Idempotency-Key`` a booking was requested with, and a hash of that request's body."""

    key: str
    request_hash: str


@dataclass(frozen=True)
class Booking:
    """A workplace's booking of a talk: what was asked for, where it stands, and how it got there."""

    id: str  # the reference, e.g. "7K3M-Q9XD"
    secret: str  # the token in the workplace's private link (status_url)
    status_url: str
    status: Status
    details: BookingDetails
    created_at: datetime
    updated_at: datetime
    history: tuple[HistoryEntry, ...]
    slot: Slot | None = None  # the reserved consultant and time, once scheduled
    alternatives: tuple[datetime, ...] = ()  # free starts offered when the desired ones were taken
    sequence: int | None = None  # the calendar invite's sequence number
    reason: str | None = None  # why the desired times could not be had
    cancel_reason: str | None = None
    revision: int | None = None  # the revision of the last outcome applied (None: none yet)
    status_at: datetime | None = None  # when the last outcome happened
    cancel_requested_at: datetime | None = None
    reschedule_requested_at: datetime | None = None  # set while a request for a new time is under way
    idempotency: Idempotency | None = None
    erased_at: datetime | None = None  # when its personal data was erased (the talk stays on record)
    offers: tuple[Offer, ...] = ()  # freed times offered from the waitlist, open to accept
    offer_accept_requested_at: datetime | None = None  # set while an accepted offer is being placed
    offer_taken: bool = False  # the offer accepted last was taken meanwhile: fresh choices are shown

    @classmethod
    def request(
        cls,
        details: BookingDetails,
        *,
        reference: str,
        secret: str,
        base_url: str,
        now: datetime,
        idempotency: Idempotency | None = None,
    ) -> Recorded:
        """A new booking, received, and its ``booking.requested`` event."""
        url = status_url(base_url, reference, secret)
        event = new_event(BookingRequestedData(booking_id=reference, booking=details, status_url=url), now=now)
        booking = cls(
            id=reference,
            secret=secret,
            status_url=url,
            status="received",
            details=details,
            created_at=now,
            updated_at=now,
            history=(HistoryEntry(at=now, status="received", event_id=str(event.event_id)),),
            idempotency=idempotency,
        )
        return Recorded(booking, event)

    def opens_with(self, secret: str | None) -> bool:
        """Whether ``secret`` is this booking's (the workplace's link); compared in constant time."""
        return bool(secret) and secrets.compare_digest(self.secret.encode(), str(secret).encode())

    @property
    def is_open(self) -> bool:
        """Whether the booking may still change: not cancelled, and no cancellation under way."""
        return self.status in OPEN_STATUSES and self.cancel_requested_at is None

    @property
    def cancel_pending(self) -> bool:
        return self.cancel_requested_at is not None and self.status != "cancelled"

    def request_cancel(self, *, by: Requester, reason: str, now: datetime, actor: str | None = None) -> Recorded:
        """Record the wish to cancel and announce it; raises ``NotOpen`` if the booking is not open.
        ``actor``: who exactly, for the history (``admin:NAME`` from the back office); else ``by``."""
        if not self.is_open:
            raise NotOpen
        event = new_event(BookingCancelRequestedData(booking_id=self.id, requested_by=by, reason=reason), now=now)
        entry = HistoryEntry(
            at=now, status="cancel_requested", event_id=str(event.event_id), by=actor or by, reason=reason or None
        )
        return Recorded(replace(self, cancel_requested_at=now, updated_at=now, history=(*self.history, entry)), event)

    def request_reschedule(self, request: RescheduleRequest, *, now: datetime, actor: str | None = None) -> Recorded:
        """Record the wish for a new time and announce it; raises ``NotOpen`` if the booking is not open.
        ``actor``: who exactly, for the history (``admin:NAME`` from the back office); else ``request.by``."""
        if not self.is_open:
            raise NotOpen
        data = BookingRescheduleRequestedData(
            booking_id=self.id,
            requested_by=request.by,
            preferred_starts=request.preferred_starts,
            start=request.start,
            consultant_id=request.consultant_id,
        )
        event = new_event(data, now=now)
        entry = HistoryEntry(
            at=now,
            status="reschedule_requested",
            event_id=str(event.event_id),
            by=actor or request.by,
            preferred_starts=request.preferred_starts,
            start=request.start,
            consultant_id=request.consultant_id,
        )
        changed = replace(self, reschedule_requested_at=now, updated_at=now, history=(*self.history, entry))
        return Recorded(changed, event)

    def open_offers(self, now: datetime) -> tuple[Offer, ...]:
        """The offers that can still be accepted."""
        return tuple(offer for offer in self.offers if offer.expires_at > now)

    def request_offer_accept(self, offer_id: str, *, by: Requester, now: datetime) -> Recorded:
        """Accept an offer: the scheduler places the talk at its time if it is still free. Raises
        ``NotOpen``, ``UnknownOffer``, or ``OfferExpired`` (its time was passed on)."""
        if not self.is_open:
            raise NotOpen
        offer = next((offer for offer in self.offers if offer.id == offer_id), None)
        if offer is None:
            raise UnknownOffer(offer_id)
        if offer.expires_at <= now:
            raise OfferExpired(offer_id)
        data = BookingOfferAcceptRequestedData(booking_id=self.id, offer_id=offer_id, requested_by=by)
        event = new_event(data, now=now)
        entry = HistoryEntry(at=now, status="offer_accept_requested", event_id=str(event.event_id), by=by)
        changed = replace(self, offer_accept_requested_at=now, updated_at=now, history=(*self.history, entry))
        return Recorded(changed, event)

    def request_waitlist(self, request: WaitlistRequest, *, by: Requester, now: datetime) -> Recorded:
        """Change what happens when a wanted time frees (for a scheduled talk: whether an earlier time is
        wanted); ``off`` drops the open offers. Raises ``NotOpen``."""
        if not self.is_open:
            raise NotOpen
        data = BookingWaitlistRequestedData(
            booking_id=self.id, requested_by=by, waitlist=request.mode, window=request.window
        )
        event = new_event(data, now=now)
        entry = HistoryEntry(at=now, status="waitlist_requested", event_id=str(event.event_id), by=by)
        details = self.details.model_copy(update={"waitlist": request.mode, "waitlist_window": request.window})
        changed = replace(
            self,
            details=details,
            offers=() if request.mode == "off" else self.offers,
            updated_at=now,
            history=(*self.history, entry),
        )
        return Recorded(changed, event)

    def erase(self, *, by: Eraser, now: datetime) -> Recorded | None:
        """The booking without its personal data, and the ``booking.erased`` event that has every service
        erase its copy; None when that was done before. Kept: the talk (theme, setting, numbers, time,
        consultant, postcode and city) and its history, for the record and the statistics."""
        if self.erased_at is not None:
            return None
        event = new_event(BookingErasedData(booking_id=self.id), now=now)
        entry = HistoryEntry(at=now, status="erased", event_id=str(event.event_id), by=by)
        erased = replace(
            self,
            details=self.details.anonymised(),
            cancel_reason=None,
            idempotency=None,  # its request hash is a fingerprint of the personal data
            erased_at=now,
            updated_at=now,
            history=(*self.history, entry),
        )
        return Recorded(erased, event)

    def apply_outcome(self, event: Outcome) -> Booking | None:
        """The booking after the scheduler's ``event``; None if it changes nothing: an outcome already
        applied, or one older than the last applied.

        "Older" is by the outcome's revision, which the scheduler raises with every outcome it stores
        for the booking: not by a clock, which may differ between replicas."""
        revision = event.data.revision
        if any(entry.event_id == str(event.event_id) for entry in self.history):
            return None
        if self.revision is not None and revision <= self.revision:
            return None
        update = outcome_update(event)
        if update is not None:  # every outcome but the waitlist's offers is decided by the event alone
            return replace(self, **update.changes, history=(*self.history, update.entry))
        data = event.data
        if isinstance(data, BookingOfferMadeData):
            changed = replace(self, offers=(*self.offers, data.offer))
        elif isinstance(data, BookingOfferExpiredData):
            changed = replace(self, offers=tuple(o for o in self.offers if o.id != data.offer_id))
        else:
            assert isinstance(data, BookingOfferTakenData)
            # Just taken by someone else: fresh choices; a scheduled talk keeps its time.
            changed = replace(
                self,
                status="scheduled" if data.current_slot else "needs_alternative",
                slot=data.current_slot,
                offers=tuple(o for o in self.offers if o.id != data.offer_id),
                alternatives=tuple(data.alternatives),
                offer_accept_requested_at=None,
                offer_taken=True,
            )
        at = event.occurred_at
        step = _OFFER_STEPS.get(event.type, changed.status)
        entry = HistoryEntry(at=at, status=step, event_id=str(event.event_id), type=event.type)
        return replace(changed, revision=revision, status_at=at, updated_at=at, history=(*self.history, entry))


@dataclass(frozen=True)
class OutcomeUpdate:
    """What a scheduler's outcome changes of its booking, decided by the event alone: the new values of
    ``Booking`` fields by name, and the history entry to add. The store applies it in one conditional
    write, without reading the booking first, unless the booking has the outcome or a newer one already."""

    booking_id: str
    changes: Mapping[str, Any]  # Booking field name -> new value (revision, status_at, updated_at included)
    entry: HistoryEntry


def outcome_update(event: Outcome) -> OutcomeUpdate | None:
    """The update an outcome makes, or None for the waitlist's offers, which depend on the offers the
    booking holds (read it and use ``Booking.apply_outcome``)."""
    data = event.data
    changes: dict[str, Any]
    if isinstance(data, BookingOfferMadeData | BookingOfferExpiredData | BookingOfferTakenData):
        return None
    if isinstance(data, BookingCancelledData):
        changes = {"status": "cancelled", "slot": None, "alternatives": (), "cancel_reason": data.reason, "offers": ()}
    elif isinstance(data, BookingNeedsAlternativeData):
        # A scheduled talk that could not be moved stays scheduled; the alternatives are offered.
        kept = data.current_slot
        changes = {
            "status": "scheduled" if kept else "needs_alternative",
            "slot": kept,
            "alternatives": tuple(data.alternatives),
            "reason": data.reason,
            "reschedule_requested_at": None,
            "offer_taken": False,
        }
    else:  # scheduled, or moved to a new time (an offer accepted, or given directly from the waitlist)
        changes = {
            "status": "scheduled",
            "slot": data.slot,
            "sequence": data.sequence,
            "alternatives": (),
            "reschedule_requested_at": None,
            "offers": (),
            "offer_accept_requested_at": None,
            "offer_taken": False,
        }
    at = event.occurred_at
    changes.update(revision=data.revision, status_at=at, updated_at=at)
    entry = HistoryEntry(at=at, status=changes["status"], event_id=str(event.event_id), type=event.type)
    return OutcomeUpdate(data.booking_id, changes, entry)


# The history's word for an offer's outcome (other outcomes record the booking's new status).
_OFFER_STEPS = {
    "booking.offer_made": "offer_made",
    "booking.offer_expired": "offer_expired",
    "booking.offer_taken": "offer_taken",
}


@dataclass(frozen=True)
class Recorded:
    """A booking after a change, and the event that announces the change (stored together)."""

    booking: Booking
    event: Event
