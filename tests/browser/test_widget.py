"""The widget in a real Chromium: what readers do, what they see, and what the service stores.

Article pages come from one loopback port and the feedback service from another, so every
report is a real cross-origin request."""

from __future__ import annotations

import json
from collections.abc import Callable

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect
from widget_support import (
    Gazette,
    dialog,
    double_click_word,
    focused_inside_dialog,
    open_article,
    select_text,
    text_box,
)


def test_double_clicked_word_is_reported_with_context(page: Page, gazette: Gazette) -> None:
    url = gazette.article()
    open_article(page, url)
    double_click_word(page, "#weather", "wheather")
    page.keyboard.press("Control+Enter")

    box = dialog(page)
    expect(box).to_be_visible()
    expect(box.get_by_role("heading")).to_have_text("Report a typo")
    expect(box.locator("mark")).to_have_text("wheather")
    expect(box.locator(".q")).to_have_text(
        "In rough wheather the relief boat could be delayed for weeks."
    )
    fix = box.get_by_label("Correct text")
    expect(fix).to_have_value("wheather")
    expect(fix).to_be_focused()
    fix.fill("weather")
    box.get_by_label("Comment (optional)").fill("Second paragraph.")
    box.get_by_role("button", name="Send").click()
    expect(box.get_by_role("status")).to_have_text("Thank you! Your report was sent.")

    [stored] = gazette.reports()
    assert stored["kind"] == "typo"
    assert stored["exact"] == "wheather"
    # The context runs on across the paragraph boundary, marked by a line break.
    assert stored["prefix"].endswith(" after every storm.\nIn rough ")
    assert stored["suffix"] == " the relief boat could be delayed for weeks."
    assert stored["fragment"] == "wheather"
    assert (stored["position_start"], stored["position_end"]) == (149, 157)
    assert stored["suggestion"] == "weather"
    assert stored["comment"] == "Second paragraph."
    assert stored["url"] == url
    assert stored["title"] == "Keepers of the light"
    assert stored["lang"] == "en"
    # The confirmation closes the dialog by itself.
    expect(box).to_have_count(0)


def test_drag_across_a_link_and_emphasis_keeps_the_inline_context(
    page: Page, gazette: Gazette
) -> None:
    open_article(page, gazette.article())
    # Start outside the link: pressing on a link starts dragging the link, not a selection.
    start = text_box(page, "#history", "where")
    end = text_box(page, "#history", "standing")
    page.mouse.move(start["left"] + 1, (start["top"] + start["bottom"]) / 2)
    page.mouse.down()
    page.mouse.move(end["right"] - 1, (end["top"] + end["bottom"]) / 2, steps=5)
    page.mouse.up()
    page.keyboard.press("Meta+Enter")

    box = dialog(page)
    expect(box.locator("mark")).to_have_text("where the Stevenson tower was still standing")
    box.get_by_label("Correct text").fill("where the Stevenson tower still stands")
    box.get_by_role("button", name="Send").click()
    expect(box.get_by_role("status")).to_have_text("Thank you! Your report was sent.")

    [stored] = gazette.reports()
    assert stored["exact"] == "where the Stevenson tower was still standing"
    assert stored["prefix"].endswith("\nFor more than a century the keepers lived on the rock, ")
    assert stored["suffix"].startswith(" after every storm.\nIn rough wheather")
    assert stored["suggestion"] == "where the Stevenson tower still stands"


def test_selection_across_paragraphs_is_one_quote(page: Page, gazette: Gazette) -> None:
    open_article(page, gazette.article())
    select_text(page, "article", "keepers lived", "relief boat")
    page.keyboard.press("Control+Enter")
    dialog(page).get_by_role("button", name="Send").click()
    expect(dialog(page).get_by_role("status")).to_have_text("Thank you! Your report was sent.")

    [stored] = gazette.reports()
    assert stored["exact"] == (
        "keepers lived on the rock, where the Stevenson tower was still standing after every"
        " storm. In rough wheather the relief boat"
    )
    assert stored["prefix"] == "Keepers of the light\nFor more than a century the "
    assert stored["suffix"] == " could be delayed for weeks."
    # Two blocks: the link gives the first and last words of the quote.
    assert stored["fragment"] == "keepers%20lived%20on,the%20relief%20boat"


