"""Measure a target end to end: open it, run the protocol, close it (the target is left as found
or stopped, whatever happens)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from leaksleuth.errors import TargetExited, UsageError, keep_partial, partial_of
from leaksleuth.live.connect import open_target
from leaksleuth.live.load import check_local_url
from leaksleuth.live.rounds import ProgressCallback
from leaksleuth.live.route_rounds import run_measurement
from leaksleuth.model import Measurement
from leaksleuth.options import Launch, LoadSpec, ProtocolSpec, Target


def http_port(target: Target, url: str | None) -> int:
    """The port of the URL that tells when a launched target is ready (0 without a URL)."""
    if isinstance(target, Launch) and not url:
        raise UsageError("with a command, give --url so leaksleuth knows when it is ready")
    return check_local_url(url) if url else 0


async def measure_target(
    target: Target,
    load: LoadSpec,
    spec: ProtocolSpec = ProtocolSpec(),
    on_progress: ProgressCallback | None = None,
) -> Measurement:
    """Launch or attach, measure every Node process of the target, and return the result."""
    port = check_local_url(load.urls[0])
    async with open_target(target, port) as opened:
        try:
            m = await run_measurement(opened.inspected, load, spec, opened.alive, on_progress)
        except TargetExited as exc:
            if opened.log_file is None:
                raise
            partial = replace(exc.partial, log_file=opened.log_file) if isinstance(exc.partial, Measurement) else None
            raise TargetExited(f"{exc} (log: {opened.log_file})", partial) from exc
        except asyncio.CancelledError as exc:  # interrupted: the partial result names the log too
            partial = partial_of(exc)
            if isinstance(partial, Measurement) and opened.log_file is not None:
                keep_partial(exc, replace(partial, log_file=opened.log_file), overwrite=True)
            raise
        return replace(m, log_file=opened.log_file)
