"""Booking-specific Prometheus metrics (HTTP requests and outbox backlog are counted in shared)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter

from shared.rules import FieldError

BOOKINGS_CREATED = Counter("booking_requests_created_total", "Booking requests stored", ["channel"])
VALIDATION_FAILURES = Counter("booking_validation_failures_total", "Rejected booking input, by field", ["field"])


def count_invalid(errors: Iterable[FieldError]) -> None:
    for error in errors:
        # preferred_starts.2 -> preferred_starts: keep the label set small.
        VALIDATION_FAILURES.labels(
            error.field.split(".")[0] if error.field.startswith("preferred") else error.field
        ).inc()
