"""Translations the gettext way, with Babel message catalogues.

Danish is the source language: the text in the code and the templates *is* the Danish text (the
msgid), and English comes from a catalogue, ``<root>/locale/en/LC_MESSAGES/messages.po``, beside
the code that uses it (one for ``shared/``, one per service). ``pybabel extract`` finds every
string (``babel.cfg``: Python with the keywords ``_``, ``gettext`` and ``N_``, Jinja2 templates with
the i18n extension); a test fails when a Danish string lacks its English translation.

* In code, mark a text where it is defined with ``N_("…")`` (it stays Danish) and translate it where
  it is shown: ``catalogue.gettext(lang, text)``.
* In templates, write ``{{ _("…") }}``; ``Catalogue.templates`` gives one Jinja2 environment per
  language with the translations installed.

The ``.po`` files are compiled in memory when a catalogue is loaded: no compiled files in the tree.
"""

from __future__ import annotations

import gettext as stdlib_gettext
from collections.abc import Iterable
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any, Literal

import jinja2
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

Language = Literal["da", "en"]
LANGUAGES: tuple[Language, ...] = ("da", "en")
SOURCE: Language = "da"
SHARED_ROOT = Path(__file__).resolve().parents[1]  # shared/: its own strings live in shared/locale


def N_(message: str) -> str:
    """Mark ``message`` for translation where it is defined; translate it where it is shown."""
    return message


def language_of(value: str | None) -> Language:
    """"en" (also "EN", "en-GB", "en_US") is English; anything else is Danish."""
    return "en" if value and value.strip().lower().replace("_", "-").split("-", 1)[0] == "en" else "da"


def po_path(root: Path, lang: str) -> Path:
    return root / "locale" / lang / "LC_MESSAGES" / "messages.po"


def _compile(po: Path, lang: str) -> Translations:
    with po.open("rb") as source:
        catalog = read_po(source, locale=lang)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


class Catalogue:
    """The translations of one service: its own catalogue, then the shared one."""

    def __init__(self, roots: Iterable[Path]) -> None:
        self._translations: dict[str, NullTranslations] = {SOURCE: NullTranslations()}
        merged: Translations | None = None
        for root in roots:
            po = po_path(root, "en")
            if not po.exists():
                continue
            translations = _compile(po, "en")
            if merged is None:
                merged = translations
            else:
                merged.merge(translations)
        self._translations["en"] = merged or NullTranslations()

    @classmethod
    def for_service(cls, service_root: Path) -> Catalogue:
        return cls([service_root, SHARED_ROOT])

    def translations(self, lang: str) -> stdlib_gettext.NullTranslations:
        return self._translations[language_of(lang)]

    def gettext(self, lang: str, message: str, **params: Any) -> str:
        """``message`` in ``lang``, with ``{name}`` placeholders filled in from ``params``."""
        text = self.translations(lang).gettext(message)
        return text.format(**params) if params else text

    def templates(self, folder: Path, **options: Any) -> dict[Language, jinja2.Environment]:
        """One Jinja2 environment per language over ``folder``, ``_`` translating into that language."""
        environments: dict[Language, jinja2.Environment] = {}
        for lang in LANGUAGES:
            environment = jinja2.Environment(
                loader=jinja2.FileSystemLoader(folder), extensions=["jinja2.ext.i18n"], **options
            )
            environment.install_gettext_translations(self.translations(lang), newstyle=True)  # type: ignore[attr-defined]
            environments[lang] = environment
        return environments


@cache
def shared_catalogue() -> Catalogue:
    """The translations of ``shared/``'s own texts (errors every service answers with)."""
    return Catalogue([SHARED_ROOT])
