"""Free text from outside: what it may hold, and how stored text is made safe where it goes out.

At the door, free-text fields refuse characters that no person types on purpose but that break or
disguise what the text later becomes: control characters (C0, DEL, C1 such as NEL), line and
paragraph separators (U+2028, U+2029), bidirectional overrides and isolates (which can make a name
read differently from what it is), and lone surrogates (not encodable as UTF-8). A one-line field
(names, addresses, cities) also refuses line breaks; a note may keep ordinary line breaks and tabs.

Where text meets a mail header, a subject, an SMS or a calendar line, ``one_line`` and ``multi_line``
turn whatever is stored (also older documents, from before these rules) into something safe to
send: they never raise.
"""

from __future__ import annotations

import re

from shared.text.i18n import N_

# What a field says when it refuses such characters.
ONE_LINE_MESSAGE = N_(
    "Må kun være én linje uden kontroltegn eller usynlige styretegn (fx linjeskift eller retningstegn)."
)
NOTE_MESSAGE = N_(
    "Må ikke indeholde kontroltegn eller usynlige styretegn (fx retningstegn); almindelige linjeskift er fine."
)

# Bidirectional embeddings, overrides and isolates, and the invisible direction marks.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_SEPARATORS = "\u2028\u2029"


# Control characters (category Cc: C0, DEL, C1), lone surrogates (Cs), and the two sets above. A character
# class, so that cleaning a whole mail body is one pass in C rather than a Python call per character.
_CONTROLS_BUT_LINES = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # all of Cc except tab, LF and CR
_INVISIBLE = f"\ud800-\udfff{_BIDI}{_SEPARATORS}"
_FORBIDDEN = re.compile(f"[{_CONTROLS_BUT_LINES}\t\n\r{_INVISIBLE}]")
_FORBIDDEN_IN_NOTES = re.compile(f"[{_CONTROLS_BUT_LINES}{_INVISIBLE}]")  # line breaks and tabs allowed


def has_forbidden(text: str, *, multiline: bool = False) -> bool:
    """Whether ``text`` holds a character a free-text field refuses (see the module docstring).

    ``multiline``: line breaks (LF, CR LF) and tabs are allowed, as in a note.
    """
    return (_FORBIDDEN_IN_NOTES if multiline else _FORBIDDEN).search(text) is not None


def normalize_newlines(text: str) -> str:
    """CR LF and lone CR as LF (what a browser's textarea sends is CR LF)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


_SPACES = re.compile(r"[ \t]+")


def one_line(text: str) -> str:
    """``text`` as one clean line: every forbidden character or line break becomes a space."""
    return _SPACES.sub(" ", _FORBIDDEN.sub(" ", text)).strip()


def multi_line(text: str) -> str:
    """``text`` with its line breaks (as LF) and tabs kept and every other forbidden character dropped."""
    return _FORBIDDEN_IN_NOTES.sub("", normalize_newlines(text))