def test_russian_page_gets_a_russian_dialog_and_cyrillic_quote(
    page: Page, gazette: Gazette
) -> None:
    story = (
        '<article><p id="ru">Смотритель маяка жил на скале, и в бурную пагоду лодка '
        "не приходила неделями.</p></article>"
    )
    open_article(page, gazette.article(story, lang="ru", title="Смотрители маяка"))
    double_click_word(page, "#ru", "пагоду")
    page.keyboard.press("Control+Enter")

    box = dialog(page)
    expect(box.get_by_role("heading")).to_have_text("Сообщить об ошибке")
    box.get_by_label("Исправленный текст").fill("погоду")
    # Ctrl+Enter inside the dialog sends it.
    page.keyboard.press("Control+Enter")
    expect(box.get_by_role("status")).to_have_text("Спасибо! Сообщение отправлено.")

    [stored] = gazette.reports()
    assert stored["exact"] == "пагоду"
    assert stored["prefix"] == "Смотритель маяка жил на скале, и в бурную "
    assert stored["suffix"] == " лодка не приходила неделями."
    assert stored["suggestion"] == "погоду"
    assert (stored["lang"], stored["title"]) == ("ru", "Смотрители маяка")


def test_nothing_selected_opens_a_page_comment_that_needs_text(
    page: Page, gazette: Gazette
) -> None:
    open_article(page, gazette.article())
    # Some Chromium builds report Ctrl+Enter as keyCode 10; the widget takes that too.
    page.evaluate(
        """() => document.body.dispatchEvent(new KeyboardEvent('keydown',
            {ctrlKey: true, keyCode: 10, bubbles: true, cancelable: true}))"""
    )
    box = dialog(page)
    expect(box.get_by_role("heading")).to_have_text("Comment on this page")
    expect(box.locator("mark")).to_have_count(0)
    comment = box.get_by_label("Comment", exact=True)
    expect(comment).to_be_focused()
    box.get_by_role("button", name="Send").click()
    assert comment.evaluate("field => field.matches(':invalid')")
    expect(box.get_by_role("status")).to_have_text("")

    comment.fill("The map in this story is missing.")
    box.get_by_role("button", name="Send").click()
    expect(box.get_by_role("status")).to_have_text("Thank you! Your report was sent.")

    [stored] = gazette.reports()
    assert stored["kind"] == "comment"
    assert stored["comment"] == "The map in this story is missing."
    assert stored["exact"] == ""


def test_escape_closes_the_dialog_and_focus_returns_where_it_was(
    page: Page, gazette: Gazette
) -> None:
    open_article(page, gazette.article())
    page.focus("#history a")
    page.keyboard.press("Control+Enter")
    box = dialog(page)
    expect(box).to_be_visible()
    assert focused_inside_dialog(page)
    # Focus is trapped: three controls, and six Tabs either way never leave the dialog.
    for key in ["Tab"] * 6 + ["Shift+Tab"] * 6:
        page.keyboard.press(key)
        assert focused_inside_dialog(page), key
    page.keyboard.press("Escape")
    expect(box).to_have_count(0)
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#stevenson"
    assert gazette.reports() == []

    # The whole flow by keyboard alone, including the send.
    page.keyboard.press("Control+Enter")
    page.keyboard.type("Keyboard only.")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(box.get_by_role("button", name="Send")).to_be_focused()
    page.keyboard.press("Enter")
    expect(box.get_by_role("status")).to_have_text("Thank you! Your report was sent.")
    assert [r["comment"] for r in gazette.reports()] == ["Keyboard only."]
    expect(box).to_have_count(0)
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#stevenson"


