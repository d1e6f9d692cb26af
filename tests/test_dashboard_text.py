"""The open-at-the-quote link and the correction diff, in pure Python."""

from __future__ import annotations

from urllib.parse import unquote

from feedback.dashboard.text import char_diff, quote_url, safe_href, text_fragment


def test_short_quote_gets_prefix_exact_and_suffix() -> None:
    assert text_fragment("teh", "This is ", " story.") == ":~:text=This%20is-,teh,-story."


def test_dashes_commas_and_ampersands_are_escaped() -> None:
    fragment = text_fragment("well-known, R&D", "the ", " team")
    assert fragment == ":~:text=the-,well%2Dknown%2C%20R%26D,-team"


def test_prefix_and_suffix_are_the_nearest_few_words() -> None:
    fragment = text_fragment("x", "one two three four five ", " six seven eight nine")
    assert fragment == ":~:text=three%20four%20five-,x,-six%20seven%20eight"


def test_a_quote_inside_a_word_is_widened_to_the_whole_word() -> None:
    # Browsers match a fragment's ends on word boundaries only: "eh" alone matches nothing.
    assert text_fragment("eh", "This is t", " story") == ":~:text=This%20is-,teh,-story"
    assert text_fragment("ie", "did not rec", "ve it.") == ":~:text=did%20not-,recieve,-it."
    assert text_fragment("the tow", "saw ", "er fall") == ":~:text=saw-,the%20tower,-fall"


def test_text_without_spaces_widens_to_punctuation() -> None:
    fragment = text_fragment("天气", "一百多年，", "恶劣时，补给船")
    assert unquote(fragment) == ":~:text=一百多年，-,天气恶劣时,-，补给船"


def test_context_cut_off_mid_word_at_its_far_end_is_left_out() -> None:
    # Older widgets cut the context at 64 characters, wherever that fell.
    prefix = "y" * 60 + " on "
    assert text_fragment("teh", prefix, " end") == ":~:text=on-,teh,-end"
    assert text_fragment("teh", "keepers ", " end") == ":~:text=keepers-,teh,-end"


def test_context_stays_inside_the_quotes_block() -> None:
    fragment = text_fragment("wheather", "after every storm.\nIn rough ", " the boat\nNext")
    assert fragment == ":~:text=In%20rough-,wheather,-the%20boat"


def test_verified_fragment_from_the_browser_is_used_as_sent() -> None:
    url = quote_url("https://e.com/a", "ie", "rec", "ve", "rec-,ie,-ve")
    assert url == "https://e.com/a#:~:text=rec-,ie,-ve"


def test_long_quote_uses_start_and_end() -> None:
    words = [f"w{i}" for i in range(40)]
    fragment = text_fragment(" ".join(words))
    assert fragment == ":~:text=w0%20w1%20w2%20w3,w36%20w37%20w38%20w39"


def test_non_ascii_is_percent_encoded() -> None:
    assert text_fragment("café") == ":~:text=caf%C3%A9"


def test_quote_url_replaces_an_existing_fragment_and_refuses_other_schemes() -> None:
    assert quote_url("https://e.com/a#top", "hi", "", "") == "https://e.com/a#:~:text=hi"
    assert quote_url("javascript:alert(1)", "hi", "", "") is None
    assert safe_href("JavaScript:alert(1)") is None
    assert safe_href("data:text/html,x") is None
    assert safe_href("https://e.com/") == "https://e.com/"


def test_diff_is_character_level() -> None:
    assert char_diff("recieve", "receive") == [
        ("equal", "rec"),
        ("ins", "e"),
        ("equal", "i"),
        ("del", "e"),
        ("equal", "ve"),
    ]
    assert char_diff("same", "same") == [("equal", "same")]
