"""The guardian's own thread: its cycles run off the server's loop, changes are marshalled onto
it, events come back to the server's loop, and it stops gracefully."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from levguard.errors import InputError
from levguard.service.runtime import GuardianUnavailable, Runtime, paper_demo_runtime


async def _wait(predicate: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_cycles_run_on_their_own_thread_and_loop() -> None:
    rt = paper_demo_runtime("sqlite://", interval_s=0.02)
    seen: dict[str, Any] = {}
    cycle = rt.guardian.cycle

    async def spy() -> list[dict[str, Any]]:
        seen["thread"] = threading.current_thread().name
        seen["loop"] = asyncio.get_running_loop()
        return await cycle()

    rt.guardian.cycle = spy  # type: ignore[method-assign]

    async def go() -> None:
        server_loop = asyncio.get_running_loop()
        await rt.start()
        try:
            assert rt.running
            await _wait(lambda: rt.cycles >= 3)
            assert seen["thread"] == "levguard-guardian"
            assert seen["loop"] is not server_loop
            # A change is made on the guardian's thread, and its result (or error) comes back.
            assert await rt.call(lambda: threading.current_thread().name) == "levguard-guardian"
            with pytest.raises(InputError):
                await rt.call(rt.venue("paper-btc").shock, "NOPE", 0.2, 5)
            # Events published by the guardian's thread reach a subscriber on this loop.
            q = rt.bus.subscribe()
            event = await asyncio.wait_for(q.get(), 5)
            assert event["kind"] == "cycle"
            assert event["data"][0]["account"] == "paper-btc"
        finally:
            await rt.stop()
        assert not rt.running
        # Stopped: a change runs at once on the caller's thread.
        assert await rt.call(lambda: threading.current_thread().name) == threading.current_thread().name

    asyncio.run(go())
    assert len(rt.cycle_log) == rt.cycles
    assert all(wall >= 0 for _, wall in rt.cycle_log)


def test_stop_waits_for_the_cycle_in_progress() -> None:
    rt = paper_demo_runtime("sqlite://", interval_s=0.01)
    cycle = rt.guardian.cycle
    finished: list[bool] = []

    async def slow() -> list[dict[str, Any]]:
        await asyncio.sleep(0.2)
        out = await cycle()
        finished.append(True)
        return out

    rt.guardian.cycle = slow  # type: ignore[method-assign]

    async def go() -> None:
        await rt.start()
        await asyncio.sleep(0.05)  # inside the first cycle
        await rt.stop()

    asyncio.run(go())
    assert finished  # the cycle ended before the thread did
    assert rt.cycles == len(finished)


def test_a_dead_guardian_thread_is_reported() -> None:
    rt = paper_demo_runtime("sqlite://", interval_s=0.02)

    async def go() -> None:
        await rt.start()
        await _wait(lambda: rt.cycles >= 1)
        # Something stops the guardian's loop from inside (a bug, a BaseException...).
        rt.submit(lambda: asyncio.get_running_loop().stop())
        await _wait(lambda: not rt.running)
        assert rt.error is not None
        await rt.stop()

    asyncio.run(go())


def test_a_change_the_guardian_does_not_take_in_time_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    import levguard.service.runtime as runtime_module

    monkeypatch.setattr(runtime_module, "CALL_TIMEOUT_S", 0.2)
    rt = paper_demo_runtime("sqlite://", interval_s=0.01)
    release = threading.Event()
    cycle = rt.guardian.cycle

    async def stuck() -> list[dict[str, Any]]:
        release.wait(5)  # blocks the guardian's loop (a bug: a blocking call in a cycle)
        return await cycle()

    rt.guardian.cycle = stuck  # type: ignore[method-assign]

    async def go() -> None:
        await rt.start()
        try:
            with pytest.raises(GuardianUnavailable):
                await rt.call(lambda: None)
        finally:
            release.set()
            await rt.stop()

    asyncio.run(go())


def test_runtime_of_a_file_store_runs_too(tmp_path: Any) -> None:
    rt: Runtime = paper_demo_runtime(f"sqlite:///{tmp_path / 'g.db'}", interval_s=0.02)

    async def go() -> None:
        await rt.start()
        try:
            await _wait(lambda: rt.cycles >= 3)
        finally:
            await rt.stop()

    asyncio.run(go())
    assert rt.store.audit_log(event="cycle", limit=1)