def test_ctrl_enter_in_the_pages_own_fields_is_left_to_the_page(
    page: Page, gazette: Gazette
) -> None:
    story = (
        '<article><p id="weather">In rough wheather the relief boat was late.</p>'
        '<textarea id="reply"></textarea><div id="note" contenteditable="true">Draft</div>'
        "</article>"
    )
    counter = (
        "<script>window.sent = 0; document.addEventListener('keydown', e => {"
        " if (e.ctrlKey && e.key === 'Enter' && !e.defaultPrevented) window.sent++; });</script>"
    )
    open_article(page, gazette.article(story, head=counter))
    double_click_word(page, "#weather", "wheather")
    page.fill("#reply", "My comment")
    page.keyboard.press("Control+Enter")
    page.click("#note")
    page.keyboard.press("Control+Enter")
    assert dialog(page).count() == 0
    assert page.evaluate("window.sent") == 2

    page.click("#weather")
    page.keyboard.press("Control+Enter")
    expect(dialog(page)).to_be_visible()
    assert page.evaluate("window.sent") == 2
    assert gazette.reports() == []


def test_over_long_selection_asks_for_a_shorter_passage(page: Page, gazette: Gazette) -> None:
    long_text = " ".join(
        f"Sentence {n} of a very long paragraph about lighthouses." for n in range(8)
    )
    story = f'<article><p id="long">{long_text} The last wurd.</p></article>'
    open_article(page, gazette.article(story))
    select_text(page, "#long", "Sentence 0", "wurd.")
    page.keyboard.press("Control+Enter")

    box = dialog(page)
    expect(box.get_by_role("status")).to_have_text("Please select a shorter passage.")
    expect(box.get_by_role("button", name="Send")).to_have_count(0)
    expect(box.get_by_role("button", name="Close")).to_be_focused()
    page.keyboard.press("Escape")

    double_click_word(page, "#long", "wurd")
    page.keyboard.press("Control+Enter")
    box.get_by_role("button", name="Send").click()
    expect(box.get_by_role("status")).to_have_text("Thank you! Your report was sent.")
    assert [r["exact"] for r in gazette.reports()] == ["wurd"]


def test_rate_limited_reader_is_told_when_to_try_again(
    page: Page, start_gazette: Callable[..., Gazette]
) -> None:
    # One report per IP, then one more every two minutes.
    gazette = start_gazette(rate_ip_burst=1, rate_ip_per_minute=0.5)
    open_article(page, gazette.article())
    box = dialog(page)
    for expected in ["Thank you! Your report was sent.", "Too many reports. Try again in 2 min."]:
        double_click_word(page, "#weather", "wheather")
        page.keyboard.press("Control+Enter")
        box.get_by_role("button", name="Send").click()
        expect(box.get_by_role("status")).to_have_text(expected)
        if expected.startswith("Thank you"):
            expect(box).to_have_count(0)
    expect(box.get_by_label("Correct text")).to_have_value("wheather")
    assert len(gazette.reports()) == 1


def test_server_validation_message_is_shown_and_the_text_is_kept(
    page: Page, gazette: Gazette
) -> None:
    # A page address longer than the service accepts: only the server can say so.
    url = gazette.article(query="?ref=" + "x" * 2100)
    open_article(page, url)
    double_click_word(page, "#weather", "wheather")
    page.keyboard.press("Control+Enter")
    box = dialog(page)
    box.get_by_label("Correct text").fill("weather")
    box.get_by_role("button", name="Send").click()

    expect(box.get_by_role("status")).to_have_text(
        f"'url' is {len(url)} characters; the limit is 2048."
    )
    expect(box.get_by_role("button", name="Try again")).to_be_hidden()
    expect(box.get_by_label("Correct text")).to_have_value("weather")
    assert gazette.reports() == []


