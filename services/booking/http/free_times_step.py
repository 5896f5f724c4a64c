"""The booking form's free times: after theme and duration, the free starts of one week to pick from.

Without JavaScript this is a server-rendered step of the form: ``GET /?theme=…&duration_minutes=…&week=…``
or the form posted with its "show free times" or week buttons renders the form again, everything typed
kept, with the week's free times as checkboxes (``free_start``, a local start such as
``2027-03-09T09:00``) that become the booking's desired starts. ``static/free-times.js`` does the same
in place from ``GET /api/v1/availability``. The texts it needs come from here, in the page's language.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from aiohttp import web
from multidict import MultiMapping

from services.booking import handlers
from services.booking.domain import DURATION_CHOICES
from services.booking.free_times import FreeTimesQuery, Week, bookable_days, week_of
from services.booking.http import DEPS
from services.booking.http.views import day_text
from services.booking.scheduler_client import SchedulerUnavailable
from services.booking.texts import translate
from shared.contracts.catalogue import content
from shared.text.i18n import N_
from shared.text.localtime import MONTHS, format_local, parse_start, to_local
from shared.text.numbers import whole_number

FREE_START = "free_start"  # the checkboxes' name
WEEK_LABEL = N_("Uge {number}: {first} – {last}")
TEXTS = {
    "choose": N_("Vælg tema og varighed ovenfor, så vises de ledige tidspunkter."),
    "none": N_("Ingen ledige tidspunkter i denne uge. Prøv næste uge, eller skriv jeres ønsker herunder."),
    "count": N_("{count} ledige tidspunkter i denne uge."),
    "loading": N_("Henter ledige tidspunkter …"),
    "unavailable": N_(
        "De ledige tidspunkter kan ikke vises lige nu. Skriv jeres ønskede tidspunkter herunder, så finder vi et."
    ),
    "chosen": N_("Valgt i andre uger"),
    "week": WEEK_LABEL,
}

State = Literal["choose", "shown", "unavailable"]


@dataclass(frozen=True)
class Choice:
    value: str  # the local start as the form sends it, e.g. "2027-03-09T09:00"
    label: str
    checked: bool
    text: str  # the start in words, as the list of times ticked in other weeks shows it


@dataclass(frozen=True)
class Day:
    label: str
    choices: list[Choice]


@dataclass(frozen=True)
class FreeTimesStep:
    state: State
    week: Week
    week_label: str
    message: str
    days: list[Day] = field(default_factory=list)
    chosen_elsewhere: list[Choice] = field(default_factory=list)
    first: date | None = None
    last: date | None = None
    texts_json: str = ""


def chosen_starts(form: MultiMapping[Any]) -> list[str]:
    """The free times ticked on a form, chronological, each once."""
    values = {str(value).strip() for value in form.getall(FREE_START, []) if str(value).strip()}
    return sorted(values)


def week_label(week: Week, lang: str) -> str:
    friday = week.monday + timedelta(days=4)
    return translate(
        lang, WEEK_LABEL, number=week.monday.isocalendar().week, first=_date(week.monday, lang, year=False),
        last=_date(friday, lang, year=True),
    )


def _date(day: date, lang: str, *, year: bool) -> str:
    """'8. marts' / '8 March', with ' 2027' when ``year``: as the page's script writes it too."""
    month = MONTHS["en" if lang == "en" else "da"][day.month - 1]
    text = f"{day.day} {month}" if lang == "en" else f"{day.day}. {month}"
    return f"{text} {day.year}" if year else text


def _clock(value: Any, lang: str) -> str:
    return f"{to_local(value):%H:%M}" if lang == "en" else f"{to_local(value):%H.%M}"


def _query(values: Mapping[str, str], week: Week) -> FreeTimesQuery | None:
    theme = values.get("theme", "")
    duration = values.get("duration_minutes", "")
    minutes = whole_number(duration)
    if theme not in content().theme_ids or minutes not in DURATION_CHOICES:
        return None
    return FreeTimesQuery(theme, minutes, week.first, week.last)


async def free_times_step(
    request: web.Request, lang: str, values: Mapping[str, str], chosen: Iterable[str], week_text: str | None
) -> FreeTimesStep:
    """The form's free times for the theme and duration in ``values``, in the week of ``week_text``."""
    deps = request.app[DEPS]
    now = deps.clock()
    week = week_of(week_text, now=now, rules=deps.rules)
    first, last = bookable_days(now, deps.rules)
    texts = {key: translate(lang, text) for key, text in TEXTS.items()}
    picked = list(chosen)

    def step(state: State, message: str, days: list[Day] | None = None, shown: set[str] | None = None) -> FreeTimesStep:
        return FreeTimesStep(
            state=state,
            week=week,
            week_label=week_label(week, lang),
            message=message,
            days=days or [],
            chosen_elsewhere=_elsewhere(picked, shown or set(), lang),
            first=first,
            last=last,
            texts_json=json.dumps(texts, ensure_ascii=False),
        )

    query = _query(values, week)
    if query is None:
        return step("choose", texts["choose"])
    try:
        slots = await handlers.free_times(deps, query)
    except SchedulerUnavailable:
        return step("unavailable", texts["unavailable"])
    days: dict[date, list[Choice]] = {}
    for slot in slots:
        local = to_local(slot.start)
        value = f"{local:%Y-%m-%dT%H:%M}"
        label = f"{_clock(slot.start, lang)}–{_clock(slot.end, lang)}"
        days.setdefault(local.date(), []).append(Choice(value, label, value in picked, format_local(slot.start, lang)))
    shown = {choice.value for choices in days.values() for choice in choices}
    message = translate(lang, TEXTS["count"], count=len(shown)) if shown else texts["none"]
    return step("shown", message, [Day(day_text(day, lang), choices) for day, choices in sorted(days.items())], shown)


def _elsewhere(chosen: list[str], shown: set[str], lang: str) -> list[Choice]:
    """The free times ticked in other weeks (kept, ticked, so they are sent with the form)."""
    kept = []
    for value in chosen:
        if value in shown:
            continue
        try:
            label = format_local(parse_start(value), lang)
        except ValueError:
            continue
        kept.append(Choice(value, label, True, label))
    return kept

