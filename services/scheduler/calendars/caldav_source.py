"""CalDAV calendar collections (Nextcloud, Fastmail, iCloud, Radicale) with the ``caldav`` library.

The library is synchronous, so each fetch runs in a worker thread (``asyncio.to_thread``). The
collection's ``DAV:sync-token`` (RFC 6578), or else its ``CS:getctag``, changes with every change in
the collection: while it is the one stored, nothing is downloaded. Otherwise the server is asked
for the events that have an occurrence in the window (a ``calendar-query`` time range) and their
recurrence is expanded here, as for a feed, never by the server.

The size cap is checked on the events received (the library reads the whole answer first; the
time-out bounds how long that can take).
"""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import ClassVar

import caldav
import requests
from caldav.elements import dav
from caldav.elements.base import ValuedBaseElement
from caldav.lib import error as dav_error

from services.scheduler.calendars.expand import Window
from services.scheduler.calendars.fetching import Fetched, FetchFailed, Unchanged, Validators, size_text
from services.scheduler.calendars.sources import SourceAccess


class _GetCtag(ValuedBaseElement):
    tag: ClassVar[str] = "{http://calendarserver.org/ns/}getctag"


class CalDavFetcher:
    def __init__(self, *, timeout: float, max_bytes: int) -> None:
        self._timeout = timeout
        self._max_bytes = max_bytes

    async def fetch(self, access: SourceAccess, previous: Validators | None, window: Window) -> Unchanged | Fetched:
        return await asyncio.to_thread(self._fetch, access, previous, window)

    def _fetch(self, access: SourceAccess, previous: Validators | None, window: Window) -> Unchanged | Fetched:
        try:
            with caldav.DAVClient(
                url=access.url,
                username=access.username,
                password=access.password,
                timeout=int(max(1, round(self._timeout))),
            ) as client:
                calendar = client.calendar(url=access.url)  # type: ignore[no-untyped-call]
                tag = self._collection_tag(calendar)
                if previous is not None and tag is not None and previous.collection_tag == tag:
                    return Unchanged()
                found = calendar.search(
                    start=window.start.astimezone(UTC), end=window.end.astimezone(UTC), event=True, expand=False
                )
                chunks: list[bytes] = []
                size = 0
                for item in found:
                    data = item.data
                    chunk = data.encode("utf-8") if isinstance(data, str) else bytes(data or b"")
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise FetchFailed(f"larger than the limit of {size_text(self._max_bytes)}")
                    chunks.append(chunk)
                if not chunks:
                    chunks.append(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//empty//EN\r\nEND:VCALENDAR\r\n")
                return Fetched(b"\r\n".join(chunks), Validators(collection_tag=tag))
        except FetchFailed:
            raise
        except dav_error.AuthorizationError:
            raise FetchFailed("the CalDAV server refused the username or password") from None
        except dav_error.NotFoundError:
            raise FetchFailed("no CalDAV calendar at this URL (404)") from None
        except dav_error.DAVError as exc:
            raise FetchFailed(f"CalDAV error ({type(exc).__name__})") from None
        except requests.Timeout:
            raise FetchFailed(f"no complete answer within {self._timeout:g} s") from None
        except requests.ConnectionError:
            raise FetchFailed("could not connect (ConnectionError)") from None
        except requests.RequestException as exc:
            raise FetchFailed(f"HTTP error ({type(exc).__name__})") from None
        except Exception as exc:  # e.g. lxml on an answer that is not WebDAV XML: not a CalDAV collection
            raise FetchFailed(f"not a CalDAV calendar ({type(exc).__name__})") from None

    @staticmethod
    def _collection_tag(calendar: caldav.Calendar) -> str | None:
        props = calendar.get_properties([dav.SyncToken(), _GetCtag()])
        for tag in (dav.SyncToken.tag, _GetCtag.tag):
            value = props.get(tag)
            if value:
                return str(value)
        return None
