"""Shared by the sweeps and the Monte Carlo: a Dask client for a scheduler argument, and a rich
progress bar over chunks of work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from levguard.errors import InputError

__all__ = ["Progress", "dask_client"]


def dask_client(scheduler: object) -> tuple[Any, Any]:
    """Return ``(client, cluster we own or None)``: None runs in process, ``"local"`` starts a
    two-worker ``LocalCluster``, a string is a scheduler address, a ``Client`` is used as is."""
    if scheduler is None:
        return None, None
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise InputError(f"scheduler: dask.distributed is not installed ({exc})") from exc
    if isinstance(scheduler, Client):
        return scheduler, None
    if scheduler == "local":
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
        return Client(cluster), cluster  # type: ignore[no-untyped-call]
    if isinstance(scheduler, str) and scheduler:
        try:
            return Client(scheduler, timeout="10s"), None  # type: ignore[no-untyped-call]
        except OSError as exc:
            raise InputError(f"scheduler: cannot connect to {scheduler!r} ({exc})") from exc
    raise InputError(f"scheduler must be None, 'local', an address or a dask Client, was {scheduler!r}")


class Progress:
    """A rich progress bar over ``total`` chunks (a no-op when ``on`` is false); the context
    manager yields the function that advances it by one."""

    def __init__(self, on: bool, total: int, label: str) -> None:
        self.on = on
        self.total = total
        self.label = label
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Callable[[], None]:
        if self.on:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("run", total=self.total)
        return self._advance

    def _advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
