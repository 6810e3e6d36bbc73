"""`leaksleuth rules`: Prometheus alerting rules with the same maths as `watch` and `fleet`."""

from __future__ import annotations

from pathlib import Path

import click

from leaksleuth import api
from leaksleuth.errors import UsageError
from leaksleuth.options import RulesSpec


@click.command()
@click.option("--selector", default="", help="PromQL label matchers of the service's series, e.g. 'job=\"ssr\"'.")
@click.option("--trough-window", default="5m", show_default=True, help="Lower-envelope window (longer than a GC cycle).")
@click.option("--range", "trend_range", default="1h", show_default=True, help="Range the trend is fitted over.")
@click.option("--for", "alert_for", default="15m", show_default=True, help="How long the condition must hold.")
@click.option("--interval", "eval_interval", default=None, help="The rule group's evaluation interval.")
@click.option("--threshold", default=256.0, show_default=True, help="Bytes/request that count as a leak.")
@click.option("--rate-threshold", default=1024.0, show_default=True,
              help="Bytes/second, for series without a request counter.")
@click.option("--request-metric", default="http_requests_total", show_default=True)
@click.option("--oom-horizon", default="4h", show_default=True, help="Alert when the memory limit is this close.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Write here (default: stdout).")
def rules_command(selector: str, trough_window: str, trend_range: str, alert_for: str, eval_interval: str | None,
                  threshold: float, rate_threshold: float, request_metric: str, oom_horizon: str,
                  output: Path | None) -> int:
    """Write Prometheus alerting rules: post-GC trough trend and time to the memory limit."""
    text = api.alerting_rules(RulesSpec(
        selector=selector, trough_window=trough_window, trend_range=trend_range, alert_for=alert_for,
        eval_interval=eval_interval, threshold=threshold, rate_threshold=rate_threshold,
        request_metric=request_metric, oom_horizon=oom_horizon,
    ))
    if output is None:
        click.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror}") from exc
    return 0


rules_command.name = "rules"
commands = [rules_command]
