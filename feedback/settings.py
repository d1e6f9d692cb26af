"""Every setting the service reads, in one documented list.

Values come from the environment first, then a `.env` file in the working
directory, then the defaults below (starlette.config.Config's order).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.config import Config
from starlette.datastructures import Secret

from feedback.mail import parse_smtp_url


@dataclass(frozen=True)
class Setting:
    name: str
    cast: Callable[[str], Any]
    default: Any
    help: str


def _networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
    try:
        return tuple(ipaddress.ip_network(p, strict=False) for p in parts)
    except ValueError as exc:
        raise ValueError(f"FEEDBACK_TRUSTED_PROXIES: {exc}") from None


def _smtp_url(value: str) -> Secret | None:
    # Checked here so a bad address stops the service at start, not at the first email.
    if not value.strip():
        return None
    parse_smtp_url(value)
    return Secret(value.strip())


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "FEEDBACK_DATABASE",
        str,
        "./feedback.db",
        "Where reports are kept: the path of an SQLite file, or a "
        "postgresql://user:password@host:port/dbname URL for PostgreSQL.",
    ),
    Setting(
        "FEEDBACK_DATABASE_POOL",
        int,
        10,
        "PostgreSQL only: connections each process keeps open at most (one more is used for "
        "live updates). SQLite uses one writer and three readers.",
    ),
    Setting(
        "FEEDBACK_DATABASE_LISTEN_URL",
        str,
        "",
        "PostgreSQL only: where each instance LISTENs for live updates from the others, if "
        "not FEEDBACK_DATABASE. Set it to PostgreSQL itself (or a session-mode pooler) when "
        "FEEDBACK_DATABASE points at PgBouncer in transaction mode.",
    ),
    Setting(
        "FEEDBACK_SECRET_KEY",
        Secret,
        None,
        "Signs sessions, CSRF tokens and links, and salts the stored IP hashes. "
        "Required by `feedback serve`.",
    ),
    Setting(
        "FEEDBACK_PUBLIC_URL",
        str,
        "",
        "The address readers and editors reach the service at, e.g. https://feedback.example.com. "
        "Used in embed snippets and links; an https URL makes the session cookie Secure.",
    ),
    Setting(
        "FEEDBACK_TRUSTED_PROXIES",
        _networks,
        "",
        "Comma-separated IPs or CIDR ranges of reverse proxies whose X-Forwarded-For is believed. "
        "Empty: the connecting address is the client.",
    ),
    Setting(
        "FEEDBACK_MAX_BODY_BYTES",
        int,
        16384,
        "Largest accepted report body in bytes; longer bodies are cut off while reading (413).",
    ),
    Setting(
        "FEEDBACK_RATE_IP_PER_MINUTE",
        float,
        10.0,
        "Reports one client IP may send per minute, sustained (token bucket refill rate).",
    ),
    Setting(
        "FEEDBACK_RATE_IP_BURST",
        int,
        20,
        "Reports one client IP may send in a burst before the per-minute rate applies.",
    ),
    Setting(
        "FEEDBACK_RATE_SITE_PER_MINUTE",
        float,
        600.0,
        "Reports one site may receive per minute, sustained, from all readers together. "
        "Readers sending again soon after a report of theirs may not use the last half of "
        "the site's burst, which is kept for readers sending their first.",
    ),
    Setting(
        "FEEDBACK_RATE_SITE_BURST",
        int,
        300,
        "Reports one site may receive in a burst before its per-minute rate applies.",
    ),
    Setting(
        "FEEDBACK_SESSION_MAX_AGE",
        int,
        1209600,
        "Seconds a dashboard sign-in lasts before the editor must sign in again (14 days).",
    ),
    Setting(
        "FEEDBACK_LOGIN_ATTEMPTS",
        int,
        5,
        "Failed sign-ins allowed per account and per IP within 15 minutes before further "
        "attempts are refused for a while.",
    ),
    Setting(
        "FEEDBACK_SPAM_BLOCK_HOURS",
        float,
        24.0,
        "When an editor marks a report as spam and asks to block the sender, how many hours "
        "further reports from the same client are held back.",
    ),
    Setting(
        "FEEDBACK_SMTP_URL",
        _smtp_url,
        None,
        "Mail server for email notifications: smtp://user:pass@host:587 (STARTTLS when the "
        "server offers it; ?starttls=require insists) or smtps://user:pass@host:465 "
        "(implicit TLS); ?cafile=PATH trusts a private CA. Empty: no email is sent.",
    ),
    Setting(
        "FEEDBACK_MAIL_FROM",
        str,
        "",
        "From address of the email the service sends, e.g. Feedback <feedback@example.com>. "
        "Email is sent only when this and FEEDBACK_SMTP_URL are both set.",
    ),
    Setting(
        "FEEDBACK_SMTP_TIMEOUT",
        float,
        30.0,
        "Seconds to wait for the mail server to connect or answer before giving up "
        "(the message is tried again later).",
    ),
    Setting(
        "FEEDBACK_ALLOW_PRIVATE_TARGETS",
        _bool,
        False,
        "1 lets webhooks and other outgoing requests reach loopback, private and link-local "
        "addresses (intranets, tests). Off: such targets are refused when saved and when sent.",
    ),
    Setting(
        "FEEDBACK_CHECKER",
        _bool,
        True,
        "1 runs the page checker: it fetches each open report's page (from the site's "
        "registered origins only) to see whether the quote is still there. 0 turns it off.",
    ),
    Setting(
        "FEEDBACK_CHECK_EVERY",
        float,
        21600.0,
        "Seconds between two checks of the same open report's page (6 hours). A new report "
        "is checked within FEEDBACK_CHECK_POLL seconds of arriving.",
    ),
    Setting(
        "FEEDBACK_CHECK_POLL",
        float,
        30.0,
        "Seconds the checker waits for new work when nothing is due; a new report wakes it.",
    ),
    Setting(
        "FEEDBACK_CHECK_HOST_INTERVAL",
        float,
        5.0,
        "Least number of seconds between two page fetches from the same host.",
    ),
    Setting(
        "FEEDBACK_CHECK_TIMEOUT",
        float,
        10.0,
        "Seconds a page fetch may take, all told, before the page counts as unreachable.",
    ),
    Setting(
        "FEEDBACK_CHECK_MAX_BYTES",
        int,
        2_000_000,
        "Largest part of a page the checker reads; the rest is not downloaded.",
    ),
    Setting(
        "FEEDBACK_DICTIONARY_DIR",
        str,
        "/usr/share/hunspell",
        "Folder of hunspell dictionaries (LANG.dic and LANG.aff, as Debian's hunspell-* "
        "packages install them) for the service's own spelling suggestions.",
    ),
)


def _log_format(value: str) -> str:
    value = value.strip().lower()
    if value not in ("text", "json"):
        raise ValueError(f"must be text or json, not {value!r}")
    return value


def _log_level(value: str) -> str:
    value = value.strip().upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError(f"must be debug, info, warning or error, not {value!r}")
    return value


SETTINGS += (
    Setting(
        "FEEDBACK_LOG_FORMAT",
        _log_format,
        "text",
        "Log lines on standard error as `text` or `json` (one object per line).",
    ),
    Setting(
        "FEEDBACK_LOG_LEVEL",
        _log_level,
        "INFO",
        "Least severe log level written: debug, info, warning or error.",
    ),
    Setting(
        "FEEDBACK_ACCESS_LOG",
        _bool,
        True,
        "Write one line per request (method, path, status, time). Off: only events and errors.",
    ),
    Setting(
        "FEEDBACK_RATE_PREFIX_PER_MINUTE",
        float,
        60.0,
        "Reports all addresses of one network (/24 for IPv4, /48 for IPv6) may send per "
        "minute together, sustained.",
    ),
    Setting(
        "FEEDBACK_RATE_PREFIX_BURST",
        int,
        60,
        "Reports all addresses of one network (/24, /48) may send together in a burst.",
    ),
    Setting(
        "FEEDBACK_PURGE_AFTER_DAYS",
        float,
        0.0,
        "Delete closed reports (with everything readers sent for them) this many days "
        "after they were closed, checked every few hours. 0: keep them until `feedback purge`.",
    ),
    Setting(
        "FEEDBACK_METRICS_TOKEN",
        Secret,
        None,
        "Bearer token for GET /metrics. Unset: /metrics answers only requests from this "
        "machine that did not come through a proxy.",
    ),
    Setting(
        "FEEDBACK_TELEGRAM_API",
        str,
        "https://api.telegram.org",
        "Base address of the Telegram Bot API that telegram destinations post to.",
    ),
    Setting(
        "FEEDBACK_DELIVERY_ATTEMPTS",
        int,
        14,
        "Attempts at delivering one message before it is marked failed; with the default "
        "backoff, 14 attempts span about a day.",
    ),
    Setting(
        "FEEDBACK_DELIVERY_BACKOFF",
        float,
        30.0,
        "Seconds before the first retry of a failed delivery; each further retry waits about "
        "twice as long (with jitter), at most 4 hours.",
    ),
    Setting(
        "FEEDBACK_NOTIFY_HOURLY_CAP",
        int,
        30,
        "Messages one destination gets per hour before it switches to an hourly digest for "
        "the rest of the hour (and says so).",
    ),
)

SETTING_NAMES = tuple(s.name for s in SETTINGS)


@dataclass(frozen=True)
class Settings:
    database: str = "./feedback.db"
    database_pool: int = 10
    database_listen_url: str = ""
    secret_key: Secret | None = None
    public_url: str = ""
    trusted_proxies: tuple[Any, ...] = ()
    max_body_bytes: int = 16384
    rate_ip_per_minute: float = 10.0
    rate_ip_burst: int = 20
    rate_site_per_minute: float = 600.0
    rate_site_burst: int = 300
    session_max_age: int = 1209600
    login_attempts: int = 5
    spam_block_hours: float = 24.0
    smtp_url: Secret | None = None
    mail_from: str = ""
    smtp_timeout: float = 30.0
    allow_private_targets: bool = False
    checker: bool = True
    check_every: float = 21600.0
    check_poll: float = 30.0
    check_host_interval: float = 5.0
    check_timeout: float = 10.0
    check_max_bytes: int = 2_000_000
    dictionary_dir: str = "/usr/share/hunspell"
    log_format: str = "text"
    log_level: str = "INFO"
    access_log: bool = True
    metrics_token: Secret | None = None
    purge_after_days: float = 0.0
    rate_prefix_per_minute: float = 60.0
    rate_prefix_burst: int = 60
    telegram_api: str = "https://api.telegram.org"
    delivery_attempts: int = 14
    delivery_backoff: float = 30.0
    notify_hourly_cap: int = 30

    @property
    def secret(self) -> str:
        if self.secret_key is None or not str(self.secret_key):
            raise MissingSecret()
        return str(self.secret_key)

    @property
    def https(self) -> bool:
        return self.public_url.lower().startswith("https://")


class MissingSecret(RuntimeError):
    def __str__(self) -> str:
        return (
            "FEEDBACK_SECRET_KEY is not set. Make one with\n"
            "    python -c 'import secrets; print(secrets.token_urlsafe(32))'\n"
            "and put it in the environment or in .env as FEEDBACK_SECRET_KEY=..."
        )


def load_settings(environ: Mapping[str, str] | None = None, env_file: str = ".env") -> Settings:
    """Read every setting: environment, then .env, then defaults."""
    env = os.environ if environ is None else environ
    # Config warns about a missing env file; a missing .env is normal, not a problem.
    config = Config(env_file if os.path.isfile(env_file) else None, environ=env)
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        attr = setting.name.removeprefix("FEEDBACK_").lower()
        # Cast here rather than through Config, whose errors quote the value: a secret
        # such as a mail password must not end up in a start-up error.
        default = None if setting.default is None else str(setting.default)
        raw = config(setting.name, default=default)
        if raw is None:
            values[attr] = None
            continue
        try:
            values[attr] = setting.cast(raw)
        except ValueError as exc:
            raise ValueError(f"{setting.name}: {exc}") from None
    return Settings(**values)
