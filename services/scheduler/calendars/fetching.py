"""Getting a source's data: the port both fetchers implement, and what they answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.scheduler.calendars.expand import Window
from services.scheduler.calendars.sources import SourceAccess


@dataclass(frozen=True, slots=True)
class Validators:
    """What tells that a source has not changed since it was read: HTTP validators of a feed,
    the sync-token or CTag of a CalDAV collection."""

    etag: str | None = None
    last_modified: str | None = None
    collection_tag: str | None = None


@dataclass(frozen=True, slots=True)
class Unchanged:
    """The source answered that nothing changed since ``previous``."""


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes  # one or more iCalendar objects
    validators: Validators


class FetchFailed(Exception):
    """The source could not be read. ``reason`` is short and holds no URL, host or person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CalendarFetcher(Protocol):
    async def fetch(self, access: SourceAccess, previous: Validators | None, window: Window) -> Unchanged | Fetched:
        """Read the source; with ``previous`` the source may answer :class:`Unchanged`.

        ``window``: the data needed (a CalDAV server is asked for this range only).
        Raises :class:`FetchFailed`.
        """
        ...


def size_text(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MiB" if limit >= 1024 * 1024 else f"{limit:,} bytes"
