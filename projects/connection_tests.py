"""Run connection tests off the request's thread, with a hard wall-clock limit.

A web worker waits for a connection test at most a few seconds, however the
target behaves. Tests run on a small pool of their own threads; when every
place is taken (servers that never answer, tried again and again), a new
test is refused at once instead of queueing behind them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

T = TypeVar("T")

WORKERS = 4
# Tests still running after their caller gave up keep their place until the
# probe's own timeouts end them.
_places = threading.BoundedSemaphore(WORKERS)
_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="plumbline-test")

BUSY = "Too many connection tests are running at once; try again in a minute."


def run_bounded(fn: Callable[..., T], *args: Any, limit: float) -> T | str:
    """Return ``fn(*args)``, or a message when it cannot finish within ``limit``."""
    if not _places.acquire(blocking=False):
        return BUSY

    def run() -> T:
        try:
            return fn(*args)
        finally:
            _places.release()

    future = _pool.submit(run)
    try:
        return future.result(timeout=limit)
    except FutureTimeout:
        return (
            f"Timed out: no complete answer within {limit:g} s. The server may be "
            "down, filtered by a firewall, or not a database of this kind."
        )
