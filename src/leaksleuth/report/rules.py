"""`leaksleuth rules`: Prometheus alerting rules (the rule-file format `promtool check rules`
reads) whose expressions follow the same maths as `watch` and `fleet`, as far as PromQL goes:

- what survives: heap used minus code space and the young generation, recorded as
  `leaksleuth:heap_old_bytes`, and its post-GC trough, the lowest reading over a window longer
  than a GC cycle (`min_over_time`), recorded as `leaksleuth:heap_trough_bytes`;
- collections seen: `resets()` counts the drops of the old generation over the range; at least
  6, as `watch` and `fleet` require before calling a leak;
- its trend over the range (`deriv`: least squares, PromQL has no Theil–Sen), per request when
  the request counter exists, else per second, against the same thresholds;
- a trend test PromQL can do in place of Mann–Kendall: the median trough of the last third of
  the range above the median of the first third (a sign test on medians, robust to one odd
  window), and `for:` so one noisy evaluation fires nothing;
- time to OOM: `predict_linear` of the container's working-set trough against its memory limit
  (cAdvisor and kube-state-metrics names).
"""

from __future__ import annotations

import re

from leaksleuth.errors import UsageError
from leaksleuth.options import RulesSpec
from leaksleuth.units import fmt_bytes

DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w|y)$")
MIN_COLLECTIONS = 6  # drops of the old generation before a leak is called (stats.trough's)
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(text: str) -> float:
    """A Prometheus duration (one unit: 30s, 5m, 1h) in seconds."""
    m = DURATION.match(text.strip())
    if not m:
        raise UsageError(f"bad duration {text!r}: use a number and one unit, e.g. 30s, 5m, 1h")
    return int(m.group(1)) * UNIT_SECONDS[m.group(2)]


def duration(secs: float) -> str:
    whole = round(secs)
    for unit in ("d", "h", "m"):
        if whole % UNIT_SECONDS[unit] == 0 and whole >= UNIT_SECONDS[unit]:
            return f"{whole // int(UNIT_SECONDS[unit])}{unit}"
    return f"{max(1, whole)}s"


def _sel(selector: str, *more: str) -> str:
    inner = selector.strip().removeprefix("{").removesuffix("}").strip()
    return "{" + ", ".join(p for p in (inner, *more) if p) + "}"


def _block(key: str, text: str, indent: int) -> list[str]:
    pad = " " * indent
    return [f"{pad}{key}: |-", *(f"{pad}  {line}" for line in text.strip().splitlines())]


def rule_file(spec: RulesSpec) -> str:
    """The rule file, as YAML text."""
    w, r, f, h = (duration(seconds(x)) for x in (spec.trough_window, spec.trend_range, spec.alert_for, spec.oom_horizon))
    third = duration(seconds(r) / 3)
    two_thirds = duration(2 * seconds(r) / 3)
    if seconds(r) < 4 * seconds(w):
        raise UsageError(f"the trend range {r} must hold at least 4 trough windows of {w}")
    key = ", ".join(spec.pod_labels)
    sel = _sel(spec.selector)
    spaces = _sel(spec.selector, 'space=~"code.*|new.*"')
    old = (
        f"nodejs_heap_size_used_bytes{sel}\n"
        f"  - (sum without (space) (nodejs_heap_space_size_used_bytes{spaces}) or 0 * nodejs_heap_size_used_bytes{sel})"
    )
    trough = f"min_over_time(leaksleuth:heap_old_bytes[{w}])"
    requests = f"sum by ({key}) (rate({spec.request_metric}{sel}[{r}]))"
    def grows(over: str) -> str:
        """The troughs' slope over `over`, per request where the counter exists, above threshold."""
        growth = f"deriv(leaksleuth:heap_trough_bytes[{over}])"
        return (
            "(\n"
            f"  ({growth} / on ({key}) group_left leaksleuth:requests_per_second > {spec.threshold:g})\n"
            f"  or\n"
            f"  ({growth} > {spec.rate_threshold:g} unless on ({key}) leaksleuth:requests_per_second)\n"
            ")"
        )

    sign_test = (
        f"quantile_over_time(0.5, leaksleuth:heap_trough_bytes[{third}])\n"
        f"  > quantile_over_time(0.5, leaksleuth:heap_trough_bytes[{third}] offset {two_thirds})"
    )
    # growth over the whole range and still over its last third: a warm-up that levels off (the
    # growth analysis's linearity check, as far as PromQL goes) is not a leak
    leak = (
        f"{grows(r)}\n"
        f"and\n"
        f"{grows(third)}\n"
        f"and\n"
        f"({sign_test})\n"
        f"and\n"
        f"resets(leaksleuth:heap_old_bytes[{r}]) >= {MIN_COLLECTIONS}"
    )
    working_set = (
        f"sum by (namespace, pod, container) (min_over_time(container_memory_working_set_bytes{{container!=\"\"}}[{w}]))\n"
        f"  and on (namespace, pod) leaksleuth:heap_trough_bytes"
    )
    oom = (
        f"predict_linear(leaksleuth:working_set_trough_bytes[{r}], {seconds(h):g})\n"
        f"  > on (namespace, pod, container)\n"
        f"    max by (namespace, pod, container) (kube_pod_container_resource_limits{{resource=\"memory\"}})"
    )
    lines = [
        "# Prometheus alerting rules written by `leaksleuth rules`: post-GC heap troughs, their trend",
        f"# (per request over {spec.request_metric} when it exists) and the time to the container's memory limit.",
        f"# Trough window {w}, trend range {r}, threshold {fmt_bytes(spec.threshold)}/request"
        f" or {fmt_bytes(spec.rate_threshold)}/s.",
        "groups:",
        "  - name: leaksleuth-node-memory",
    ]
    if spec.eval_interval:
        lines.append(f"    interval: {duration(seconds(spec.eval_interval))}")
    lines.append("    rules:")
    lines += ["      - record: leaksleuth:heap_old_bytes", *_block("expr", old, 8)]
    lines += ["      - record: leaksleuth:heap_trough_bytes", *_block("expr", trough, 8)]
    lines += ["      - record: leaksleuth:requests_per_second", *_block("expr", requests, 8)]
    lines += ["      - record: leaksleuth:working_set_trough_bytes", *_block("expr", working_set, 8)]
    lines += [
        "      - alert: NodeHeapLeak",
        *_block("expr", leak, 8),
        f"        for: {f}",
        "        labels:",
        "          severity: warning",
        "        annotations:",
        '          summary: "Node.js heap leak: post-GC troughs keep growing"',
        "          description: >-",
        f"            The post-GC heap of {{{{ $labels.instance }}}} {{{{ $labels.pod }}}} grows {{{{ $value | humanize }}}}B"
        f" per request (or per second without a request counter) over {r}, and its median trough rose.",
        "      - alert: NodeMemoryOOMPredicted",
        *_block("expr", oom, 8),
        f"        for: {f}",
        "        labels:",
        "          severity: critical",
        "        annotations:",
        f'          summary: "Container memory limit reached within {h} at the working-set trend"',
        "          description: >-",
        "            {{ $labels.namespace }}/{{ $labels.pod }}/{{ $labels.container }}: the working-set trough"
        f" is on course to pass the memory limit within {h}; it will be OOM-killed.",
    ]
    return "\n".join(lines) + "\n"