def test_offline_send_keeps_the_text_and_try_again_delivers_it(
    page: Page, context: BrowserContext, gazette: Gazette
) -> None:
    open_article(page, gazette.article())
    double_click_word(page, "#weather", "wheather")
    page.keyboard.press("Control+Enter")
    box = dialog(page)
    box.get_by_label("Correct text").fill("weather")
    box.get_by_label("Comment (optional)").fill("Sent from a train.")

    context.set_offline(True)
    box.get_by_role("button", name="Send").click()
    expect(box.get_by_role("status")).to_have_text("Sending failed. Please try again.")
    expect(box.get_by_label("Correct text")).to_have_value("weather")
    expect(box.get_by_label("Comment (optional)")).to_have_value("Sent from a train.")
    assert gazette.reports() == []

    context.set_offline(False)
    box.get_by_role("button", name="Try again").click()
    expect(box.get_by_role("status")).to_have_text("Thank you! Your report was sent.")
    [stored] = gazette.reports()
    assert (stored["suggestion"], stored["comment"]) == ("weather", "Sent from a train.")


def test_markup_in_page_text_is_shown_as_text_and_never_runs(page: Page, gazette: Gazette) -> None:
    markup = '<img src=x onerror="window.pwned=1">'
    story = (
        '<article><p id="code">Never paste &lt;img src=x onerror="window.pwned=1"&gt; '
        "into a <b>comment</b> box.</p></article>"
    )
    open_article(page, gazette.article(story, title="<b>Tags</b> & text"))
    select_text(page, "#code", "<img", '1">')
    page.keyboard.press("Control+Enter")

    box = dialog(page)
    expect(box.locator("mark")).to_have_text(markup)
    expect(box.get_by_label("Correct text")).to_have_value(markup)
    assert page.locator("feedback-dialog img").count() == 0
    box.get_by_label("Comment (optional)").fill("<script>window.pwned=2</script>")
    box.get_by_role("button", name="Send").click()
    expect(box.get_by_role("status")).to_have_text("Thank you! Your report was sent.")
    assert page.evaluate("window.pwned") is None

    [stored] = gazette.reports()
    assert stored["exact"] == markup
    assert stored["prefix"] == "Never paste "
    assert stored["suffix"] == " into a comment box."
    assert stored["comment"] == "<script>window.pwned=2</script>"
    assert stored["title"] == "<b>Tags</b> & text"


def test_strict_csp_page_gets_a_styled_working_widget(page: Page, gazette: Gazette) -> None:
    service = gazette.service.url
    policy = (
        f"default-src 'self'; script-src {service}; connect-src {service}; "
        "style-src 'self'; img-src 'self'"
    )
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    url = gazette.article(
        attrs='data-hint data-accent="#8a2be2"',
        headers={"Content-Security-Policy": policy},
    )
    open_article(page, url)
    expect(page.locator("article > feedback-hint")).to_have_text(
        "Spotted a mistake? Select it and press Ctrl+Enter"
    )
    double_click_word(page, "#weather", "wheather")
    page.keyboard.press("Control+Enter")

    box = dialog(page)
    send = box.get_by_role("button", name="Send")
    # Styled by the widget's own stylesheet, which the policy did not block.
    expect(box).to_have_css("border-radius", "12px")
    expect(page.locator("feedback-dialog .o")).to_have_css("position", "fixed")
    expect(send).to_have_css("background-color", "rgb(138, 43, 226)")
    send.click()
    expect(box.get_by_role("status")).to_have_text("Thank you! Your report was sent.")
    assert problems == []
    assert [r["exact"] for r in gazette.reports()] == ["wheather"]


