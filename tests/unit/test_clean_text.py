"""Which characters free text may hold, and how stored text is made safe where it goes out."""

from __future__ import annotations

import pytest
from aiormq.exceptions import ChannelInvalidStateError, ConnectionClosed
from pymongo.errors import AutoReconnect, DuplicateKeyError, ExecutionTimeout, ServerSelectionTimeoutError

from shared.infra.faults import is_unavailable
from shared.text.clean import has_forbidden, multi_line, normalize_newlines, one_line
from shared.text.numbers import whole_number

HIDDEN = ["\n", "\r", "\t", "\x00", "\x0b", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\u202e", "\u2066", "\u200f"]


@pytest.mark.parametrize("char", HIDDEN)
def test_one_line_text_refuses_every_hidden_character(char: str) -> None:
    assert has_forbidden(f"Bo{char}stedet")


@pytest.mark.parametrize("char", ["\n", "\r", "\t"])
def test_a_note_may_keep_line_breaks_and_tabs(char: str) -> None:
    assert not has_forbidden(f"Linje{char}linje", multiline=True)


@pytest.mark.parametrize("text", ["Bostedet Lindely", "Ærø Æblehave & Søn", "Zoë 😀 Café", "Жанна", "مرحبا"])
def test_ordinary_text_in_any_script_is_fine(text: str) -> None:
    assert not has_forbidden(text) and one_line(text) == text


def test_one_line_turns_hidden_characters_into_single_spaces() -> None:
    assert one_line("Bostedet\u2028Lindely\r\nBcc: x@y\x0b\u202e ") == "Bostedet Lindely Bcc: x@y"


def test_multi_line_keeps_line_breaks_as_lf_and_drops_the_rest() -> None:
    assert multi_line("a\r\nb\rc\x85d\u202ee\tf") == "a\nb\ncde\tf"
    assert normalize_newlines("a\r\nb\rc") == "a\nb\nc"


@pytest.mark.parametrize(
    "exc",
    [
        ServerSelectionTimeoutError("no server"),
        AutoReconnect("connection closed"),
        ExecutionTimeout("maxTimeMS"),
        ConnectionClosed(320, "CONNECTION_FORCED"),
        ChannelInvalidStateError("closed"),
        ConnectionRefusedError(),
        TimeoutError(),
    ],
)
def test_unreachable_or_slow_dependencies_are_not_the_work_s_fault(exc: Exception) -> None:
    assert is_unavailable(exc)


@pytest.mark.parametrize("exc", [DuplicateKeyError("dup"), ValueError("bad"), KeyError("subject")])
def test_other_errors_are_the_work_s_fault(exc: Exception) -> None:
    assert not is_unavailable(exc)


@pytest.mark.parametrize(
    ("text", "number"), [("90", 90), (" 120 ", 120), ("²", None), ("٣", None), ("1e3", None), ("", None)]
)
def test_whole_numbers_are_ascii_digits_only(text: str, number: int | None) -> None:
    assert whole_number(text) == number
