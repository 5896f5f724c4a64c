"""Consultants as the admin gives them (API body or YAML file), validated, and as the domain sees them."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from services.scheduler.calendars.sources import ExternalCalendar
from services.scheduler.domain import Consultant
from shared.contracts.catalogue import content
from shared.text.clean import ONE_LINE_MESSAGE, has_forbidden
from shared.text.email import normalize_email
from shared.text.i18n import shared_catalogue

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _single_line(value: str) -> str:
    if has_forbidden(value):
        raise PydanticCustomError("text_line", "text_line")
    return value


Line = Annotated[str, AfterValidator(_single_line)]


class Absence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start: date
    end: date
    note: Annotated[Line, Field(max_length=200)] = ""

    @model_validator(mode="after")
    def _ordered(self) -> Absence:
        if self.end < self.start:
            raise ValueError("end must be on or after start")
        return self


class ConsultantIn(BaseModel):
    """A consultant as the admin gives it (API body or YAML file), as stored and as the API returns it."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    name: Annotated[Line, Field(min_length=1, max_length=200)]
    email: Line
    phone: Annotated[Line, Field(max_length=30)] | None = None
    working_hours: dict[str, tuple[str, str]] = Field(
        default_factory=lambda: {d: ("08:00", "16:00") for d in WEEKDAYS[:5]}
    )
    absences: list[Absence] = Field(default_factory=list, max_length=500)
    travel_buffer_minutes: Annotated[int, Field(ge=0, le=240)] = 60
    max_talks_per_day: Annotated[int, Field(ge=1, le=10)] = 2
    themes: list[str] | None = None  # None: gives every theme
    # Busy times from the consultant's own calendars. Validate input from a person with
    # the context of ``ExternalCalendars.input_context()``, which seals CalDAV passwords.
    external_calendars: list[ExternalCalendar] = Field(default_factory=list, max_length=10)
    # A deactivated consultant keeps their data and talks but is given no new ones.
    active: bool = True

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
        for day, (start, end) in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r}; use {', '.join(WEEKDAYS)}")
            if not (_CLOCK.match(start) and _CLOCK.match(end)):
                raise ValueError(f"{day}: times must be HH:MM")
            if end <= start:
                raise ValueError(f"{day}: the day must end after it starts")
        return value

    @field_validator("themes")
    @classmethod
    def _themes(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            unknown = sorted(set(value) - content().theme_ids)
            if unknown:
                raise ValueError(f"unknown themes {unknown}; known: {sorted(content().theme_ids)}")
        return value

    @field_validator("external_calendars")
    @classmethod
    def _distinct_calendars(cls, value: list[ExternalCalendar]) -> list[ExternalCalendar]:
        if len({source.id for source in value}) != len(value):
            raise ValueError("the same calendar (URL and username) is given twice")
        return value

    def to_domain(self) -> Consultant:
        return Consultant(
            id=self.id,
            name=self.name,
            email=self.email,
            phone=self.phone,
            working_hours={
                WEEKDAYS.index(day): (time.fromisoformat(start), time.fromisoformat(end))
                for day, (start, end) in self.working_hours.items()
            },
            absences=tuple((a.start, a.end) for a in self.absences),
            travel_buffer=timedelta(minutes=self.travel_buffer_minutes),
            max_talks_per_day=self.max_talks_per_day,
            themes=frozenset(self.themes) if self.themes is not None else None,
            has_own_calendars=bool(self.external_calendars),
        )


@dataclass(frozen=True, slots=True)
class StoredConsultant:
    """A consultant as stored: with the secret tokens of its calendar feed URL and of its private page."""

    consultant: ConsultantIn
    feed_token: str
    page_token: str | None = None  # None: stored before pages existed (rotating it makes one)


def errors_of(exc: ValidationError, lang: str = "da") -> list[dict[str, str]]:
    errors = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(p) for p in error["loc"]) or "body"
        # Our own check speaks the users' language; pydantic's own messages stay as they are.
        own = error["type"] == "text_line"
        message = shared_catalogue().gettext(lang, ONE_LINE_MESSAGE) if own else error["msg"]
        errors.append({"field": field, "message": message})
    return errors


def new_feed_token() -> str:
    return secrets.token_urlsafe(24)


new_page_token = new_feed_token


def load_file(path: str | Path, context: dict[str, Any] | None = None) -> list[ConsultantIn]:
    """Consultants from a YAML file: ``consultants: [...]`` (or a bare list); ``context``: the
    validation context (see ``external_calendars``)."""
    data: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    items = data.get("consultants", []) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of consultants under 'consultants:'")
    return [ConsultantIn.model_validate(item, context=context) for item in items]
