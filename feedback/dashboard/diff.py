"""How a correction is shown: a word-level diff when whole words change, a
character-level one when the fix is a letter or two inside a word."""

from __future__ import annotations

import difflib
import re

from rapidfuzz.distance import Levenshtein

from feedback.dashboard.text import char_diff

Piece = tuple[str, str]

# A fix touching at most this many characters, all inside one word, reads best letter by
# letter ("rec<del>ie</del><ins>ei</ins>ve"); anything larger reads best word by word.
SMALL_FIX = 2
_TOKENS = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)


def word_diff(before: str, after: str) -> list[Piece]:
    """(op, text) pieces, op in equal/del/ins, comparing whole words and the
    spaces and punctuation between them."""
    a, b = _TOKENS.findall(before), _TOKENS.findall(after)
    pieces: list[Piece] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            _add(pieces, "equal", "".join(a[i1:i2]))
            continue
        _add(pieces, "del", "".join(a[i1:i2]))
        _add(pieces, "ins", "".join(b[j1:j2]))
    return _join_changes(pieces)


def _join_changes(pieces: list[Piece]) -> list[Piece]:
    """ "<del>the</del><ins>a</ins> <del>council</del><ins>committee</ins>" reads better as
    one change: a lone space between two changes joins them."""
    out: list[Piece] = []
    i = 0
    while i < len(pieces):
        op, text = pieces[i]
        if (
            op == "equal"
            and out
            and out[-1][0] != "equal"
            and not text.strip()
            and i + 1 < len(pieces)
            and pieces[i + 1][0] != "equal"
        ):
            dels = "".join(t for o, t in _trailing_change(out) if o == "del")
            inss = "".join(t for o, t in _trailing_change(out) if o == "ins")
            while out and out[-1][0] != "equal":
                out.pop()
            j = i + 1
            more_dels = more_ins = ""
            while j < len(pieces) and pieces[j][0] != "equal":
                if pieces[j][0] == "del":
                    more_dels += pieces[j][1]
                else:
                    more_ins += pieces[j][1]
                j += 1
            if dels or more_dels:
                out.append(("del", dels + text + more_dels))
            if inss or more_ins:
                out.append(("ins", inss + text + more_ins))
            i = j
            continue
        out.append((op, text))
        i += 1
    return out


def _trailing_change(pieces: list[Piece]) -> list[Piece]:
    tail: list[Piece] = []
    for piece in reversed(pieces):
        if piece[0] == "equal":
            break
        tail.insert(0, piece)
    return tail


def _add(pieces: list[Piece], op: str, text: str) -> None:
    if not text:
        return
    if pieces and pieces[-1][0] == op:
        pieces[-1] = (op, pieces[-1][1] + text)
    else:
        pieces.append((op, text))


def correction_diff(before: str, after: str) -> list[Piece]:
    """The diff an editor reads best for this correction: letter by letter when exactly
    one word changed, by at most SMALL_FIX letters; word by word otherwise."""
    a, b = _TOKENS.findall(before), _TOKENS.findall(after)
    if len(a) == len(b):
        changed = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(changed) == 1:
            i = changed[0]
            x, y = a[i], b[i]
            if x.strip() and y.strip() and Levenshtein.distance(x, y) <= SMALL_FIX:
                pieces: list[Piece] = []
                _add(pieces, "equal", "".join(a[:i]))
                for op, text in char_diff(x, y):
                    _add(pieces, op, text)
                _add(pieces, "equal", "".join(a[i + 1 :]))
                return pieces
    return word_diff(before, after)
