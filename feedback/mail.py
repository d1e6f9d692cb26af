"""Sending email: one multipart (plain text + HTML) message over SMTP, from settings.

`FEEDBACK_SMTP_URL` names the server:

- `smtp://user:pass@host:587` talks plain SMTP and upgrades with STARTTLS whenever the
  server offers it; `?starttls=require` refuses a server that does not, `?starttls=off`
  never upgrades (a relay on the same machine).
- `smtps://user:pass@host:465` uses TLS from the first byte (implicit TLS).
- `?cafile=/path/ca.pem` trusts a private certificate authority (an intranet relay).

User name and password are percent-decoded, so `%40` stands for `@`.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

if TYPE_CHECKING:  # settings imports this module to check FEEDBACK_SMTP_URL
    from feedback.settings import Settings

TlsMode = Literal["implicit", "starttls", "auto", "off"]
_STARTTLS = {"auto": "auto", "require": "starttls", "required": "starttls", "off": "off"}


class MailError(Exception):
    """A message could not be handed to the SMTP server.

    `temporary` says whether trying again later may help (connection trouble, a 4xx
    reply) or not (a 5xx reply such as an unknown recipient).
    """

    def __init__(self, message: str, *, temporary: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.temporary = temporary
        self.code = code


class MailNotConfigured(MailError):
    def __init__(self) -> None:
        super().__init__(
            "email is not configured: set FEEDBACK_SMTP_URL and FEEDBACK_MAIL_FROM",
            temporary=False,
        )


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: TlsMode
    cafile: str | None

    def __repr__(self) -> str:  # never show the password
        return f"SmtpServer({self.host}:{self.port}, tls={self.tls}, user={self.username!r})"


def parse_smtp_url(url: str) -> SmtpServer:
    """Read an smtp:// or smtps:// address; ValueError (without the password) if it is bad."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in {"smtp", "smtps"}:
        raise ValueError("must start with smtp:// or smtps://")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port is not a number between 1 and 65535") from None
    if not parts.hostname:
        raise ValueError("names no host")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(query) - {"starttls", "cafile"}
    if unknown:
        raise ValueError(f"unknown option {sorted(unknown)[0]!r} (known: starttls, cafile)")
    tls: TlsMode
    if scheme == "smtps":
        if "starttls" in query:
            raise ValueError("starttls does not apply to smtps://, which is TLS from the start")
        tls = "implicit"
    else:
        choice = query.get("starttls", "auto").lower()
        if choice not in _STARTTLS:
            raise ValueError("starttls must be auto, require or off")
        tls = _STARTTLS[choice]  # type: ignore[assignment]
    return SmtpServer(
        host=parts.hostname,
        port=port or (465 if scheme == "smtps" else 587),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=tls,
        cafile=query.get("cafile") or None,
    )


def mail_configured(settings: Settings) -> bool:
    """Whether this installation can send email at all."""
    return bool(settings.smtp_url and str(settings.smtp_url) and settings.mail_from)


def build_message(
    settings: Settings, to: str | list[str], subject: str, text: str, html: str | None = None
) -> EmailMessage:
    """A plain-text message, with an HTML alternative when `html` is given.

    The HTML is used as given: callers render it through autoescaping templates.
    """
    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients:
        raise MailError("no recipient", temporary=False)
    for address in recipients:
        check_address(address)
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = ", ".join(recipients)
    # Header injection is impossible through EmailMessage, but a subject is one line.
    message["Subject"] = " ".join(subject.split())
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=_domain(settings.mail_from))
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


async def send_mail(
    settings: Settings, to: str | list[str], subject: str, text: str, html: str | None = None
) -> None:
    """Send one message; raises MailError (with `.temporary`) if the server did not take it."""
    if not mail_configured(settings):
        raise MailNotConfigured()
    message = build_message(settings, to, subject, text, html)
    server = parse_smtp_url(str(settings.smtp_url))
    context = ssl.create_default_context(cafile=server.cafile) if server.tls != "off" else None
    try:
        await aiosmtplib.send(
            message,
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.tls == "implicit",
            # None: upgrade when the server offers STARTTLS; True: insist; False: never.
            start_tls={"auto": None, "starttls": True, "off": False, "implicit": False}[server.tls],
            tls_context=context,
            timeout=settings.smtp_timeout,
        )
    except aiosmtplib.SMTPResponseException as exc:
        raise MailError(
            f"{server.host} answered {exc.code} {exc.message}",
            temporary=400 <= exc.code < 500,
            code=exc.code,
        ) from None
    except aiosmtplib.SMTPRecipientsRefused as exc:
        first = exc.recipients[0] if exc.recipients else None
        code = first.code if first is not None else None
        raise MailError(
            f"{server.host} refused the recipient: {first}",
            temporary=code is not None and 400 <= code < 500,
            code=code,
        ) from None
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise MailError(f"{server.host}:{server.port}: {exc}", temporary=True) from None


def check_address(address: str) -> None:
    """MailError unless `address` is one plain email address."""
    if any(c in address for c in "\r\n,<>") or address.count("@") != 1:
        raise MailError(f"not an email address: {address!r}", temporary=False)
    local, _, domain = address.partition("@")
    try:
        Address(username=local, domain=domain)
    except (ValueError, IndexError):
        raise MailError(f"not an email address: {address!r}", temporary=False) from None
    if not local or "." not in domain.strip("."):
        raise MailError(f"not an email address: {address!r}", temporary=False)


def _domain(from_address: str) -> str:
    return from_address.rpartition("@")[2].strip(" >") or "localhost"
