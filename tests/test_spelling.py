"""The service's own spelling suggestion, from the hunspell dictionaries on the machine."""

from __future__ import annotations

import pytest

from feedback.spelling import DICTIONARIES, covered, dictionary_for, suggest

FOLDER = "/usr/share/hunspell"

TYPOS = {
    "en": ("recieve", "receive"),
    "ru": ("сабака", "собака"),
    "de": ("Strasse", "Straße"),
    "fr": ("bonjoru", "bonjour"),
    "es": ("ciudadd", "ciudad"),
    "pt": ("obrigadu", "obrigado"),
    "uk": ("привiт", "привіт"),  # a Latin "i" typed in a Cyrillic word
}


def test_every_promised_language_has_its_dictionary_installed() -> None:
    # CI installs Debian's hunspell-* packages; this says which languages are covered.
    assert sorted(covered(FOLDER)) == sorted(DICTIONARIES)


@pytest.mark.parametrize("lang", sorted(TYPOS))
def test_a_one_word_typo_gets_the_likeliest_spelling(lang: str) -> None:
    typo, fixed = TYPOS[lang]
    assert suggest(typo, lang, FOLDER) in {fixed, fixed.lower()} | (
        {"obrigada"} if lang == "pt" else set()
    )


def test_page_language_with_region_and_case() -> None:
    assert suggest("Definately", "en-GB", FOLDER) == "Definitely"
    assert dictionary_for("pt-BR", FOLDER) in {"pt_BR", "pt_PT"}


def test_no_suggestion_when_there_is_nothing_to_suggest(tmp_path) -> None:
    assert suggest("house", "en", FOLDER) is None  # spelled right
    assert suggest("two words", "en", FOLDER) is None
    assert suggest("1234", "en", FOLDER) is None
    assert suggest("recieve", "xx", FOLDER) is None  # no dictionary for the language
    assert suggest("recieve", "en", str(tmp_path)) is None  # no dictionaries at all
    assert suggest("qzxwvkjq", "en", FOLDER) is None  # nothing close enough
