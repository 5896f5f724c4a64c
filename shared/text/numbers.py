"""Whole numbers typed into forms and query strings."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]{1,9}")


def whole_number(text: str) -> int | None:
    """``text`` (spaces around it allowed) as a whole number written with ASCII digits, else None.

    Not ``str.isdigit``: it also says yes to "²" or "٣", which ``int`` then refuses."""
    stripped = text.strip()
    return int(stripped) if _DIGITS.fullmatch(stripped) else None
