"""The bookings list as CSV (semicolon-separated, UTF-8 with a BOM, as Danish Excel opens it).

A cell that a spreadsheet would read as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return) gets a leading apostrophe: a workplace cannot smuggle a formula into the
coordinator's spreadsheet (CSV injection)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable

from services.booking.domain import Booking
from shared.contracts.catalogue import content
from shared.text.localtime import to_local

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def bookings_csv(bookings: Iterable[Booking], lang: str, labels: Callable[[str], str],
                 status_label: Callable[[str], str]) -> str:
    """``labels`` translates a column's Danish name; ``status_label`` a status."""
    columns = ["Nr.", "Status", "Oprettet", "Tema", "Ramme", "Deltagere", "Varighed (min.)", "Tidspunkt",
               "Konsulent", "Arbejdsplads", "Adresse", "Postnummer", "By", "Kontaktperson", "E-mail", "Telefon"]
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([labels(c) for c in columns])
    for b in bookings:
        d = b.details
        writer.writerow(
            safe_cell(v)
            for v in (
                b.id,
                status_label(b.status),
                f"{to_local(b.created_at):%Y-%m-%d %H:%M}",
                content().theme_title(d.theme, lang),
                content().setting(d.setting, lang),
                d.participants,
                d.duration_minutes,
                f"{to_local(b.slot.start):%Y-%m-%d %H:%M}" if b.slot else "",
                b.slot.consultant.name if b.slot else "",
                d.workplace.name,
                d.workplace.address,
                d.workplace.postcode,
                d.workplace.city,
                d.contact.name,
                d.contact.email,
                d.contact.phone,
            )
        )
    return out.getvalue()
