from __future__ import annotations

import asyncio
import json
from pathlib import Path

from leaksleuth.flows.experiments import runner
from leaksleuth.flows.experiments.config import load_config
from leaksleuth.flows.experiments.runner import RunRecord, RunStore, run_experiment
from leaksleuth.model import Interval, LoadStats, Measurement
from leaksleuth.report.experiment import render_html, to_json

LEAKS = {"bus": 200_000.0, "stats": 2_000.0, "lazy": 0.0}


def config(tmp_path: Path):
    (tmp_path / "app").mkdir()
    p = tmp_path / "leaksleuth.toml"
    p.write_text(
        'project = "app"\ncommand = "node server.js"\nurl = "http://127.0.0.1:{port}/"\n'
        + "".join(f'[[toggle]]\nname = "{k}"\nenv_remove = {{ LEAKS = "{k}" }}\n' for k in LEAKS)
    )
    return load_config(p)


def measured(v: float) -> Measurement:
    return Measurement(
        verdict="leak", bytes_per_request=v, ci95=Interval(v - 100, v + 100), warmup_bytes=0.0,
        code_bytes_per_request=0.0, rss_bytes_per_request=0.0, external_bytes_per_request=0.0,
        timers_per_request=0.0, handles_per_request={}, requests=1000, errors=0, threshold=256.0, rounds=6,
        seconds=1.0, load=LoadStats(1000, 0, {"200": 1000}, 1.0, 1.0, 2.0), processes=[],
    )


def fake_runs(monkeypatch, calls: list):
    async def fake(cfg, applied, port, state, on_event):
        calls.append(applied)
        v = 300.0 + sum(x for i, x in enumerate(LEAKS.values()) if i not in applied)
        return RunRecord(cfg.run_key(applied), [], "ok", None, measured(v).to_json(), 1.0)

    monkeypatch.setattr(runner, "run_configuration", fake)


def test_an_interrupted_experiment_resumes_from_its_record(tmp_path, monkeypatch):
    cfg = config(tmp_path)
    calls: list = []
    fake_runs(monkeypatch, calls)
    first = asyncio.run(run_experiment(cfg, tmp_path / "state", jobs=2))
    assert len(calls) == len(first.records) == 2 + 3 + 1
    lines = (tmp_path / "state" / "runs.jsonl").read_text().splitlines()
    with open(tmp_path / "state" / "runs.jsonl", "a") as f:
        f.write('{"key": "torn')  # killed mid-write
    calls.clear()
    again = asyncio.run(run_experiment(cfg, tmp_path / "state", jobs=1))
    assert calls == [] and again.resumed == set(again.records)
    assert len(RunStore(tmp_path / "state" / "runs.jsonl").load()) == len(lines)
    calls.clear()
    asyncio.run(run_experiment(cfg, tmp_path / "state", fresh=True))
    assert len(calls) == 6


def test_json_ranks_toggles_and_counts_runs(tmp_path, monkeypatch):
    cfg = config(tmp_path)
    fake_runs(monkeypatch, [])
    result = asyncio.run(run_experiment(cfg, tmp_path / "state"))
    doc = json.loads(json.dumps(to_json(result)))
    assert [t["name"] for t in doc["toggles"]] == ["bus", "stats", "lazy"]
    assert doc["toggles"][0]["bytes_per_request"] == 200_000.0 and doc["toggles"][0]["status"] == "ok"
    assert doc["toggles"][0]["ci95"][0] < 200_000.0 < doc["toggles"][0]["ci95"][1]
    assert doc["toggles"][2]["culprit"] is False
    assert doc["all_on"]["bytes_per_request"] == 202_300.0 and doc["all_off"]["bytes_per_request"] == 300.0
    assert doc["runs"] == 6 and doc["interactions"] == [] and doc["design"]["all_subsets"] == 8
    assert doc["confirmation"]["switched_off"] == ["bus", "stats"]
    assert any("switch off bus" in s for s in doc["suggestions"])
    assert "<svg" in render_html(result)
