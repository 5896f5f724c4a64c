"""Every Danish text has its English translation, and every catalogue holds only texts in use.

For each catalogue (``shared/`` and each service) the strings are extracted as ``pybabel extract``
does it (``babel.cfg``, keywords ``_``, ``gettext`` and ``N_``) and compared with its English ``.po``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from shared.text.i18n import Catalogue, po_path

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = [ROOT / "shared", *(ROOT / "services" / name for name in ("booking", "scheduler", "notifier"))]


def extracted(root: Path) -> set[str]:
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    return {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(str(root), method_map, options_map, keywords=keywords)
    }


def catalogue(root: Path) -> dict[str, str]:
    path = po_path(root, "en")
    if not path.exists():
        return {}
    with path.open("rb") as po:
        return {m.id: m.string for m in read_po(po) if m.id and isinstance(m.id, str) and isinstance(m.string, str)}


@pytest.mark.parametrize("root", CATALOGUES, ids=lambda root: root.name)
def test_every_danish_text_has_an_english_translation(root: Path) -> None:
    english = catalogue(root)
    missing = sorted(text for text in extracted(root) if not english.get(text))
    assert missing == [], f"add to {po_path(root, 'en').relative_to(ROOT)}: {missing}"


@pytest.mark.parametrize("root", CATALOGUES, ids=lambda root: root.name)
def test_a_catalogue_holds_no_texts_that_are_gone(root: Path) -> None:
    stale = sorted(set(catalogue(root)) - extracted(root))
    assert stale == [], f"remove from {po_path(root, 'en').relative_to(ROOT)}: {stale}"


def test_texts_are_danish_by_default_and_english_on_request() -> None:
    texts = Catalogue([ROOT / "shared"])
    danish = "Tjenesten er midlertidigt utilgængelig. Prøv igen om lidt."
    assert texts.gettext("da", danish) == danish
    assert texts.gettext("en-GB", danish) == "The service is temporarily unavailable. Please try again in a moment."
    assert texts.gettext("en", "Forespørgslen er for stor (højst {limit} KiB).", limit=64).endswith("64 KiB).")
