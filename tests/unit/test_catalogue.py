"""Tests of the theme catalogue and the brochure texts (``shared/contracts/catalogue.yaml``)."""

from __future__ import annotations

import pydantic
import pytest

from shared.contracts.catalogue import Theme, content

THEMES = content().themes

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
        theme.title.da,
        theme.title.en,
        theme.description.da,
        theme.description.en,
        theme.summary.da,
        theme.summary.en,
    ]


def test_six_themes_in_brochure_order() -> None:
    assert [theme.id for theme in THEMES] == list(EXPECTED_TITLES_DA)
    assert [theme.number for theme in THEMES] == [1, 2, 3, 4, 5, 6]


def test_ids_are_unique_and_match_theme_ids() -> None:
    ids = [theme.id for theme in THEMES]
    assert len(ids) == len(set(ids)) == 6
    assert frozenset(ids) == content().theme_ids


def test_danish_titles_are_exact() -> None:
    for theme in THEMES:
        assert theme.title.da == EXPECTED_TITLES_DA[theme.id]
    # the en dash, not a hyphen, in the two titles that have one
    assert "\u2013" in EXPECTED_TITLES_DA["selvledelse"]
    assert "\u2013" in EXPECTED_TITLES_DA["vaner-og-forandringer"]


@pytest.mark.parametrize("theme", THEMES, ids=lambda theme: theme.id)
def test_texts_are_present_in_both_languages(theme: Theme) -> None:
    for text in _texts(theme):
        assert text.strip()
        assert text == text.strip()
    assert theme.description.da != theme.description.en
    assert theme.title.da != theme.title.en


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
    smidighed = content().theme("smidighed")
    assert smidighed is not None
    assert smidighed.description.da.startswith("Smidighed handler grundlæggende om at kunne arbejde")
    assert "i forandringer." in smidighed.description.da
    tid = content().theme("tid-paa-arbejde")
    assert tid is not None
    assert "inden for arbejdstiden" in tid.description.da
    assert tid.description.da.endswith("samt hjælpe jer til at bruge tiden rigtigt.")
    alene = content().theme("alene-arbejde")
    assert alene is not None
    assert "psykisk arbejdsmiljø" in alene.description.da
    assert alene.description.da.count("\n\n") == 2


def test_get_theme_known_and_unknown() -> None:
    theme = content().theme("selvledelse")
    assert theme is not None
    assert theme.id == "selvledelse"
    assert theme.number == 3
    assert content().theme("no-such-theme") is None
    assert content().theme("") is None


def test_language_accessors() -> None:
    theme = content().theme("tid-paa-arbejde")
    assert theme is not None
    assert theme.title("en") == theme.title.en == "How do you spend your time at work?"
    assert theme.title("da") == theme.title.da
    assert theme.title("fr") == theme.title.da
    assert theme.description("en") == theme.description.en
    assert theme.description("da") == theme.description.da
    assert theme.summary("en") == theme.summary.en
    assert theme.summary("xx") == theme.summary.da


def test_themes_are_frozen() -> None:
    theme = THEMES[0]
    with pytest.raises(pydantic.ValidationError):
        theme.number = 7  # type: ignore[misc]


def test_brochure_texts() -> None:
    catalogue = content()
    assert catalogue.organisation == "Socialpædagogerne Østjylland"
    for texts in (catalogue.intro, catalogue.not_negotiation):
        assert texts.da.strip() and texts.en.strip()
    assert "1,5 til 2 timer" in catalogue.intro("da")
    assert "løn- og arbejdstidsaftaler" in catalogue.not_negotiation("da")
    assert {key: label.model_dump() for key, label in catalogue.settings.items()} == {
        "staff_meeting": {"da": "Personalemøde", "en": "Staff meeting"},
        "work_environment_group": {
            "da": "Sammen med arbejdsmiljøgruppen",
            "en": "With the work environment group",
        },
    }
