"""SIGTERM and SIGHUP handled like Ctrl-C: every clean-up runs, then the CLI exits 128 + n.

`timeout`, systemd, Kubernetes and CI runners stop a program with SIGTERM; a closed terminal
sends SIGHUP. Python's default for both is to die on the spot: no `finally`, no `async with`
exit, so launched targets, open inspectors and snapshot files would stay behind.

While `run` drives a command's coroutine, a termination signal cancels that coroutine's task
(as asyncio does for Ctrl-C): the cancellation unwinds every `async with` and `finally` at an
await — targets stopped, inspectors closed, temp folders and `.part` files removed — and `run`
raises `Interrupted` after, carrying what was measured so far. Outside a coroutine (parsing,
rendering, offline analysis) the signal raises `Interrupted` at once. A second termination
signal is ignored while the clean-up runs (a SIGKILL is what the watchdogs are for).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Coroutine, Iterator
from types import FrameType
from typing import Any, TypeVar

from leaksleuth.errors import Interrupted, partial_of

T = TypeVar("T")
TERMINATING = (signal.SIGTERM, signal.SIGHUP)


class _State:
    received: int | None = None  # the first termination signal
    task: asyncio.Task[Any] | None = None  # the coroutine `run` drives, while it runs


_state = _State()


def received() -> int | None:
    """The termination signal received since `handled()` began, if any."""
    return _state.received


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _state.received is not None:
        return  # already stopping: let the clean-up finish
    _state.received = signum
    task = _state.task
    if task is not None and not task.done():
        # cancel from the loop, between two steps, never in the middle of one
        task.get_loop().call_soon_threadsafe(task.cancel)
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no event loop: nothing of ours runs that an exception would cut short
        raise Interrupted(signum) from None
    # a loop not driven by `run`: stop it between two callbacks; asyncio.run then cancels every
    # task, so their clean-ups still run
    loop.call_soon_threadsafe(_raise, signum)


def _raise(signum: int) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the CLI like Ctrl-C while this lasts; the old handlers after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state.received = None
    previous = {s: signal.getsignal(s) for s in TERMINATING}
    for s in TERMINATING:
        signal.signal(s, _on_signal)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, stopped cleanly by SIGINT, SIGTERM or SIGHUP: `Interrupted` then."""
    partial: list[Any] = []

    async def guarded() -> T:
        _state.task = asyncio.current_task()
        try:
            return await main
        except asyncio.CancelledError as exc:
            partial.append(partial_of(exc))
            raise
        finally:
            _state.task = None

    try:
        return asyncio.run(guarded())
    except asyncio.CancelledError:
        if _state.received is None:
            raise
        raise Interrupted(_state.received, partial[0] if partial else None) from None
    except KeyboardInterrupt as exc:  # Ctrl-C: asyncio cancelled the task, then raised this
        signum = exc.signum if isinstance(exc, Interrupted) else (_state.received or signal.SIGINT)
        raise Interrupted(signum, partial[0] if partial else None) from None
    finally:
        main.close()  # never started (a signal came first): no "never awaited" warning
