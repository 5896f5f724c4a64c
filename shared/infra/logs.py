"""Structured logs: one JSON object per line, with any ``extra={...}`` fields included.

No personal data in the logs: the code logs ids (booking references, delivery ids), and as a safety net
every line is scrubbed of e-mail addresses and phone numbers before it is written (a reason an SMTP
server gives, an exception's text, may quote one)."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
# International numbers (+45 20 30 40 50, +4520304050) and Danish ones written in pairs (20 30 40 50).
_PHONE = re.compile(r"\+\d[\d ]{6,17}\d|\b\d{2} \d{2} \d{2} \d{2}\b")


def scrub(text: str) -> str:
    """``text`` with e-mail addresses and phone numbers replaced by placeholders."""
    return _PHONE.sub("<phone>", _EMAIL.sub("<email>", text))


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return scrub(json.dumps(entry, default=str, ensure_ascii=False))


def configure_logging(service: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.getLogger("aiormq").setLevel(logging.WARNING)
    logging.getLogger("aio_pika").setLevel(logging.WARNING)
    logging.getLogger("pymongo").setLevel(logging.WARNING)
