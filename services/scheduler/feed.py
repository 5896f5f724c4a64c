"""A consultant's talks as an iCalendar feed (RFC 5545) that calendar programs can subscribe to."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from icalendar import Calendar, Event

from shared.contracts.catalogue import content
from shared.text.clean import multi_line, one_line
from shared.text.ical import PRODID, booking_uid, copenhagen_vtimezone, eu_rule_agrees
from shared.text.localtime import LOCAL_TZ


def calendar_feed(consultant_name: str, talks: Iterable[dict[str, Any]], *, now: datetime) -> bytes:
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
    for talk in sorted(talks, key=lambda t: t["start"]):
        event = Event()
        event.add("uid", booking_uid(talk["booking_id"]))
        event.add("dtstamp", now.astimezone(UTC))
        start, end = talk["start"].astimezone(LOCAL_TZ), talk["end"].astimezone(LOCAL_TZ)
        if not (eu_rule_agrees(start) and eu_rule_agrees(end)):
            start, end = start.astimezone(UTC), end.astimezone(UTC)
        event.add("dtstart", start)
        event.add("dtend", end)
        event.add("summary", one_line(f"Inspirationsoplæg: {content().theme_title(talk.get('theme', ''), 'da')}"))
        event.add("location", one_line(talk.get("location", "")))
        setting = content().setting(talk.get("setting", ""), "da")
        lines = [
            f"Booking: {talk['booking_id']}",
            f"Ramme: {setting}",
            f"Deltagere: {talk.get('participants', '')}",
            f"Kontakt: {talk.get('contact', '')}",
        ]
        if talk.get("notes"):
            lines.append(f"Bemærkninger: {talk['notes']}")
        event.add("description", multi_line("\n".join(lines)))
        event.add("status", "CONFIRMED")
        event.add("transp", "OPAQUE")
        calendar.add_component(event)
    return bytes(calendar.to_ical())
