"""No personal data in the logs: every line is scrubbed of e-mail addresses and phone numbers."""

from __future__ import annotations

import json
import logging
import sys

from shared.infra.logs import JsonFormatter, scrub


def test_addresses_and_numbers_are_scrubbed_and_ids_times_and_ports_are_not() -> None:
    people = "mette@example.dk refused: 550; +45 20 30 40 50, +4520304050, 20 30 40 50"
    kept = "2027-03-02T13:00 127.0.0.1:5672 K7M2-Q9XD"
    assert scrub(f"{people}; {kept}") == f"<email> refused: 550; <phone>, <phone>, <phone>; {kept}"


def test_a_log_line_quoting_a_person_in_its_message_extra_or_traceback_is_scrubbed() -> None:
    try:
        raise ValueError("mailbox mette@example.dk unavailable")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "delivery failed: %s", ("to +4520304050",), None)
        record.exc_info = sys.exc_info()
    record.booking_id = "K7M2-Q9XD"
    line = JsonFormatter("notifier").format(record)
    entry = json.loads(line)
    assert "mette@example.dk" not in line and "+4520304050" not in line
    assert entry["booking_id"] == "K7M2-Q9XD" and entry["msg"] == "delivery failed: to <phone>"
