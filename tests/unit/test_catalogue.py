"""Tests of the theme catalogue and the brochure texts in ``shared.catalogue``."""

from __future__ import annotations

import pydantic
import pytest

from shared.catalogue import (
    INTRO,
    NOT_NEGOTIATION,
    ORGANISATION_NAME,
    SETTINGS,
    THEME_IDS,
    THEMES,
    Theme,
    get_theme,
)

EXPECTED_TITLES_DA: dict[str, str] = {
    "smidighed": "Smidighed på arbejdspladsen",
    "kommunikation-og-kultur": "Hvordan forbedrer vi kommunikationen og kulturen på arbejdspladsen?",
    "selvledelse": "Selvledelse – hvem har ansvaret, og hvor går grænsen?",
    "alene-arbejde": "Alene-arbejde og psykisk arbejdsmiljø",
    "vaner-og-forandringer": "Vanen er din ven – men hvad sker der så under forandringer?",
    "tid-paa-arbejde": "Hvordan bruger I tiden på arbejde?",
}


def _texts(theme: Theme) -> list[str]:
    return [
        theme.title_da,
        theme.title_en,
        theme.description_da,
        theme.description_en,
        theme.summary_da,
        theme.summary_en,
    ]


def test_six_themes_in_brochure_order() -> None:
    assert [theme.id for theme in THEMES] == list(EXPECTED_TITLES_DA)
    assert [theme.number for theme in THEMES] == [1, 2, 3, 4, 5, 6]


def test_ids_are_unique_and_match_theme_ids() -> None:
    ids = [theme.id for theme in THEMES]
    assert len(ids) == len(set(ids)) == 6
    assert frozenset(ids) == THEME_IDS


def test_danish_titles_are_exact() -> None:
    for theme in THEMES:
        assert theme.title_da == EXPECTED_TITLES_DA[theme.id]
    # the en dash, not a hyphen, in the two titles that have one
    assert "\u2013" in EXPECTED_TITLES_DA["selvledelse"]
    assert "\u2013" in EXPECTED_TITLES_DA["vaner-og-forandringer"]


@pytest.mark.parametrize("theme", THEMES, ids=lambda theme: theme.id)
def test_texts_are_present_in_both_languages(theme: Theme) -> None:
    for text in _texts(theme):
        assert text.strip()
        assert text == text.strip()
    assert theme.description_da != theme.description_en
    assert theme.title_da != theme.title_en


@pytest.mark.parametrize("theme", THEMES, ids=lambda theme: theme.id)
def test_texts_are_free_of_hyphenation_artefacts(theme: Theme) -> None:
    for text in _texts(theme):
        assert "-\n" not in text
        assert "- \n" not in text
        assert "  " not in text
        assert "\n\n\n" not in text
        for paragraph in text.split("\n\n"):
            assert "\n" not in paragraph
            assert paragraph == paragraph.strip()


def test_descriptions_are_the_brochure_text() -> None:
    smidighed = get_theme("smidighed")
    assert smidighed is not None
    assert smidighed.description_da.startswith("Smidighed handler grundlæggende om at kunne arbejde")
    assert "i forandringer." in smidighed.description_da
    tid = get_theme("tid-paa-arbejde")
    assert tid is not None
    assert "inden for arbejdstiden" in tid.description_da
    assert tid.description_da.endswith("samt hjælpe jer til at bruge tiden rigtigt.")
    alene = get_theme("alene-arbejde")
    assert alene is not None
    assert "psykisk arbejdsmiljø" in alene.description_da
    assert alene.description_da.count("\n\n") == 2


def test_get_theme_known_and_unknown() -> None:
    theme = get_theme("selvledelse")
    assert theme is not None
    assert theme.id == "selvledelse"
    assert theme.number == 3
    assert get_theme("no-such-theme") is None
    assert get_theme("") is None


def test_language_accessors() -> None:
    theme = get_theme("tid-paa-arbejde")
    assert theme is not None
    assert theme.title("en") == theme.title_en == "How do you spend your time at work?"
    assert theme.title("da") == theme.title_da
    assert theme.title("fr") == theme.title_da
    assert theme.description("en") == theme.description_en
    assert theme.description("da") == theme.description_da
    assert theme.summary("en") == theme.summary_en
    assert theme.summary("xx") == theme.summary_da


def test_themes_are_frozen() -> None:
    theme = THEMES[0]
    with pytest.raises(pydantic.ValidationError):
        theme.title_da = "Noget andet"  # type: ignore[misc]


def test_brochure_texts() -> None:
    assert ORGANISATION_NAME == "Socialpædagogerne Østjylland"
    for texts in (INTRO, NOT_NEGOTIATION):
        assert set(texts) == {"da", "en"}
        assert all(text.strip() for text in texts.values())
    assert "1,5 til 2 timer" in INTRO["da"]
    assert "løn- og arbejdstidsaftaler" in NOT_NEGOTIATION["da"]
    assert SETTINGS == {
        "staff_meeting": {"da": "Personalemøde", "en": "Staff meeting"},
        "work_environment_group": {
            "da": "Sammen med arbejdsmiljøgruppen",
            "en": "With the work environment group",
        },
    }
