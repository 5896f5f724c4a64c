"""Booking-specific Prometheus metrics (HTTP requests and outbox backlog are counted in shared)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter

from services.booking.domain import FieldError

BOOKINGS_CREATED = Counter("booking_requests_created_total", "Booking requests stored", ["channel"])
LIMITED = Counter("booking_rate_limited_total", "Requests refused by a rate limit, by limit", ["limit"])
HONEYPOT = Counter("booking_honeypot_total", "Form posts that filled in the field only robots see")
VALIDATION_FAILURES = Counter("booking_validation_failures_total", "Rejected booking input, by field", ["field"])


def count_invalid(errors: Iterable[FieldError]) -> None:
    for error in errors:
        # Keep the label set small and fixed: preferred_starts.2 -> preferred_starts, and the name of an
        # unknown field (chosen by the client) is never a label.
        if error.code == "extra_forbidden":
            field = "unknown_field"
        elif error.field.startswith("preferred"):
            field = error.field.split(".")[0]
        else:
            field = error.field
        VALIDATION_FAILURES.labels(field).inc()
