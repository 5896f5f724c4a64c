"""A consultant's ``external_calendars`` entry: validated, and its password sealed.

``{"url": ...}`` is an iCalendar feed (https, http, or webcal, which means https);
``{"url": ..., "username": ..., "password": ...}`` is a CalDAV calendar collection. The password
is sealed (see :mod:`.credentials`) while the input is validated, so the model never holds it in
clear: input from a person is validated with :func:`input_context`, and stored documents (which
carry ``password_sealed``) without it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from services.scheduler.calendars.credentials import CredentialCipher

Kind = Literal["feed", "caldav"]
_INPUT = "external_calendars_input"


@dataclass(frozen=True)
class _Input:
    cipher: CredentialCipher | None


def input_context(cipher: CredentialCipher | None) -> dict[str, Any]:
    """The pydantic validation context for consultants given by a person (API body, YAML file)."""
    return {_INPUT: _Input(cipher)}


def normalize_url(url: str) -> str:
    """``webcal://`` (and ``webcals://``) as https; only http and https with a host; no credentials."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme in ("webcal", "webcals"):
        scheme = "https"
    if scheme not in ("http", "https"):
        raise ValueError("the calendar URL must start with https://, http:// or webcal://")
    if not parts.hostname:
        raise ValueError("the calendar URL has no host")
    if parts.username or parts.password:
        raise ValueError("put the username and password in their own fields, not in the URL")
    return urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))


class ExternalCalendar(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    url: Annotated[str, Field(min_length=1, max_length=2000)]
    username: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    password_sealed: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _seal_password(cls, data: Any, info: ValidationInfo) -> Any:
        given = (info.context or {}).get(_INPUT)
        if not isinstance(given, _Input) or not isinstance(data, dict):
            return data
        if "password_sealed" in data:
            raise ValueError("unknown field password_sealed")
        data = dict(data)
        password = data.pop("password", None)
        if password is None or password == "":
            return data
        if not isinstance(password, str) or len(password) > 1000:
            raise ValueError("password must be a text of at most 1000 characters")
        if not data.get("username"):
            raise ValueError("a password needs a username (a CalDAV calendar); a feed URL needs neither")
        if given.cipher is None:
            raise ValueError("CalDAV passwords can only be stored when the scheduler has CALENDAR_KEY set")
        data["password_sealed"] = given.cipher.seal(password)
        return data

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return normalize_url(value)

    @property
    def kind(self) -> Kind:
        return "caldav" if self.username else "feed"

    @property
    def id(self) -> str:
        """Stable, opaque id of the source: the same URL and username give the same id."""
        digest = hashlib.sha256(f"{self.url}\n{self.username or ''}".encode()).hexdigest()
        return digest[:16]


def with_kept_passwords(new: list[ExternalCalendar], old: list[ExternalCalendar]) -> list[ExternalCalendar]:
    """A CalDAV source given again without its password keeps the stored one (the API never shows it)."""
    sealed = {source.id: source.password_sealed for source in old if source.password_sealed}
    return [
        source.model_copy(update={"password_sealed": sealed[source.id]})
        if source.username and not source.password_sealed and source.id in sealed
        else source
        for source in new
    ]


def without_password(sources: list[ExternalCalendar]) -> list[int]:
    """Indexes of CalDAV sources that have no password."""
    return [index for index, source in enumerate(sources) if source.username and not source.password_sealed]


@dataclass(frozen=True)
class SourceAccess:
    """What a fetcher needs; the password in clear lives only here, in memory, for one fetch."""

    url: str
    kind: Kind
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never the password, nor the URL (a feed URL is often a secret)
        return f"SourceAccess(kind={self.kind!r})"


def access_of(source: ExternalCalendar, cipher: CredentialCipher | None) -> SourceAccess:
    """Open the sealed password (raises ``CredentialsUnreadable`` or ``ValueError`` without a key)."""
    password = None
    if source.password_sealed:
        if cipher is None:
            raise ValueError("CALENDAR_KEY is not set: the stored calendar password cannot be opened")
        password = cipher.open(source.password_sealed)
    return SourceAccess(url=source.url, kind=source.kind, username=source.username, password=password)