def test_phone_reader_selects_text_and_taps_report_a_typo(
    browser: Browser, playwright: Playwright, gazette: Gazette
) -> None:
    device = dict(playwright.devices["iPhone 13"])
    device.pop("default_browser_type", None)
    context = browser.new_context(**device)
    try:
        phone = context.new_page()
        open_article(phone, gazette.article())
        button = phone.locator("feedback-tap button")
        select_text(phone, "#weather", "wheather", "wheather")
        expect(button).to_be_visible()
        phone.evaluate("document.getSelection().removeAllRanges()")
        expect(button).to_have_count(0)

        select_text(phone, "#weather", "wheather", "wheather")
        expect(button).to_have_text("Report a typo")
        word = text_box(phone, "#weather", "wheather")
        tapped = button.bounding_box()
        assert tapped and tapped["y"] > word["bottom"], "the button sits below the selection"
        button.tap()

        box = dialog(phone)
        expect(box.locator("mark")).to_have_text("wheather")
        panel = phone.locator("feedback-dialog .d").bounding_box()
        assert panel and panel["x"] >= 0 and panel["x"] + panel["width"] <= 390
        box.get_by_label("Correct text").fill("weather")
        box.get_by_role("button", name="Send").tap()
        expect(box.get_by_role("status")).to_have_text("Thank you! Your report was sent.")
    finally:
        context.close()

    [stored] = gazette.reports()
    assert (stored["exact"], stored["suggestion"]) == ("wheather", "weather")
    assert stored["user_agent"] == "Safari on iOS"  # reduced to browser family and OS


def test_phone_reader_is_told_to_tap_the_button_not_to_press_keys(
    browser: Browser, playwright: Playwright, gazette: Gazette
) -> None:
    device = dict(playwright.devices["iPhone 13"])
    device.pop("default_browser_type", None)
    context = browser.new_context(**device)
    try:
        phone = context.new_page()
        open_article(phone, gazette.article(attrs="data-hint"))
        expect(phone.locator("article > feedback-hint")).to_have_text(
            'Spotted a mistake? Select it and press "Report a typo"'
        )
    finally:
        context.close()


def test_site_button_calls_made_before_the_widget_loads_are_kept(
    page: Page, gazette: Gazette
) -> None:
    stub = (
        "<script>window.Feedback = window.Feedback || "
        "{q: [], open: function (o) { window.Feedback.q.push(o); }};"
        "Feedback.open({kind: 'comment'});</script>"
    )
    story = (
        '<article><p id="weather">In rough wheather the relief boat was late.</p>'
        '<button id="report" onclick="Feedback.open()">Report an error</button></article>'
    )
    page.goto(gazette.article(story, head=stub))
    box = dialog(page)
    expect(box.get_by_role("heading")).to_have_text("Comment on this page")
    box.get_by_label("Comment", exact=True).fill("Queued before the script arrived.")
    box.get_by_role("button", name="Send").click()
    expect(box.get_by_role("status")).to_have_text("Thank you! Your report was sent.")
    expect(box).to_have_count(0)

    double_click_word(page, "#weather", "wheather")
    page.click("#report")
    expect(box.locator("mark")).to_have_text("wheather")
    box.get_by_role("button", name="Send").click()
    expect(box.get_by_role("status")).to_have_text("Thank you! Your report was sent.")

    stored = gazette.reports()
    assert [(r["kind"], r["exact"]) for r in stored] == [("comment", ""), ("typo", "wheather")]
    assert stored[0]["comment"] == "Queued before the script arrived."


def test_open_dialog_passes_an_axe_audit_in_light_and_dark(
    page: Page, gazette: Gazette, axe_source: str
) -> None:
    open_article(page, gazette.article())
    page.add_script_tag(content=axe_source)
    double_click_word(page, "#weather", "wheather")
    page.keyboard.press("Control+Enter")
    expect(dialog(page)).to_be_visible()
    panel = page.locator("feedback-dialog .d")
    expect(panel).to_have_css("animation-name", "i")
    audit = "async () => (await axe.run(document.querySelector('feedback-dialog'))).violations"
    for scheme, background in (("light", "rgb(255, 255, 255)"), ("dark", "rgb(34, 39, 46)")):
        page.emulate_media(color_scheme=scheme, reduced_motion="reduce")
        expect(panel).to_have_css("background-color", background)
        expect(panel).to_have_css("animation-name", "none")
        violations = page.evaluate(audit)
        assert violations == [], json.dumps(violations, indent=1)[:3000]

    dialog(page).get_by_role("button", name="Send").click()
    expect(dialog(page).get_by_role("status")).to_have_text("Thank you! Your report was sent.")
    assert [r["exact"] for r in gazette.reports()] == ["wheather"]


