"""iCalendar feeds over HTTP (what Outlook, Google and Apple publish), with aiohttp.

Conditional GET (``If-None-Match`` / ``If-Modified-Since`` from the last answer), one time-out for
the whole request, and a cap on the body that is checked while it streams in, so a huge or endless
answer is cut off without being held in memory. Redirects are followed (at most 5).
"""

from __future__ import annotations

import asyncio

import aiohttp

from services.scheduler.calendars.expand import Window
from services.scheduler.calendars.fetching import Fetched, FetchFailed, Unchanged, Validators, size_text
from services.scheduler.calendars.sources import SourceAccess

USER_AGENT = "inspiration-scheduler/1 (busy times of the consultant's calendar)"
CHUNK = 64 * 1024


class FeedFetcher:
    def __init__(self, session: aiohttp.ClientSession, *, timeout: float, max_bytes: int) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._timeout_seconds = timeout
        self._max_bytes = max_bytes

    async def fetch(self, access: SourceAccess, previous: Validators | None, window: Window) -> Unchanged | Fetched:
        headers = {"Accept": "text/calendar, */*;q=0.5", "User-Agent": USER_AGENT}
        if previous is not None:
            if previous.etag:
                headers["If-None-Match"] = previous.etag
            if previous.last_modified:
                headers["If-Modified-Since"] = previous.last_modified
        try:
            async with self._session.get(
                access.url, headers=headers, timeout=self._timeout, max_redirects=5
            ) as response:
                if response.status == 304:
                    return Unchanged()
                if response.status >= 400:
                    raise FetchFailed(f"HTTP {response.status}")
                if response.status != 200:
                    raise FetchFailed(f"unexpected HTTP {response.status}")
                if response.content_length is not None and response.content_length > self._max_bytes:
                    raise FetchFailed(f"larger than the limit of {size_text(self._max_bytes)}")
                body = bytearray()
                async for chunk in response.content.iter_chunked(CHUNK):
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise FetchFailed(f"larger than the limit of {size_text(self._max_bytes)}")
                return Fetched(
                    bytes(body),
                    Validators(etag=response.headers.get("ETag"), last_modified=response.headers.get("Last-Modified")),
                )
        except TimeoutError:
            raise FetchFailed(f"no complete answer within {self._timeout_seconds:g} s") from None
        except aiohttp.TooManyRedirects:
            raise FetchFailed("too many redirects") from None
        except aiohttp.ClientConnectionError as exc:
            # aiohttp's messages name the host; the reason stays generic
            raise FetchFailed(f"could not connect ({type(exc).__name__})") from None
        except (aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
            raise FetchFailed(f"HTTP error ({type(exc).__name__})") from None
