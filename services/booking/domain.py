"""The booking rules (DESIGN §1, issue 2 §4) as pure functions: ``parse_booking`` turns untrusted
input (a JSON body or the form's fields) into ``BookingDetails`` or raises ``InvalidBooking`` with
one ``FieldError`` per wrong field. Nothing here does I/O; ``now`` is an argument.

Structure and types are checked strictly by a pydantic model (unknown fields, ``$``-keys and
non-strings where a string belongs are refused, so no operator can reach a MongoDB query); the
desired start times are then checked against the calendar rules.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from shared.contracts.catalogue import content
from shared.contracts.models import BookingDetails, Contact, Workplace
from shared.text.clean import has_forbidden, normalize_newlines
from shared.text.email import normalize_email
from shared.text.localtime import NonexistentLocalTime, parse_start, to_local
from shared.text.phone import normalize_phone

MIN_DURATION, MAX_DURATION = 90, 120
DURATION_CHOICES = (90, 105, 120)  # what the form offers; the API takes any whole number in range
MIN_PARTICIPANTS, MAX_PARTICIPANTS = 1, 500
MAX_STARTS = 3


@dataclass(frozen=True)
class BookingRules:
    min_notice: timedelta = timedelta(days=14)
    max_ahead: timedelta = timedelta(days=365)
    day_start: time = time(8, 0)
    day_end: time = time(17, 0)


@dataclass(frozen=True)
class FieldError:
    field: str  # dotted path: "contact.email", "preferred_starts.1"
    code: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def message(self, lang: str = "da") -> str:
        texts = MESSAGES.get(self.code) or MESSAGES["invalid"]
        return texts["en" if lang == "en" else "da"].format(**self.params)

    def as_json(self, lang: str = "da") -> dict[str, str]:
        return {"field": self.field, "message": self.message(lang)}


class InvalidBooking(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(", ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors = errors


MESSAGES: dict[str, dict[str, str]] = {
    "missing": {"da": "Skal udfyldes.", "en": "This field is required."},
    "extra_forbidden": {"da": "Ukendt felt – det kan ikke bruges her.", "en": "Unknown field: not allowed here."},
    "string_type": {"da": "Skal være tekst.", "en": "Must be text."},
    "string_too_short": {"da": "Skal udfyldes.", "en": "This field is required."},
    "string_too_long": {
        "da": "Må højst være {max_length} tegn.",
        "en": "Must be at most {max_length} characters.",
    },
    "int_type": {"da": "Skal være et helt tal.", "en": "Must be a whole number."},
    "model_type": {"da": "Skal være et objekt med felter.", "en": "Must be an object with fields."},
    "theme_one": {
        "da": "Vælg præcis ét tema fra kataloget – der er ét tema pr. oplæg. "
        "Ønsker I et andet tema, så book et oplæg mere.",
        "en": "Choose exactly one theme from the catalogue – one theme per talk. For another theme, book another talk.",
    },
    "setting": {
        "da": "Vælg enten personalemøde eller arbejdsmiljøgruppen.",
        "en": "Choose either a staff meeting or the work environment group.",
    },
    "language": {"da": "Sproget skal være da eller en.", "en": "Language must be da or en."},
    "duration": {
        "da": "Et oplæg varer 90 til 120 minutter (1,5 til 2 timer).",
        "en": "A talk lasts 90 to 120 minutes (1.5 to 2 hours).",
    },
    "participants": {
        "da": "Antal deltagere skal være et helt tal fra 1 til 500.",
        "en": "The number of participants must be a whole number from 1 to 500.",
    },
    "starts_count": {
        "da": "Angiv 1 til 3 ønskede tidspunkter.",
        "en": "Give 1 to 3 desired times.",
    },
    "starts_type": {
        "da": "Ønskede tidspunkter skal være en liste af tidspunkter.",
        "en": "Desired times must be a list of times.",
    },
    "start_format": {
        "da": "Ugyldigt tidspunkt. Brug dato og klokkeslæt, fx 2027-03-02T13:00.",
        "en": "Invalid time. Use date and time, e.g. 2027-03-02T13:00.",
    },
    "start_nonexistent": {
        "da": "Tidspunktet findes ikke, fordi uret stilles frem til sommertid. Vælg et andet.",
        "en": "That time does not exist because the clocks go forward for summer time. Choose another.",
    },
    "start_weekend": {
        "da": "Oplæg holdes på hverdage (mandag til fredag).",
        "en": "Talks are held on weekdays (Monday to Friday).",
    },
    "start_hours": {
        "da": "Oplægget skal ligge mellem kl. {day_start} og {day_end} (start og slut).",
        "en": "The talk must start and end between {day_start} and {day_end}.",
    },
    "start_too_soon": {
        "da": "Tidspunktet skal ligge mindst {days} dage ude i fremtiden.",
        "en": "The time must be at least {days} days ahead.",
    },
    "start_too_late": {
        "da": "Tidspunktet må højst ligge {days} dage ude i fremtiden.",
        "en": "The time can be at most {days} days ahead.",
    },
    "start_duplicate": {
        "da": "Samme tidspunkt er angivet to gange.",
        "en": "The same time is given twice.",
    },
    "email": {
        "da": "Ugyldig e-mailadresse, fx navn@arbejdsplads.dk.",
        "en": "Invalid e-mail address, e.g. name@workplace.dk.",
    },
    "phone": {
        "da": "Telefonnummeret skal være et dansk nummer med 8 cifre eller et internationalt nummer med +landekode.",
        "en": "The phone number must be a Danish 8-digit number or an international number with +country code.",
    },
    "postcode": {"da": "Postnummeret skal være 4 cifre.", "en": "The postcode must be 4 digits."},
    "text_line": {
        "da": "Må kun være én linje uden kontroltegn eller usynlige styretegn (fx linjeskift eller retningstegn).",
        "en": "Must be a single line without control or invisible formatting characters "
        "(such as line breaks or direction overrides).",
    },
    "text_chars": {
        "da": "Må ikke indeholde kontroltegn eller usynlige styretegn (fx retningstegn); "
        "almindelige linjeskift er fine.",
        "en": "Must not contain control or invisible formatting characters (such as direction overrides); "
        "ordinary line breaks are fine.",
    },
    "invalid": {"da": "Ugyldig værdi.", "en": "Invalid value."},
}


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


MAX_REASON = 1000


def check_reason(value: object) -> FieldError | None:
    """A cancellation reason: optional text of at most 1,000 characters, line breaks allowed."""
    if not isinstance(value, str):
        return FieldError("reason", "string_type")
    if len(value) > MAX_REASON:
        return FieldError("reason", "string_too_long", {"max_length": MAX_REASON})
    if has_forbidden(value, multiline=True):
        return FieldError("reason", "text_chars")
    return None


# --- calendar rules ----------------------------------------------------------------------------------


def check_starts(
    texts: list[str], duration_minutes: int | None, *, now: datetime, rules: BookingRules
) -> tuple[list[datetime], list[FieldError]]:
    """Parse desired start times and check them; returns the UTC starts and the errors."""
    starts: list[datetime] = []
    errors: list[FieldError] = []
    seen: set[datetime] = set()
    hours = {"day_start": f"{rules.day_start:%H.%M}", "day_end": f"{rules.day_end:%H.%M}"}
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
        local = to_local(start)
        problem: FieldError | None = None
        if start in seen:
            problem = FieldError(where, "start_duplicate")
        elif local.weekday() >= 5:
            problem = FieldError(where, "start_weekend")
        elif not _inside_hours(start, duration_minutes, rules):
            problem = FieldError(where, "start_hours", hours)
        elif start < now + rules.min_notice:
            problem = FieldError(where, "start_too_soon", {"days": rules.min_notice.days})
        elif start > now + rules.max_ahead:
            problem = FieldError(where, "start_too_late", {"days": rules.max_ahead.days})
        if problem:
            errors.append(problem)
        seen.add(start)
        starts.append(start)
    return starts, errors


def _inside_hours(start: datetime, duration_minutes: int | None, rules: BookingRules) -> bool:
    local_start = to_local(start)
    if local_start.time() < rules.day_start:
        return False
    end = to_local(start + timedelta(minutes=duration_minutes or MIN_DURATION))
    return end.date() == local_start.date() and end.time() <= rules.day_end


# --- the one entry point ------------------------------------------------------------------------------


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
    )
