"""A consultant's talks as an iCalendar feed (RFC 5545) that calendar programs can subscribe to."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from aiohttp import web
from icalendar import Calendar, Event

from services.scheduler.context import CALENDAR
from services.scheduler.days import BookedTalk, local_day
from shared.contracts.catalogue import content
from shared.infra.errors import json_errors
from shared.text.clean import multi_line, one_line
from shared.text.ical import PRODID, booking_uid, copenhagen_vtimezone, eu_rule_agrees
from shared.text.localtime import LOCAL_TZ

routes = web.RouteTableDef()
FEED_HISTORY = timedelta(days=90)


@routes.get("/api/v1/consultants/{id}/calendar.ics")
async def consultant_calendar(request: web.Request) -> web.Response:
    """Subscribable feed; the secret token in the URL is the only credential calendar apps can send."""
    consultant_id, token = request.match_info["id"], request.query.get("token", "")
    store = request.app[CALENDAR]
    stored = await store.consultant_by_feed_token(consultant_id, token) if token else None
    if stored is None or not secrets.compare_digest(stored.feed_token, token):
        return json_errors(404, [{"field": "token", "message": "unknown calendar"}])
    now = datetime.now(UTC)
    talks = await store.talks_of(consultant_id, since=local_day(now - FEED_HISTORY))
    return web.Response(
        body=calendar_feed(stored.consultant.name, talks, now=now),
        content_type="text/calendar",
        charset="utf-8",
        headers={
            "Content-Disposition": f'inline; filename="{consultant_id}.ics"',
            "Cache-Control": "private, max-age=300",
        },
    )


def calendar_feed(consultant_name: str, talks: Iterable[BookedTalk], *, now: datetime) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"Inspirationsoplæg – {consultant_name}")
    calendar.add("x-wr-timezone", "Europe/Copenhagen")
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    calendar.add_component(copenhagen_vtimezone())
    for talk in sorted(talks, key=lambda t: t.start):
        event = Event()
        event.add("uid", booking_uid(talk.booking_id))
        event.add("dtstamp", now.astimezone(UTC))
        start, end = talk.start.astimezone(LOCAL_TZ), talk.end.astimezone(LOCAL_TZ)
        if not (eu_rule_agrees(start) and eu_rule_agrees(end)):
            start, end = start.astimezone(UTC), end.astimezone(UTC)
        event.add("dtstart", start)
        event.add("dtend", end)
        event.add("summary", one_line(f"Inspirationsoplæg: {content().theme_title(talk.theme, 'da')}"))
        event.add("location", one_line(talk.location))
        lines = [
            f"Booking: {talk.booking_id}",
            f"Ramme: {content().setting(talk.setting, 'da')}",
            f"Deltagere: {talk.participants}",
            f"Kontakt: {talk.contact}",
        ]
        if talk.notes:
            lines.append(f"Bemærkninger: {talk.notes}")
        event.add("description", multi_line("\n".join(lines)))
        event.add("status", "CONFIRMED")
        event.add("transp", "OPAQUE")
        calendar.add_component(event)
    return bytes(calendar.to_ical())
