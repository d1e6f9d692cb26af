"""Email goes out over real SMTP: an aiosmtpd server on loopback takes it."""

from __future__ import annotations

import dataclasses
import socket
import ssl
import subprocess
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from starlette.datastructures import Secret

from feedback.mail import MailError, mail_configured, parse_smtp_url, send_mail
from feedback.settings import Settings, load_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps what it receives, or refuses some recipients."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


def check_password(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"desk@example.com",
        b"p@ss:word",
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with Debian's openssl."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


def start(controller: Controller) -> Iterator[Controller]:
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def plain_server(inbox: Inbox) -> Iterator[Controller]:
    yield from start(Controller(inbox, hostname="127.0.0.1", port=free_port()))


@pytest.fixture
def starttls_server(inbox: Inbox, certificate) -> Iterator[Controller]:
    yield from start(
        Controller(
            inbox,
            hostname="127.0.0.1",
            port=free_port(),
            tls_context=server_context(certificate),
            require_starttls=True,
            authenticator=check_password,
            auth_required=True,
        )
    )


@pytest.fixture
def implicit_tls_server(inbox: Inbox, certificate) -> Iterator[Controller]:
    yield from start(
        Controller(
            inbox,
            hostname="127.0.0.1",
            port=free_port(),
            ssl_context=server_context(certificate),
            authenticator=check_password,
            # aiosmtpd only counts STARTTLS as TLS, so AUTH is offered on this connection
            # (TLS from the start) only when it does not insist on STARTTLS.
            auth_require_tls=False,
        )
    )


def mail_settings(url: str) -> Settings:
    return Settings(smtp_url=Secret(url), mail_from="Feedback <feedback@example.com>")


async def test_a_message_arrives_with_plain_text_and_html(plain_server, inbox) -> None:
    settings = mail_settings(f"smtp://127.0.0.1:{plain_server.port}")
    await send_mail(
        settings,
        "editor@example.com",
        "New report\non /news/",
        "A reader wrote: <b>teh</b>",
        "<p>A reader wrote: &lt;b&gt;teh&lt;/b&gt;</p>",
    )
    assert len(inbox.messages) == 1
    sender, recipients, raw = inbox.messages[0]
    assert (sender, recipients) == ("feedback@example.com", ["editor@example.com"])
    message = message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == "New report on /news/"
    assert message["From"] == "Feedback <feedback@example.com>"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "A reader wrote: <b>teh</b>" in plain
    assert "&lt;b&gt;teh&lt;/b&gt;" in html


async def test_starttls_is_used_when_the_server_offers_it_and_credentials_work(
    starttls_server, inbox, certificate
) -> None:
    cert, _ = certificate
    url = f"smtp://desk%40example.com:p%40ss%3Aword@127.0.0.1:{starttls_server.port}?cafile={cert}"
    await send_mail(mail_settings(url), ["a@example.com", "b@example.com"], "Hi", "text")
    assert [m[1] for m in inbox.messages] == [["a@example.com", "b@example.com"]]


async def test_a_wrong_password_is_a_lasting_failure(starttls_server, certificate) -> None:
    cert, _ = certificate
    url = f"smtp://desk%40example.com:nope@127.0.0.1:{starttls_server.port}?cafile={cert}"
    with pytest.raises(MailError) as caught:
        await send_mail(mail_settings(url), "a@example.com", "Hi", "text")
    assert caught.value.code == 535
    assert not caught.value.temporary


async def test_an_untrusted_certificate_is_refused(starttls_server, inbox) -> None:
    url = f"smtp://desk%40example.com:p%40ss%3Aword@127.0.0.1:{starttls_server.port}"
    with pytest.raises(MailError) as caught:
        await send_mail(mail_settings(url), "a@example.com", "Hi", "text")
    assert caught.value.temporary
    assert inbox.messages == []


async def test_required_starttls_refuses_a_server_without_it(plain_server, inbox) -> None:
    url = f"smtp://127.0.0.1:{plain_server.port}?starttls=require"
    with pytest.raises(MailError):
        await send_mail(mail_settings(url), "a@example.com", "Hi", "text")
    assert inbox.messages == []


async def test_smtps_speaks_tls_from_the_start(implicit_tls_server, inbox, certificate) -> None:
    cert, _ = certificate
    url = f"smtps://desk%40example.com:p%40ss%3Aword@127.0.0.1:{implicit_tls_server.port}"
    await send_mail(mail_settings(f"{url}?cafile={cert}"), "a@example.com", "Hi", "body")
    assert len(inbox.messages) == 1


async def test_a_refused_recipient_is_a_lasting_failure(plain_server, inbox) -> None:
    inbox.refuse.add("gone@example.com")
    settings = mail_settings(f"smtp://127.0.0.1:{plain_server.port}")
    with pytest.raises(MailError) as caught:
        await send_mail(settings, "gone@example.com", "Hi", "text")
    assert not caught.value.temporary
    assert caught.value.code == 550


async def test_an_unreachable_server_is_worth_trying_again() -> None:
    settings = mail_settings(f"smtp://127.0.0.1:{free_port()}")
    with pytest.raises(MailError) as caught:
        await send_mail(settings, "a@example.com", "Hi", "text")
    assert caught.value.temporary


@pytest.mark.parametrize(
    "address", ["", "no-at-sign", "a@b@c.com", "x@example.com\r\nBcc: y@z.com"]
)
async def test_bad_recipients_are_refused_before_connecting(address: str) -> None:
    settings = mail_settings(f"smtp://127.0.0.1:{free_port()}")
    with pytest.raises(MailError) as caught:
        await send_mail(settings, address, "Hi", "text")
    assert not caught.value.temporary


async def test_mail_needs_both_a_server_and_a_from_address() -> None:
    assert not mail_configured(Settings())
    assert not mail_configured(Settings(smtp_url=Secret("smtp://h")))
    assert mail_configured(mail_settings("smtp://h"))
    with pytest.raises(MailError, match="FEEDBACK_SMTP_URL"):
        await send_mail(
            dataclasses.replace(mail_settings("smtp://h"), mail_from=""), "a@b.c", "", ""
        )


def test_smtp_url_forms() -> None:
    assert parse_smtp_url("smtp://mail.example.com").port == 587
    assert parse_smtp_url("smtp://mail.example.com").tls == "auto"
    implicit = parse_smtp_url("smtps://u:p@mail.example.com")
    assert (implicit.port, implicit.tls, implicit.username) == (465, "implicit", "u")
    assert parse_smtp_url("smtp://h:25?starttls=off").tls == "off"
    assert parse_smtp_url("smtp://h:25?starttls=require").tls == "starttls"
    assert "secret" not in repr(parse_smtp_url("smtp://u:secret@h"))


@pytest.mark.parametrize(
    "url",
    [
        "http://u:secret@host",
        "smtp://u:secret@:25",
        "smtp://u:secret@host:99999",
        "smtp://u:secret@host?starttls=maybe",
        "smtps://u:secret@host?starttls=off",
        "smtp://u:secret@host?tls=1",
    ],
)
def test_a_bad_smtp_url_names_the_setting_and_hides_the_password(tmp_path, url: str) -> None:
    with pytest.raises(ValueError, match="FEEDBACK_SMTP_URL") as caught:
        load_settings({"FEEDBACK_SMTP_URL": url}, env_file=str(tmp_path / "none"))
    assert "secret" not in str(caught.value)


def test_smtp_url_stays_out_of_reprs(tmp_path) -> None:
    settings = load_settings(
        {"FEEDBACK_SMTP_URL": "smtp://u:hunter2@h:25", "FEEDBACK_MAIL_FROM": "f@example.com"},
        env_file=str(tmp_path / "none"),
    )
    assert mail_configured(settings)
    assert "hunter2" not in repr(settings)
