"""The catalogue of themes and the brochure's other texts, as data (``catalogue.yaml`` beside this file).

Theme ids are a contract between the services (bookings and consultants refer to them); titles and
texts are content, Danish first, English second. ``content()`` reads and checks the file once, on
first use.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from shared.text.i18n import language_of

_FILE = Path(__file__).with_name("catalogue.yaml")


class Localized(BaseModel):
    """A text in Danish and English; ``text(lang)`` gives Danish for anything but English."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    da: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def __call__(self, lang: str) -> str:
        return self.en if language_of(lang) == "en" else self.da


class Theme(BaseModel):
    """One theme of the catalogue; a workplace chooses exactly one theme per talk."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    number: int = Field(ge=1)
    title: Localized
    summary: Localized
    description: Localized  # paragraphs separated by a blank line


class Content(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    organisation: str
    intro: Localized
    not_negotiation: Localized  # the talk does not touch pay or working-time agreements
    settings: dict[str, Localized]  # staff_meeting / work_environment_group
    themes: tuple[Theme, ...]

    @property
    def theme_ids(self) -> frozenset[str]:
        return frozenset(theme.id for theme in self.themes)

    def theme(self, theme_id: str) -> Theme | None:
        return next((theme for theme in self.themes if theme.id == theme_id), None)

    def theme_title(self, theme_id: str, lang: str) -> str:
        """The theme's title, or its id for a theme no longer in the catalogue."""
        theme = self.theme(theme_id)
        return theme.title(lang) if theme else theme_id

    def setting(self, key: str, lang: str) -> str:
        label = self.settings.get(key)
        return label(lang) if label else key


@cache
def content() -> Content:
    return Content.model_validate(yaml.safe_load(_FILE.read_text(encoding="utf-8")))
