"""SIGTERM/SIGHUP handling of the CLI (in-process, real signals to ourselves), and the small
parsers behind attach and exit causes."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from leaksleuth.cli import signals
from leaksleuth.errors import Interrupted, keep_partial
from leaksleuth.live.attach import inspect_ports
from leaksleuth.live.launch import describe_announced_exit, describe_exit


def test_sigterm_cancels_the_running_coroutine_and_every_cleanup_runs():
    cleaned: list[str] = []

    async def work() -> None:
        try:
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                await asyncio.sleep(30)
            finally:
                await asyncio.sleep(0)  # a clean-up that awaits still runs to its end
                cleaned.append("inner")
        except asyncio.CancelledError as exc:
            keep_partial(exc, "rounds so far")
            raise
        finally:
            cleaned.append("outer")

    before = signal.getsignal(signal.SIGTERM)
    with signals.handled(), pytest.raises(Interrupted) as caught:
        signals.run(work())
    assert caught.value.signum == signal.SIGTERM and caught.value.partial == "rounds so far"
    assert cleaned == ["inner", "outer"]
    assert signal.getsignal(signal.SIGTERM) is before  # the old handler is back


def test_a_second_signal_does_not_cut_the_cleanup_short():
    cleaned: list[str] = []

    async def work() -> None:
        try:
            os.kill(os.getpid(), signal.SIGHUP)
            await asyncio.sleep(30)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # e.g. `timeout` sending again
            await asyncio.sleep(0.05)
            cleaned.append("done")

    with signals.handled(), pytest.raises(Interrupted) as caught:
        signals.run(work())
    assert caught.value.signum == signal.SIGHUP and cleaned == ["done"]


def test_sigterm_outside_a_coroutine_raises_at_once():
    with signals.handled(), pytest.raises(Interrupted) as caught:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs at the next bytecode boundary
        for _ in range(1000):
            pass
    assert caught.value.signum == signal.SIGTERM


def test_cli_main_exits_128_plus_the_signal_with_one_line(capsys, monkeypatch):
    from leaksleuth import cli

    def stopped(**kw: object) -> int:
        raise Interrupted(signal.SIGHUP)

    monkeypatch.setattr(cli, "command_names", lambda: ["boom"])
    monkeypatch.setattr(cli, "command_named", lambda name: _command(stopped) if name == "boom" else None)
    assert cli.main(["boom"]) == 129
    err = capsys.readouterr().err
    assert [x for x in err.splitlines() if x.strip()] == ["leaksleuth: interrupted by SIGHUP"]


def _command(fn):  # type: ignore[no-untyped-def]
    import click

    return click.command("boom")(fn)


def test_inspect_ports_of_a_command_line():
    assert inspect_ports(["node", "--inspect", "app.js"]) == [9229]
    assert inspect_ports(["node", "--inspect=127.0.0.1:9331", "app.js"]) == [9331]
    assert inspect_ports(["node", "--inspect-brk=0.0.0.0", "app.js"]) == [9229]
    assert inspect_ports(["node", "--inspect-port=9400", "w.js"]) == [9400]
    assert inspect_ports(["node", "--inspect-port", "9401", "w.js"]) == [9401]
    assert inspect_ports(["node", "--inspect=127.0.0.1:0", "app.js"]) == []  # random: cannot be told
    assert inspect_ports(["node", "--inspect-publish-uid=http", "app.js"]) == []
    assert inspect_ports(["node", "app.js", "--port=3000"]) == []


def test_exit_causes_read_the_same_for_the_root_and_for_a_recorded_child():
    assert describe_exit(-9) == describe_announced_exit({"code": None, "signal": "SIGKILL"})
    assert "out of memory" in describe_exit(-9)
    assert describe_announced_exit({"code": 3, "signal": None}) == "exited with code 3"
    assert describe_announced_exit({}) is None
