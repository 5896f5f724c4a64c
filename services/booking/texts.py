"""The booking service's texts: Danish in the code (marked ``N_``) and the templates (``_("…")``),
English in ``locale/en/LC_MESSAGES/messages.po`` beside this file (then ``shared/``'s catalogue)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from shared.text.i18n import Catalogue

SERVICE_ROOT = Path(__file__).parent


@cache
def catalogue() -> Catalogue:
    """The booking catalogue, read on first use."""
    return Catalogue.for_service(SERVICE_ROOT)


def translate(lang: str, text: str, **params: Any) -> str:
    """``text`` (Danish) in ``lang``, its ``{name}`` placeholders filled in from ``params``."""
    return catalogue().gettext(lang, text, **params)
