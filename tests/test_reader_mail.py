"""The reader's "it is fixed" email: short, in the page's language, linking to the spot."""

from __future__ import annotations

from feedback.reader_mail import fixed_mail


def mail(lang: str, correction: str = "the"):
    return fixed_mail(
        lang=lang, site="Gazette", url="https://example.com/news/a#old", title="Bridge news",
        quote="teh", correction=correction, prefix="This is ", suffix=" story.",
    )  # fmt: skip


def test_the_email_speaks_the_page_language_and_links_to_the_corrected_words() -> None:
    en = mail("en-GB")
    assert en.subject == "Fixed: the mistake you reported"
    assert "“Bridge news”" in en.text and "“teh”" in en.text
    assert en.link == "https://example.com/news/a#:~:text=This%20is-,the,-story."
    assert en.link in en.text and "— Gazette" in en.text
    assert mail("ru").subject.startswith("Исправлено")
    assert mail("uk").subject.startswith("Виправлено")
    assert mail("de").subject.startswith("Korrigiert")
    assert mail("fr").subject.startswith("Corrigé")
    assert mail("es").subject.startswith("Corregido")
    assert mail("pt-BR").subject.startswith("Corrigido")
    assert mail("xx").subject == en.subject  # unknown languages get English


def test_without_a_correction_the_link_is_the_page() -> None:
    assert mail("en", correction="").link == "https://example.com/news/a"
