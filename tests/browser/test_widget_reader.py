"""The widget from the reader's side: setup mistakes said plainly, words never lost, the
button beside a selection on desktops, languages and directions, and the optional
"tell me when it's fixed" address."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from widget_support import Gazette, dialog, double_click_word, open_article, select_text


def console_errors(page: Page) -> list[str]:
    """The widget's own error messages (not the browser's notes on refused requests)."""
    seen: list[str] = []
    page.on(
        "console",
        lambda m: seen.append(m.text) if m.type == "error" and "[feedback]" in m.text else None,
    )
    return seen


def test_unknown_site_key_is_a_translated_setup_error_with_no_retry(
    page: Page, gazette: Gazette
) -> None:
    errors = console_errors(page)
    page.goto(gazette.pages.add(page_html(gazette, "no-such-key", lang="de")))
    page.wait_for_function("() => window.Feedback && window.Feedback.version")
    double_click_word(page, "#weather", "wheather")
    page.keyboard.press("Control+Enter")
    box = dialog(page)
    status = box.get_by_role("status")
    expect(status).to_have_text(
        "Von dieser Seite können keine Meldungen gesendet werden: "
        "Die Einrichtung der Website ist unvollständig."
    )
    expect(box.get_by_role("button", name="Erneut versuchen")).to_be_hidden()
    expect(box.get_by_role("button", name="Senden")).to_be_hidden()
    expect(box.get_by_role("button", name="Schließen")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Enter")
    expect(status).to_contain_text("Einrichtung")
    # One message for the site's owner per page, saying exactly what to fix.
    assert len(errors) == 1, errors
    assert errors[0].startswith("[feedback] Reports cannot be sent from this page:")
    assert (
        f'data-site="no-such-key" is not a site registered at {gazette.service.url}' in (errors[0])
    )
    assert gazette.reports() == []


def page_html(gazette: Gazette, key: str, lang: str = "en", attrs: str = "") -> str:
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>T</title></head>'
        '<body><article><p id="weather">In rough wheather the relief boat was late.</p>'
        f'</article><script src="{gazette.service.url}/widget.js" data-site="{key}" {attrs} '
        "async></script></body></html>"
    )


def test_origin_the_site_does_not_accept_is_told_once_and_no_send_is_offered(
    page: Page, gazette: Gazette
) -> None:
    other = gazette.service.add_site("Another paper", ["https://another.example"])
    errors = console_errors(page)
    page.goto(gazette.pages.add(page_html(gazette, other.key)))
    page.wait_for_function("() => window.Feedback && window.Feedback.version")
    double_click_word(page, "#weather", "wheather")
    page.keyboard.press("Control+Enter")
    box = dialog(page)
    expect(box.get_by_role("status")).to_have_text(
        "Reports can’t be sent from this page: the site’s feedback setup is incomplete."
    )
    expect(box.get_by_role("button", name="Try again")).to_be_hidden()
    expect(box.get_by_role("button", name="Send")).to_be_hidden()
    origin = gazette.pages.origin
    assert errors == [
        f"[feedback] Reports cannot be sent from this page: site {other.key} does not accept "
        f"reports from {origin}. Add {origin} to the site's allowed origins on the "
        "dashboard's Sites page."
    ]


def test_page_address_outside_the_sites_origins_is_a_setup_error(
    page: Page, gazette: Gazette
) -> None:
    errors = console_errors(page)
    url = gazette.article(head='<link rel="canonical" href="https://mirror.example/story">')
    open_article(page, url)
    double_click_word(page, "#weather", "wheather")
    page.keyboard.press("Control+Enter")
    expect(dialog(page).get_by_role("status")).to_contain_text("setup is incomplete")
    assert len(errors) == 1
    assert "https://mirror.example/story" in errors[0] and "canonical" in errors[0]


def test_closed_dialog_keeps_the_readers_words_for_this_page(page: Page, gazette: Gazette) -> None:
    url = gazette.article()
    open_article(page, url)
    double_click_word(page, "#weather", "wheather")
    page.keyboard.press("Control+Enter")
    box = dialog(page)
    box.get_by_label("Correct text").fill("weather")
    box.get_by_label("Comment (optional)").fill("Spelled wrong twice on this site.")
    page.keyboard.press("Escape")
    expect(box).to_have_count(0)

    # Back on the page later in the same tab: the words are offered again.
    open_article(page, url)
    double_click_word(page, "#weather", "wheather")
    page.keyboard.press("Control+Enter")
    expect(box.get_by_role("status")).to_have_text("Your unsent text was kept.")
    expect(box.get_by_label("Correct text")).to_have_value("weather")
    expect(box.get_by_label("Comment (optional)")).to_have_value(
        "Spelled wrong twice on this site."
    )
    box.get_by_role("button", name="Send").click()
    expect(box.get_by_role("status")).to_have_text("Thank you! Your report was sent.")
    expect(box).to_have_count(0)

    # Sent: nothing is offered any more, and a page comment never got the quote's words.
    double_click_word(page, "#weather", "wheather")
    page.keyboard.press("Control+Enter")
    expect(box.get_by_label("Correct text")).to_have_value("wheather")
    expect(box.get_by_role("status")).to_have_text("")
    page.keyboard.press("Escape")
    [stored] = gazette.reports()
    assert stored["suggestion"] == "weather"


def test_words_of_a_failed_send_survive_a_reload(
    page: Page, context: BrowserContext, gazette: Gazette
) -> None:
    url = gazette.article()
    open_article(page, url)
    page.keyboard.press("Control+Enter")
    box = dialog(page)
    box.get_by_label("Comment", exact=True).fill("The map is missing.")
    context.set_offline(True)
    box.get_by_role("button", name="Send").click()
    expect(box.get_by_role("status")).to_have_text("Sending failed. Please try again.")
    context.set_offline(False)
    page.reload()
    page.wait_for_function("() => window.Feedback && window.Feedback.version")
    page.keyboard.press("Control+Enter")
    expect(box.get_by_label("Comment", exact=True)).to_have_value("The map is missing.")
    box.get_by_role("button", name="Send").click()
    expect(box.get_by_role("status")).to_have_text("Thank you! Your report was sent.")
    assert [r["comment"] for r in gazette.reports()] == ["The map is missing."]


def test_selection_button_on_desktop_when_the_site_asks_for_it(
    page: Page, gazette: Gazette
) -> None:
    open_article(page, gazette.article(attrs='data-button="selection"'))
    button = page.locator("feedback-tap button")
    select_text(page, "#weather", "wheather", "wheather")
    expect(button).to_have_text("Report a typo")
    button.click()
    box = dialog(page)
    expect(box.locator("mark")).to_have_text("wheather")
    expect(button).to_have_count(0)
    box.get_by_role("button", name="Send").click()
    expect(box.get_by_role("status")).to_have_text("Thank you! Your report was sent.")
    assert [r["exact"] for r in gazette.reports()] == ["wheather"]


def test_without_the_option_desktop_readers_get_no_button(page: Page, gazette: Gazette) -> None:
    open_article(page, gazette.article())
    select_text(page, "#weather", "wheather", "wheather")
    page.wait_for_timeout(300)
    expect(page.locator("feedback-tap")).to_have_count(0)


def test_english_dialog_on_a_right_to_left_page_is_left_to_right(
    page: Page, gazette: Gazette
) -> None:
    story = '<article><p id="weather">In rough wheather the relief boat was late.</p></article>'
    open_article(page, gazette.article(story, attrs='data-lang="en"', lang="ar"))
    page.evaluate("document.documentElement.dir = 'rtl'")
    double_click_word(page, "#weather", "wheather")
    page.keyboard.press("Control+Enter")
    box = dialog(page)
    expect(box.get_by_role("heading")).to_have_text("Report a typo")
    expect(box).to_have_css("direction", "ltr")
    send = box.get_by_role("button", name="Send").bounding_box()
    close = box.get_by_role("button", name="Close").bounding_box()
    assert send and close and send["x"] > close["x"], "Send sits at the right, as in English"


def test_arabic_page_gets_a_mirrored_arabic_dialog(page: Page, gazette: Gazette) -> None:
    story = '<article><p id="ar">في الطقس العاصف تأخر قارب الإمداد أسابيع.</p></article>'
    open_article(page, gazette.article(story, lang="ar"))
    double_click_word(page, "#ar", "العاصف")
    page.keyboard.press("Control+Enter")
    box = dialog(page)
    expect(box.get_by_role("heading")).to_have_text("الإبلاغ عن خطأ")
    expect(box).to_have_css("direction", "rtl")
    send = box.get_by_role("button", name="إرسال").bounding_box()
    close = box.get_by_role("button", name="إغلاق").bounding_box()
    assert send and close and send["x"] < close["x"], "Send sits at the left when mirrored"
    box.get_by_role("button", name="إرسال").click()
    expect(box.get_by_role("status")).to_have_text("شكرًا لك! تم إرسال بلاغك.")


@pytest.mark.parametrize(
    ("lang", "heading"),
    [
        ("it", "Segnala un errore"),
        ("pl", "Zgłoś błąd"),
        ("nl", "Fout melden"),
        ("tr", "Hata bildir"),
        ("ja", "誤字を報告"),
        ("zh-Hans-CN", "报告错误"),
    ],
)
def test_dialog_speaks_the_pages_language(
    page: Page, gazette: Gazette, lang: str, heading: str
) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    open_article(page, gazette.article(lang=lang))
    double_click_word(page, "#weather", "wheather")
    page.keyboard.press("Control+Enter")
    expect(dialog(page).get_by_role("heading")).to_have_text(heading)
    short = lang.split("-")[0]
    # Only that language is downloaded.
    assert [u for u in requests if "/widget/dialog." in u] == [
        u for u in requests if f"/widget/dialog.{short}.js?v=" in u
    ]


def test_russian_rate_limit_message_ends_in_one_full_stop(
    page: Page, start_gazette: Callable[..., Gazette]
) -> None:
    gazette = start_gazette(rate_ip_burst=1, rate_ip_per_minute=0.5)
    story = '<article><p id="ru">В бурную пагоду лодка не приходила.</p></article>'
    open_article(page, gazette.article(story, lang="ru"))
    box = dialog(page)
    for expected in ["Спасибо! Сообщение отправлено.", "Слишком много сообщений."]:
        double_click_word(page, "#ru", "пагоду")
        page.keyboard.press("Control+Enter")
        box.get_by_role("button", name="Отправить").click()
        expect(box.get_by_role("status")).to_contain_text(expected)
        if expected.startswith("Спасибо"):
            expect(box).to_have_count(0)
    expect(box.get_by_role("status")).to_have_text(
        "Слишком много сообщений. Попробуйте через 2 мин."
    )


def test_tell_me_when_its_fixed_is_offered_only_where_the_site_enables_it(
    page: Page, gazette: Gazette
) -> None:
    open_article(page, gazette.article())
    double_click_word(page, "#weather", "wheather")
    page.keyboard.press("Control+Enter")
    box = dialog(page)
    expect(box.get_by_label("Correct text")).to_be_visible()
    page.wait_for_timeout(300)
    expect(box.get_by_label("Tell me when it’s fixed (email, optional)")).to_have_count(0)
    page.keyboard.press("Escape")

    # The site turns it on (the setting as the service holds it for the site).
    services = gazette.service.app.state.services
    site = dataclasses.replace(services.sites._sites[gazette.site_key][1], notify_reader=True)
    services.sites._sites[gazette.site_key] = (time.monotonic() + 3600, site)

    page.reload()
    page.wait_for_function("() => window.Feedback && window.Feedback.version")
    double_click_word(page, "#weather", "wheather")
    page.keyboard.press("Control+Enter")
    email = box.get_by_label("Tell me when it’s fixed (email, optional)")
    expect(email).to_have_attribute("type", "email")
    email.fill("not an address")
    box.get_by_role("button", name="Send").click()
    assert email.evaluate("field => field.matches(':invalid')")
    email.fill("reader@example.com")
    with page.expect_request(lambda r: r.method == "POST") as sent:
        box.get_by_role("button", name="Send").click()
    expect(box.get_by_role("status")).to_have_text("Thank you! Your report was sent.")
    assert sent.value.post_data_json["notify_email"] == "reader@example.com"
