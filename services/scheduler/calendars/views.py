"""How a consultant's external calendars are shown in the admin API: never a password."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from services.scheduler.calendars.sources import ExternalCalendar
from services.scheduler.calendars.status import SourceState, StalePolicy, blocks_placement, health
from shared.contracts.models import utc_iso
from shared.text.localtime import format_local, to_local


def moment(value: datetime | None) -> dict[str, str] | None:
    if value is None:
        return None
    return {"utc": utc_iso(value), "local": to_local(value).isoformat(), "text": format_local(value, "en")}


def source_view(
    source: ExternalCalendar,
    state: SourceState | None,
    *,
    now: datetime,
    stale_after: timedelta,
    policy: StalePolicy,
) -> dict[str, Any]:
    view: dict[str, Any] = {"id": source.id, "kind": source.kind, "url": source.url}
    if source.username:
        view["username"] = source.username
        view["has_password"] = source.password_sealed is not None
    if state is None:  # the consultant was saved a moment ago; the refresher has not seen it yet
        view.update(status="pending", blocks_placement=policy == "busy", error=None)
        return view
    view.update(
        status=health(state, now, stale_after).value,
        blocks_placement=blocks_placement(state, now, stale_after, policy),
        error=state.error,
        failures=state.failures,
        last_attempt=moment(state.attempted_at),
        last_success=moment(state.succeeded_at),
        busy_times=state.busy_count,
    )
    return view


def sources_view(
    sources: list[ExternalCalendar],
    states: Mapping[str, SourceState],
    *,
    now: datetime,
    stale_after: timedelta,
    policy: StalePolicy,
) -> list[dict[str, Any]]:
    """``states`` by source id."""
    return [
        source_view(source, states.get(source.id), now=now, stale_after=stale_after, policy=policy)
        for source in sources
    ]
