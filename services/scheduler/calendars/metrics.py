"""Prometheus metrics of the external calendars (no consultant, URL or host in any label)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FETCHES = Counter(
    "inspiration_calendar_fetches_total",
    "Reads of consultants' own calendars, by kind (feed, caldav) and outcome (fetched, unchanged, failed)",
    ["kind", "outcome"],
)
FETCH_SECONDS = Histogram(
    "inspiration_calendar_fetch_seconds",
    "Time to read one calendar source (download, or the answer that it is unchanged)",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
EXPAND_SECONDS = Histogram(
    "inspiration_calendar_expand_seconds",
    "Time to parse one calendar and expand its events into busy times for the window",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SOURCES = Gauge(
    "inspiration_calendar_sources",
    "Calendar sources by health: pending (not read yet), ok, failing (last read failed), stale (too old)",
    ["health"],
)
BLOCKED_CONSULTANTS = Gauge(
    "inspiration_calendar_blocked_consultants",
    "Consultants treated as busy because one of their calendars is pending or stale (policy 'busy')",
)
