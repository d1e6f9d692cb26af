"""Log output: one line per request and per event, as text or JSON, and repeated errors
folded into one line with a count per interval.

Nothing a reader typed and no raw client address is ever passed to a logger: request
lines carry the method, the path without its query, the status and the time taken.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORMATS = ("text", "json")
ACCESS_LOGGER = "feedback.access"
# How long a repeated warning or error stays quiet after its first line.
REPEAT_INTERVAL = 60.0

# Attributes every LogRecord has; anything else was passed with `extra=` and is a field.
_STANDARD = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(_fields(record))
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...`, tracebacks below."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        line = super().formatMessage(record)
        # A request line's message already says everything its fields do.
        extra = _fields(record) if record.name != ACCESS_LOGGER else {}
        if extra:
            line += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        return line


@dataclass
class _Seen:
    until: float
    suppressed: int = 0
    sample: logging.LogRecord | None = None


class RepeatFilter(logging.Filter):
    """Lets the first of a run of identical warnings or errors through, then only counts
    them until the interval is over. A full disk fails every request the same way: that
    is one line a minute with a count, not a traceback per request.

    Two records are the same when they come from the same logger and call (the message
    template, not its arguments) with the same exception type.
    """

    def __init__(self, interval: float = REPEAT_INTERVAL) -> None:
        super().__init__()
        self.interval = interval
        self._seen: dict[tuple[Any, ...], _Seen] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(record: logging.LogRecord) -> tuple[Any, ...]:
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        return (record.name, record.pathname, record.lineno, str(record.msg), exc)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or getattr(record, "repeated", None) is not None:
            return True
        now = record.created
        key = self._key(record)
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now < seen.until:
                seen.suppressed += 1
                seen.sample = record
                return False
            if seen is not None and seen.suppressed:
                # Say how many were left out before this one.
                record.repeated = seen.suppressed
            self._seen[key] = _Seen(until=now + self.interval)
            if len(self._seen) > 1000:  # distinct errors are few; never grow without bound
                self._forget(now)
        return True

    def _forget(self, now: float) -> None:
        for key in [k for k, s in self._seen.items() if s.until <= now and not s.suppressed]:
            del self._seen[key]

    def flush(self, now: float | None = None) -> list[logging.LogRecord]:
        """Summaries of runs whose interval is over: one record each, with the count."""
        now = time.time() if now is None else now
        out = []
        with self._lock:
            for key, seen in list(self._seen.items()):
                if seen.until > now:
                    continue
                if seen.suppressed and seen.sample is not None:
                    sample = seen.sample
                    summary = logging.LogRecord(
                        sample.name,
                        sample.levelno,
                        sample.pathname,
                        sample.lineno,
                        "%s (repeated %d times in the last %d s)",
                        (sample.getMessage(), seen.suppressed, int(self.interval)),
                        None,
                    )
                    summary.repeated = seen.suppressed
                    out.append(summary)
                del self._seen[key]
        return out


class _Handler(logging.StreamHandler):
    """The service's own handler, so configuring twice replaces it instead of adding one."""

    repeat_filter: RepeatFilter


def configure(fmt: str = "text", level: str | int = "INFO") -> _Handler:
    """Send every log record to standard error in `fmt`, once per process."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    root = logging.getLogger()
    for existing in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(existing)
    handler = _Handler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.repeat_filter = RepeatFilter()
    handler.addFilter(handler.repeat_filter)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # uvicorn's loggers keep their own handlers unless told otherwise; ours carry the format.
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Request lines come from AccessLog, which leaves out query strings and client
    # addresses; uvicorn's own would print both.
    logging.getLogger("uvicorn.access").disabled = True
    return handler


def flush_repeats() -> None:
    """Write out the counts of repeated errors whose interval is over."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _Handler):
            for record in handler.repeat_filter.flush():
                handler.handle(record)


def _own_handler() -> _Handler | None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _Handler):
            return handler
    return None


class _Clock:
    """The current second, formatted once per second rather than once per line."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def now(self) -> tuple[str, int]:
        t = time.time()
        second = int(t)
        if second != self._second:
            self._second = second
            self._text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return self._text, int((t - second) * 1000)


class AccessLog:
    """Pure ASGI middleware: one line per request once its response has been sent.

    The query string is left out (dashboard searches can hold readers' words) and so is
    the client's address. When the service's own handler is in place (`feedback serve`)
    the line is formatted here and written straight to its stream, skipping the logging
    machinery: that costs about 10 microseconds a request instead of 60 to 100. Other
    set-ups (tests, embedding) get an ordinary `feedback.access` log record.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger(ACCESS_LOGGER)
        self.clock = _Clock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0
        size = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.write(scope["method"], scope["path"][:200], status or 500, start, size)

    def write(self, method: str, path: str, status: int, start: float, size: int) -> None:
        ms = (time.perf_counter() - start) * 1000
        handler = _own_handler()
        if handler is None or handler.level > logging.INFO or self.log.disabled:
            if self.log.isEnabledFor(logging.INFO):
                self.log.info(
                    "%s %s %d %.1fms",
                    method,
                    path,
                    status,
                    ms,
                    extra={"method": method, "path": path, "status": status,
                           "ms": round(ms, 2), "bytes": size},
                )  # fmt: skip
            return
        if not self.log.isEnabledFor(logging.INFO):
            return
        second, millis = self.clock.now()
        if isinstance(handler.formatter, JsonFormatter):
            line = (
                f'{{"time": "{second}.{millis:03d}Z", "level": "info", '
                f'"logger": "{ACCESS_LOGGER}", "message": '
                f"{json.dumps(f'{method} {path} {status} {ms:.1f}ms')}, "
                f'"method": {json.dumps(method)}, "path": {json.dumps(path)}, '
                f'"status": {status}, "ms": {ms:.2f}, "bytes": {size}}}\n'
            )
        else:
            line = (
                f"{second.replace('T', ' ')},{millis:03d} INFO {ACCESS_LOGGER}: "
                f"{method} {path} {status} {ms:.1f}ms\n"
            )
        # A closed or broken log pipe must not fail requests.
        with contextlib.suppress(OSError, ValueError):
            handler.stream.write(line)
