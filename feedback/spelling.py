"""The service's own spelling suggestion for a one-word typo sent without a correction,
from the hunspell dictionaries installed on the machine (Debian's hunspell-* packages).
Nothing is downloaded: a language without a dictionary simply gets no suggestion."""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from pathlib import Path

from rapidfuzz.distance import DamerauLevenshtein

# The languages the README promises, and the dictionary files tried for each, in order.
DICTIONARIES: dict[str, tuple[str, ...]] = {
    "en": ("en_US", "en_GB", "en_AU", "en_CA"),
    "ru": ("ru_RU",),
    "de": ("de_DE", "de_AT", "de_CH"),
    "fr": ("fr_FR", "fr"),
    "es": ("es_ES", "es_MX", "es"),
    "pt": ("pt_PT", "pt_BR"),
    "uk": ("uk_UA",),
}
_WORD = re.compile(r"^[^\W\d_]+(?:['’-][^\W\d_]+)*$")
_lock = threading.Lock()


def _language(lang: str) -> str:
    return (lang or "").strip().lower().replace("_", "-").split("-")[0]


def dictionary_for(lang: str, folder: str) -> str | None:
    """The dictionary file stem (e.g. "en_US") used for a page language, if installed.
    A regional page language ("pt-BR") prefers its own region's dictionary."""
    base = _language(lang)
    candidates = list(DICTIONARIES.get(base, ()))
    region = (lang or "").replace("-", "_")
    if "_" in region:
        wanted = base + "_" + region.split("_", 1)[1].upper()
        if wanted in candidates:
            candidates.remove(wanted)
            candidates.insert(0, wanted)
    for stem in candidates:
        if (Path(folder) / f"{stem}.dic").is_file() and (Path(folder) / f"{stem}.aff").is_file():
            return stem
    return None


def covered(folder: str) -> dict[str, str]:
    """Language → dictionary for every promised language whose dictionary is installed."""
    out = {}
    for lang in DICTIONARIES:
        stem = dictionary_for(lang, folder)
        if stem:
            out[lang] = stem
    return out


@lru_cache(maxsize=16)
def _checker(stem: str, folder: str):  # -> hunspell.Hunspell
    from hunspell import Hunspell  # chunspell: a binding with its own libhunspell

    return Hunspell(stem, hunspell_data_dir=folder)


# Latin letters that look like Cyrillic ones: a Cyrillic word typed with one of them is
# one keyboard-layout slip, not a different word.
_LOOKALIKES = str.maketrans("aceiopxyABCEHIKMOPTX", "асеіорхуАВСЕНІКМОРТХ")


def _fold(word: str) -> str:
    if re.search(r"[\u0400-\u04ff]", word):
        word = word.translate(_LOOKALIKES)
    # casefold also makes "ß" and "ss" equal.
    return word.casefold()


def _cost(word: str, candidate: str) -> float:
    a, b = _fold(word), _fold(candidate)
    cost = float(DamerauLevenshtein.distance(a, b))
    if len(a) != len(b):
        cost += 0.5  # a wrong letter is likelier than a missing or extra one
    if a[:1] != b[:1]:
        cost += 0.5  # and the first letter is rarely the one mistyped
    return cost


def suggest(word: str, lang: str, folder: str) -> str | None:
    """The likeliest correct spelling of `word`, or None: when it is not one word, is
    already spelled right, the language has no dictionary, or nothing is close enough.
    CPU-heavy (tens of milliseconds): call it in a thread."""
    word = word.strip()
    if not word or len(word) > 40 or not _WORD.match(word):
        return None
    stem = dictionary_for(lang, folder)
    if stem is None:
        return None
    with _lock:  # a hunspell handle is not safe to share between threads
        checker = _checker(stem, folder)
        if checker.spell(word):
            return None
        candidates = list(checker.suggest(word))
    candidates = [c for c in candidates if " " not in c and "-" not in c[:1] and c != word]
    if not candidates:
        return None
    # Hunspell's order favours its own rules; readers' typos are mostly one slip of the
    # finger, so the candidate fewest edits away wins, hunspell's order breaking ties.
    scored = sorted((_cost(word, c), rank, c) for rank, c in enumerate(candidates))
    cost, _, best = scored[0]
    if cost > max(2, len(word) // 3):
        return None
    if word[:1].isupper() and best[:1].islower():
        best = best[:1].upper() + best[1:]
    return best
