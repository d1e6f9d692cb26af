"""Closing the loop with a reader: the one short email they get when the mistake they
reported is fixed, in the language of the page they reported it on, and its sending."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from feedback.dashboard.text import quote_url, safe_href
from feedback.mail import MailError, send_mail
from feedback.store.queue import report_by_id
from feedback.store.readers import reader_summaries

log = logging.getLogger("feedback")
_sending: set[asyncio.Task] = set()

# Subject, greeting line and closing line per language; {quote} and {title} are filled in.
TEXTS: dict[str, tuple[str, str, str]] = {
    "en": (
        "Fixed: the mistake you reported",
        "Thank you! The mistake you reported on “{title}” has been fixed: “{quote}”.",
        "See the corrected text:",
    ),
    "ru": (
        "Исправлено: ошибка, о которой вы сообщили",
        "Спасибо! Ошибка, о которой вы сообщили на странице «{title}», исправлена: «{quote}».",
        "Исправленный текст:",
    ),
    "uk": (
        "Виправлено: помилка, про яку ви повідомили",
        "Дякуємо! Помилку, про яку ви повідомили на сторінці «{title}», виправлено: «{quote}».",
        "Виправлений текст:",
    ),
    "de": (
        "Korrigiert: der Fehler, den Sie gemeldet haben",
        "Danke! Der Fehler, den Sie auf „{title}“ gemeldet haben, ist korrigiert: „{quote}“.",
        "Zur korrigierten Stelle:",
    ),
    "fr": (
        "Corrigé : l’erreur que vous avez signalée",
        "Merci ! L’erreur que vous avez signalée sur « {title} » a été corrigée : « {quote} ».",
        "Voir le texte corrigé :",
    ),
    "es": (
        "Corregido: el error que nos señaló",
        "¡Gracias! El error que nos señaló en «{title}» ya está corregido: «{quote}».",
        "Vea el texto corregido:",
    ),
    "pt": (
        "Corrigido: o erro que assinalou",
        "Obrigado! O erro que assinalou em «{title}» foi corrigido: «{quote}».",
        "Veja o texto corrigido:",
    ),
}
FOOTER = "— {site}"


@dataclass(frozen=True)
class ReaderMail:
    subject: str
    text: str
    link: str


def language(lang: str) -> str:
    base = (lang or "").strip().lower().replace("_", "-").split("-")[0]
    return base if base in TEXTS else "en"


def corrected_link(url: str, correction: str, prefix: str, suffix: str) -> str | None:
    """The page scrolled to the corrected words when the correction is known, else the
    page itself."""
    if correction.strip():
        return quote_url(url, correction, prefix, suffix)
    href = safe_href(url)
    return href.split("#", 1)[0] if href else None


def fixed_mail(
    *, lang: str, site: str, url: str, title: str, quote: str, correction: str,
    prefix: str, suffix: str,
) -> ReaderMail:  # fmt: skip
    subject, thanks, see = TEXTS[language(lang)]
    short = quote if len(quote) <= 80 else quote[:79] + "…"
    link = corrected_link(url, correction, prefix, suffix) or ""
    lines = [thanks.format(title=title.strip() or url, quote=short), ""]
    if link:
        lines += [see, link, ""]
    lines.append(FOOTER.format(site=site))
    return ReaderMail(subject=subject, text="\n".join(lines), link=link)


async def tell_reader(svc: Any, report_id: int, address: str) -> str:
    """Send the one email; a sentence for the editor saying how it went."""
    row = await report_by_id(svc.store, report_id, None)
    if row is None:
        return "The reader could not be told: the report is gone."
    summaries = await reader_summaries(svc.store, {row["id"]: row["quote_exact"]})
    top = summaries[row["id"]].suggestions
    mail = fixed_mail(
        lang=row["lang"], site=row["site_name"], url=row["url"], title=row["title"],
        quote=row["quote_exact"], correction=top[0][0] if top else "",
        prefix=row["quote_prefix"], suffix=row["quote_suffix"],
    )  # fmt: skip
    try:
        await send_mail(svc.settings, address, mail.subject, mail.text)
    except MailError as exc:
        log.warning("could not tell the reader of report %s: %s", report_id, exc)
        return f"The reader could not be told: {exc}"
    return "The reader who asked has been told by email."


def tell_in_background(svc: Any, addresses: dict[int, str]) -> None:
    """For bulk and keyboard actions: the editor does not wait for the mail server."""

    async def run() -> None:
        for report_id, address in addresses.items():
            await tell_reader(svc, report_id, address)

    if addresses:
        task = asyncio.create_task(run())
        _sending.add(task)
        task.add_done_callback(_sending.discard)
