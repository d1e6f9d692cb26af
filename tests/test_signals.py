"""The in-process event hub: quick listeners are called at once, async ones in a task,
and a failing listener never reaches the announcer or the other listeners."""

from __future__ import annotations

import asyncio
import logging

from feedback.signals import REPORT_CREATED, Signals


async def test_plain_listeners_run_at_once_async_ones_in_a_task(caplog) -> None:
    signals = Signals()
    heard: list[str] = []

    def quick(payload: dict) -> None:
        heard.append(f"quick {payload['report_id']}")

    def broken(payload: dict) -> None:
        raise RuntimeError("listener bug")

    async def slow(payload: dict) -> None:
        await asyncio.sleep(0)
        heard.append(f"slow {payload['report_id']}")

    for listener in (broken, quick, slow):
        signals.connect(REPORT_CREATED, listener)
    with caplog.at_level(logging.ERROR, logger="feedback.signals"):
        signals.emit(REPORT_CREATED, {"report_id": 1})
        assert heard == ["quick 1"]  # before the announcer's next await
        await signals.drain()
    assert heard == ["quick 1", "slow 1"]
    assert "listener for report.created failed" in caplog.text

    signals.disconnect(REPORT_CREATED, slow)
    signals.disconnect(REPORT_CREATED, quick)
    signals.emit(REPORT_CREATED, {"report_id": 2})
    await signals.drain()
    assert heard == ["quick 1", "slow 1"]
