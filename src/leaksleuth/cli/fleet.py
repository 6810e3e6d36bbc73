"""`leaksleuth fleet`: every pod of a service from a Prometheus-compatible server: post-GC
trend, bytes per request, time to OOM, restarts and OOM kills, per pod and per version."""

from __future__ import annotations

from pathlib import Path

import click

from leaksleuth import api
from leaksleuth.cli.options import EXIT_BY_VERDICT
from leaksleuth.jsonio import write_json
from leaksleuth.options import FleetSpec
from leaksleuth.report.fleet import fleet_doc, render_fleet, write_fleet_html
from leaksleuth.report.rules import seconds
from leaksleuth.report.terminal import make_console


@click.command()
@click.option("--prometheus", required=True, help="Base URL of a Prometheus-compatible server (its HTTP API).")
@click.option("--selector", default="", help="PromQL label matchers of the service's series, e.g. 'job=\"ssr\"'.")
@click.option("--since", default="6h", show_default=True, help="History to judge (30m, 6h, 2d).")
@click.option("--step", default=None, help="Trough window, computed server-side (default: since/120, ≥ 1s).")
@click.option("--request-metric", default=None, help="Request counter (default: http_requests_total if it exists).")
@click.option("--version-label", default="version", show_default=True, help="Label that names the version.")
@click.option("--pod-labels", default="namespace,pod,container", show_default=True,
              help="Labels that name a pod (else `instance`).")
@click.option("--threshold", default=256.0, show_default=True, help="Bytes/request that count as a leak.")
@click.option("--rate-threshold", default=1024.0, show_default=True,
              help="Bytes/second that count as a leak, for pods without a request counter.")
@click.option("--top", default=50, show_default=True, help="Pods analysed: the worst by the server-side trend.")
@click.option("--json", "json_file", type=click.Path(path_type=Path), default=None, help="Write the result as JSON.")
@click.option("--html", "html_file", type=click.Path(path_type=Path), default=None, help="Write a one-page report.")
def fleet_command(prometheus: str, selector: str, since: str, step: str | None, request_metric: str | None,
                  version_label: str, pod_labels: str, threshold: float, rate_threshold: float, top: int,
                  json_file: Path | None, html_file: Path | None) -> int:
    """Judge every pod of a service from Prometheus: which pods and which version leak."""
    spec = FleetSpec(
        prometheus=prometheus, selector=selector, since=seconds(since), step=seconds(step) if step else 0.0,
        request_metric=request_metric, version_label=version_label,
        pod_labels=tuple(x.strip() for x in pod_labels.split(",") if x.strip()),
        threshold=threshold, rate_threshold=rate_threshold, top=top,
    )
    result = api.fleet(spec)
    render_fleet(make_console(), result)
    write_json(json_file, fleet_doc(result))
    if html_file is not None:
        write_fleet_html(html_file, result)
    return EXIT_BY_VERDICT[result.verdict]


fleet_command.name = "fleet"
commands = [fleet_command]
