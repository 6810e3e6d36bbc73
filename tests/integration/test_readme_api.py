"""The README's Python API script runs as written and finds the demo's bus leak."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def readme_script() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python API"):]
    match = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert match, "the README's Python API section has a python block"
    return match.group(1)


def test_the_readme_script_measures_the_demo_leak():
    out = subprocess.run([sys.executable, "-c", readme_script()], cwd=ROOT, capture_output=True, text=True,
                         timeout=180, check=False)
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert first.startswith("leak "), out.stdout
    rate = float(first.split()[1].replace(",", ""))
    assert 30_000 < rate < 60_000  # the bus leak keeps about 42 KB per request
    assert re.search(r"^server \d+ leak$", out.stdout, flags=re.MULTILINE)
