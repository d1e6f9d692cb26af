"""The widget pins down which occurrence the reader selected, on pages made to be hard.

Every page here is built from structures real article pages use (share bars, galleries,
tables, pull quotes, <details>, late-loading ads). In each, one occurrence is marked
`data-target`; others like it are not. The test selects text in the target the way a
reader would, sends the report, and checks:

- the TextQuoteSelector (prefix + exact + suffix) occurs exactly once in the page's text,
  at the target;
- the TextPositionSelector's offsets point at the target in the page's visible text;
- opening the page at the text fragment scrolls to the target, not to an occurrence like it.

Blocks are spaced a screen apart, so only the occurrence that was scrolled to is on screen.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
from playwright.sync_api import Page, expect
from widget_support import Gazette, dialog, open_article

SPACED = (
    "<style>body{font:16px/1.5 serif;margin:0 8px}"
    "li,figure,p,details,section,h2,.ad{margin:0 0 130vh}"
    "td,th{vertical-align:top;padding:0 0 130vh}</style>"
)

# The selection's Range, kept where the checks below can find it after the send.
SELECT_JS = """([start, end, startNth, endNth]) => {
    const root = document.querySelector('[data-target]');
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    let began = false, seenStart = 0, seenEnd = 0;
    for (let node; (node = walker.nextNode()); ) {
        if (!began) {
            let at = -1;
            for (let i = node.data.indexOf(start); i >= 0; i = node.data.indexOf(start, i + 1))
                if (seenStart++ === startNth) { at = i; break; }
            if (at < 0) continue;
            range.setStart(node, at);
            began = true;
        }
        let at = -1;
        const from = node === range.startContainer ? range.startOffset : 0;
        for (let i = node.data.indexOf(end, from); i >= 0; i = node.data.indexOf(end, i + 1))
            if (seenEnd++ === endNth) { at = i; break; }
        if (at >= 0) { range.setEnd(node, at + end.length); break; }
    }
    const selection = document.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    window.__target = range.cloneRange();
    return range.toString();
}"""

# Where the quote selector matches in the page's visible text, and where the target is.
LOCATE_JS = """(q) => {
    const n = (s) => s.replace(/\\s+/g, ' ');
    const mark = document.createTextNode('\\u2060');
    window.__target.insertNode(mark);
    const text = n(document.body.innerText).trim();
    mark.remove();
    const at = text.indexOf('\\u2060');
    const clean = text.replace('\\u2060', '');
    const needle = n(q.prefix + q.exact + q.suffix);
    const hits = [];
    for (let i = clean.indexOf(needle); i >= 0; i = clean.indexOf(needle, i + 1)) hits.push(i);
    const points = (s) => Array.from(s).length;
    return {
        hits,
        expected: at - n(q.prefix).length,
        start: points(clean.slice(0, at)),
        end: points(clean.slice(0, at)) + points(n(q.exact)),
    };
}"""

ON_SCREEN_JS = """() => {
    const seen = (el) => {
        // The text's own box: a table cell's padding is not the text.
        const range = document.createRange();
        range.selectNodeContents(el);
        const r = range.getBoundingClientRect();
        return r.bottom > 0 && r.top < innerHeight;
    };
    return {
        target: seen(document.querySelector('[data-target]')),
        others: [...document.querySelectorAll('[data-other]')].filter(seen).length,
        scrolled: scrollY,
    };
}"""


def report_selection(
    page: Page, gazette: Gazette, url: str, start: str, end: str | None = None, nth: int = 0
) -> dict[str, Any]:
    """Select from `start` to `end` inside the target, send it, and return what was sent."""
    open_article(page, url)
    page.evaluate(SELECT_JS, [start, end or start, nth, 0])
    page.keyboard.press("Control+Enter")
    box = dialog(page)
    expect(box).to_be_visible()
    with page.expect_request(lambda r: r.method == "POST" and "/api/v1/reports" in r.url) as sent:
        box.locator("button.p").click()
    expect(box.get_by_role("status")).not_to_have_text("")
    expect(box).to_have_count(0, timeout=5000)
    body = sent.value.post_data_json
    assert body and body["kind"] == "typo"
    # The service kept what the browser sent.
    stored = gazette.reports()[-1]
    assert (stored["exact"], stored["fragment"]) == (body["quote"]["exact"], body["fragment"])
    assert (stored["position_start"], stored["position_end"]) == (
        body["position"]["start"],
        body["position"]["end"],
    )
    return body


def check_selectors(page: Page, body: dict[str, Any], *, positions: bool = True) -> None:
    found = page.evaluate(LOCATE_JS, body["quote"])
    assert found["hits"] == [found["expected"]], (body["quote"], found)
    if positions:
        assert body["position"] == {"start": found["start"], "end": found["end"]}


def check_fragment_link(page: Page, url: str, body: dict[str, Any]) -> None:
    fragment = body.get("fragment")
    assert fragment, f"no text fragment was made for {body['quote']['exact']!r}"
    # A page of its own, as a fresh load: a fragment is acted on when a document loads.
    fresh = page.context.new_page()
    try:
        fresh.goto(f"{url}#:~:text={fragment}")
        fresh.wait_for_function("() => scrollY > 0", timeout=5000)
        fresh.wait_for_timeout(200)
        assert fresh.evaluate(ON_SCREEN_JS) | {"scrolled": 0} == {
            "target": True,
            "others": 0,
            "scrolled": 0,
        }, unquote(fragment)
    finally:
        fresh.close()


def share_bar(n: int, target: bool = False) -> str:
    mark = "data-target" if target else "data-other"
    return (
        f"<section><h2>Part {n}: the keepers' {['winter', 'spring', 'summer', 'autumn'][n % 4]}"
        f"</h2><p>Story text of part {n} about the lighthouse and its keepers.</p>"
        f'<ul class="share"><li {mark}><a href="#">Facebook</a></li><li><a href="#">X</a></li>'
        '<li><a href="#">Email</a></li></ul></section>'
    )


def test_a_word_repeated_in_many_list_items(page: Page, gazette: Gazette) -> None:
    body = "".join(share_bar(n, target=n == 4) for n in range(6))
    url = gazette.article(f"<article>{body}</article>", head=SPACED)
    sent = report_selection(page, gazette, url, "Facebook")
    assert sent["quote"]["exact"] == "Facebook"
    # The context runs on past the list item, with a line break at each block boundary.
    assert sent["quote"]["prefix"].endswith(
        "Story text of part 4 about the lighthouse and its keepers.\n"
    )
    check_selectors(page, sent)
    check_fragment_link(page, url, sent)


def test_identical_captions_in_the_story_and_its_gallery(page: Page, gazette: Gazette) -> None:
    captions = [
        "Keepers trim the wicks in the lamp room, 1962. Photograph: Alamy",
        "The relief boat at the landing stage. Photograph: Alamy",
        "Hynish signal tower from the shore. Photograph: Alamy",
    ]
    story = "".join(
        f"<p>Paragraph {i} of the story.</p>"
        f"<figure data-other><figcaption>{c}</figcaption></figure>"
        for i, c in enumerate(captions)
    )
    gallery = "".join(
        f"<figure {'data-target' if i == 1 else 'data-other'}><figcaption>{c}</figcaption></figure>"
        for i, c in enumerate(captions)
    )
    url = gazette.article(f"<article>{story}<h2>Gallery</h2>{gallery}</article>", head=SPACED)
    sent = report_selection(page, gazette, url, "relief boat", "Alamy")
    assert sent["quote"]["exact"] == "relief boat at the landing stage. Photograph: Alamy"
    check_selectors(page, sent)
    check_fragment_link(page, url, sent)


def test_a_quote_across_a_link_emphasis_and_a_line_break(page: Page, gazette: Gazette) -> None:
    pull = (
        'The <a href="#log">keeper</a> wrote: <em>all</em> well on the rock<br>'
        "and the light is burning bright tonight"
    )
    url = gazette.article(
        f"<article><p data-other>{pull}</p><p>He wrote it every night for a year.</p>"
        f"<blockquote><p data-target>{pull}</p></blockquote><p>The end.</p></article>",
        head=SPACED,
    )
    sent = report_selection(page, gazette, url, "wrote", "tonight")
    # <br> separates words: they are not run together as Range.toString() would.
    assert sent["quote"]["exact"] == (
        "wrote: all well on the rock and the light is burning bright tonight"
    )
    check_selectors(page, sent)
    check_fragment_link(page, url, sent)


def test_a_table_cell(page: Page, gazette: Gazette) -> None:
    rows = "".join(
        f"<tr><th>{day}</th><td>{hours}</td>"
        f"<td {'data-target' if day == 'Thursday' else 'data-other'}>"
        "Closed for maintenance</td></tr>"
        for day, hours in [("Monday", "10–16"), ("Tuesday", "10–16"), ("Thursday", "12–18")]
    )
    url = gazette.article(
        f"<article><p>Opening hours of the museum:</p><table>{rows}</table></article>",
        head=SPACED,
    )
    sent = report_selection(page, gazette, url, "maintenance")
    assert sent["quote"]["exact"] == "maintenance"
    check_selectors(page, sent)
    check_fragment_link(page, url, sent)


@pytest.mark.parametrize(
    ("lang", "word", "texts"),
    [
        (
            "zh",
            "天气",
            [
                "灯塔看守人在岩石上生活了一百多年，天气恶劣时补给船会推迟好几个星期。",
                "看守人每三个小时记录一次天气，无论白天还是黑夜。",
                "冬天的天气最难熬，海浪整夜拍打着塔身。",
            ],
        ),
        (
            "ja",
            "天気",
            [
                "灯台守は百年以上も岩の上で暮らし、天気が悪いと補給船は何週間も遅れた。",
                "灯台守は三時間ごとに天気を記録した。",
                "冬の天気がいちばんつらく、波が一晩中塔を打った。",
            ],
        ),
    ],
)
def test_chinese_and_japanese_text_without_spaces(
    page: Page, gazette: Gazette, lang: str, word: str, texts: list[str]
) -> None:
    paragraphs = "".join(
        f"<p {'data-target' if i == 1 else 'data-other'}>{text}</p>" for i, text in enumerate(texts)
    )
    url = gazette.article(f"<article>{paragraphs}</article>", lang=lang, head=SPACED)
    sent = report_selection(page, gazette, url, word)
    assert sent["quote"]["exact"] == word
    assert sent["lang"] == lang
    check_selectors(page, sent)
    check_fragment_link(page, url, sent)


def test_a_right_to_left_paragraph(page: Page, gazette: Gazette) -> None:
    texts = [
        "عاش حراس المنارة على الصخرة أكثر من قرن، وفي الطقس العاصف تأخر قارب الإمداد أسابيع.",
        "كان الطقس في الشتاء قاسيا، وكان الحراس يسجلون الطقس كل ثلاث ساعات.",
        "وفي الطقس الهادئ كانت العائلات تراقب البرج من الشاطئ.",
    ]
    paragraphs = "".join(
        f'<p dir="rtl" {"data-target" if i == 1 else "data-other"}>{text}</p>'
        for i, text in enumerate(texts)
    )
    url = gazette.article(f'<article dir="rtl">{paragraphs}</article>', lang="ar", head=SPACED)
    open_article(page, url)
    sent = report_selection(page, gazette, url, "الطقس", nth=1)
    assert sent["quote"]["exact"] == "الطقس"
    check_selectors(page, sent)
    check_fragment_link(page, url, sent)


def test_a_quote_inside_details(page: Page, gazette: Gazette) -> None:
    url = gazette.article(
        "<article><p data-other>The weather decided everything on the rock.</p>"
        "<details><summary>Notes on sources</summary><p data-target>The keepers logged the "
        "weather every three hours, day and night.</p></details>"
        "<p data-other>More about the weather.</p></article>",
        head=SPACED,
    )
    open_article(page, url)
    page.click("summary")
    page.evaluate(SELECT_JS, ["weather", "weather", 0, 0])
    page.keyboard.press("Control+Enter")
    with page.expect_request(lambda r: r.method == "POST") as sent:
        dialog(page).locator("button.p").click()
    body = sent.value.post_data_json
    check_selectors(page, body)
    # The link opens the closed <details> to show the quote.
    check_fragment_link(page, url, body)


ADS = """<script>
addEventListener('load', () => setTimeout(() => {
  document.querySelectorAll('article > p').forEach((p, i) => {
    const ad = document.createElement('div');
    ad.className = 'ad';
    ad.textContent = 'Advertisement. The weather today: rough at sea. Subscribe for '
      + (i + 3) + ' euros.';
    p.after(ad);
  });
}, 30));
</script>"""


def test_ads_inserted_between_paragraphs_after_load(page: Page, gazette: Gazette) -> None:
    paragraphs = [
        "In rough weather the relief boat could be delayed for weeks.",
        "The keepers said rough weather was the worst part of the job.",
        "In calm weather the families watched the tower from the shore.",
    ]
    body = "".join(
        f"<p {'data-target' if i == 2 else 'data-other'}>{p}</p>" for i, p in enumerate(paragraphs)
    )
    url = gazette.article(f"<article>{body}</article>", head=SPACED + ADS)
    open_article(page, url)
    page.wait_for_selector(".ad")
    sent = report_selection(page, gazette, url, "weather")
    check_selectors(page, sent)
    check_fragment_link(page, url, sent)


def test_letters_inside_a_word(page: Page, gazette: Gazette) -> None:
    texts = [
        "Readers did not recieve the paper on Monday.",
        "Subscribers in Tiree did not recieve the paper either.",
        "Nobody will recieve a refund.",
    ]
    paragraphs = "".join(
        f"<p {'data-target' if i == 1 else 'data-other'}>{text}</p>" for i, text in enumerate(texts)
    )
    url = gazette.article(f"<article>{paragraphs}</article>", head=SPACED)
    sent = report_selection(page, gazette, url, "ie")
    assert sent["quote"]["exact"] == "ie"
    # The link highlights the two letters, bounded by the rest of their word.
    assert "rec-,ie,-ve" in unquote(sent["fragment"])
    check_selectors(page, sent)
    check_fragment_link(page, url, sent)


def test_preformatted_text_nbsp_and_hidden_text(page: Page, gazette: Gazette) -> None:
    body = (
        "<article><p>The formula <math><semantics><mi>E</mi>"
        '<annotation encoding="application/x-tex">E=mc^2</annotation></semantics></math>'
        ' is famous<span style="display:none"> secret hidden words</span>.</p>'
        "<pre data-target>keeper   log:  wind  NW</pre>"
        "<p>Speed&nbsp;&nbsp;12 knots.</p></article>"
    )
    url = gazette.article(body)
    open_article(page, url)
    page.evaluate(SELECT_JS, ["log", "NW", 0, 0])
    page.keyboard.press("Control+Enter")
    with page.expect_request(lambda r: r.method == "POST") as sent:
        dialog(page).locator("button.p").click()
    q = sent.value.post_data_json["quote"]
    position = sent.value.post_data_json["position"]
    # Hidden text (the TeX source, display:none) is not part of the context.
    assert q["prefix"] == "The formula E is famous.\nkeeper   "
    assert q["exact"] == "log: wind NW"
    # Positions count the <pre>'s spaces as written.
    assert position == {"start": 34, "end": 48}
    assert q["suffix"] == "\nSpeed  12 knots."