def test_mac_reader_sees_the_hint_in_their_language_and_uses_cmd_enter(
    page: Page, gazette: Gazette
) -> None:
    page.add_init_script("Object.defineProperty(navigator, 'platform', {get: () => 'MacIntel'})")
    story = (
        '<main><div id="story"><p id="de">Bei rauem Wetter kam das Boot oft zu spat.</p></div>'
        "<aside>Related stories</aside></main>"
    )
    open_article(
        page, gazette.article(story, attrs='data-hint data-container="#story" data-lang="de"')
    )
    hint = page.locator("#story > feedback-hint")
    expect(hint).to_have_text("Fehler entdeckt? Markieren und ⌘+Enter drücken")
    assert page.evaluate("document.querySelector('#story').lastElementChild.localName") == (
        "feedback-hint"
    )

    # Selecting the hint itself is not a typo report: the keys open a page comment.
    hint.click(click_count=3)
    page.keyboard.press("Meta+Enter")
    box = dialog(page)
    expect(box.get_by_role("heading")).to_have_text("Kommentar zu dieser Seite")
    page.keyboard.press("Escape")

    double_click_word(page, "#de", "spat")
    page.keyboard.press("Meta+Enter")
    expect(box.get_by_role("heading")).to_have_text("Fehler melden")
    box.get_by_label("Korrekter Text").fill("spät")
    box.get_by_role("button", name="Senden").click()
    expect(box.get_by_role("status")).to_have_text("Danke! Ihre Meldung wurde gesendet.")
    [stored] = gazette.reports()
    assert (stored["exact"], stored["suggestion"]) == ("spat", "spät")


def test_widget_stays_silent_until_the_reader_acts_and_a_double_click_sends_once(
    page: Page, gazette: Gazette
) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url.split('?')[0]}"))
    url = gazette.article(attrs="data-hint")
    open_article(page, url)
    expect(page.locator("feedback-hint")).to_have_count(1)
    service = gazette.service.url
    # A page view costs the loader and, with data-hint, the hint's few words.
    assert requests == [
        f"GET {url}",
        f"GET {service}/widget.js",
        f"GET {service}/widget/hint.en.json",
    ]

    double_click_word(page, "#weather", "wheather")
    page.keyboard.press("Control+Enter")
    expect(dialog(page)).to_be_visible()
    # The reader acted: the dialog in their language, and the site's settings.
    assert sorted(requests[3:]) == [
        f"GET {service}/api/v1/widget-config",
        f"GET {service}/widget/dialog.en.js",
    ]

    dialog(page).get_by_role("button", name="Send").dblclick()
    expect(dialog(page).get_by_role("status")).to_have_text("Thank you! Your report was sent.")
    page.keyboard.press("Control+Enter")
    expect(dialog(page)).to_have_count(0)
    posts = [r for r in requests if r.startswith("POST")]
    assert posts == [f"POST {service}/api/v1/reports"]
    [stored] = gazette.reports()
    assert stored["submission_count"] == 1


def test_page_without_a_language_speaks_the_readers_browser_language(
    browser: Browser, gazette: Gazette
) -> None:
    context = browser.new_context(locale="fr-FR")
    try:
        page = context.new_page()
        open_article(page, gazette.article(lang=""))
        double_click_word(page, "#weather", "wheather")
        page.keyboard.press("Control+Enter")
        box = dialog(page)
        expect(box.get_by_role("heading")).to_have_text("Signaler une erreur")
        box.get_by_label("Texte corrigé").fill("weather")
        box.get_by_role("button", name="Envoyer").click()
        expect(box.get_by_role("status")).to_have_text("Merci ! Votre signalement a été envoyé.")
    finally:
        context.close()
    [stored] = gazette.reports()
    assert (stored["suggestion"], stored["lang"]) == ("weather", "")
