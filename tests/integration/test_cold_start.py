"""No cold start: a wheel built from this tree carries the compiled heap kernels, and the first
`analyze` after installing it compiles nothing (numba's JIT costs ~4 s otherwise)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "tests" / "fixtures" / "memlab" / "small.heapsnapshot.gz"
pytestmark = pytest.mark.integration

# runs the CLI, then reports which kernels this process compiled instead of loading them
CHECK = """
import importlib.util, json, os, sys, tempfile
if len(sys.argv) > 1 and sys.argv[1] == "--read-only-package":  # as a root-owned site-packages
    sys.argv.pop(1)
    shipped = os.path.join(importlib.util.find_spec("leaksleuth").submodule_search_locations[0], "heap", "_jitcache")
    real = tempfile.TemporaryFile
    def refuse(*args, **kw):
        if os.path.realpath(str(kw.get("dir"))) == os.path.realpath(shipped):
            raise PermissionError(13, "Permission denied")
        return real(*args, **kw)
    tempfile.TemporaryFile = refuse
from leaksleuth.heap import jit
from leaksleuth.cli import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "compiled": jit.compiled_now(), "folder": str(jit.cache_folder()),
                  "package": str(jit.PACKAGE)}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with leaksleuth installed from a wheel of this tree (its dependencies come
    from the test venv through a .pth line, not from the network)."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"  # a clean copy: no _jitcache or __pycache__ of the dev tree in the wheel
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", "node_modules", "bench", "tests", "demo", ".git", "_jitcache", "__pycache__", "build", "*.egg-info"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(src)],
                           capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stderr
    wheel = next((work / "dist").glob("leaksleuth-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    (purelib / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return python


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """A real Node snapshot (the memlab fixture), inflated."""
    path = tmp_path / "small.heapsnapshot"
    path.write_bytes(gzip.decompress(SMALL.read_bytes()))
    return path


def _series(folder: Path) -> list[str]:
    from leaksleuth.heap.warmup import leaking_heap

    paths = []
    for k, n in enumerate((0, 25, 50)):  # not the sizes the cache was built from
        p = folder / f"s{k}.heapsnapshot"
        p.write_text(json.dumps(leaking_heap(n, base=150)))
        paths.append(str(p))
    return paths


def _run(python: Path, args: list[str], tmp: Path, **env: str) -> dict[str, object]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "LEAKSLEUTH_"))}
    environ.update(XDG_CACHE_HOME=str(tmp / "xdg"), **env)
    out = subprocess.run([str(python), "-c", CHECK, *args], cwd=tmp, env=environ, capture_output=True, text=True,
                         timeout=300, check=False)
    assert out.stdout.strip(), out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_the_first_run_after_pip_install_compiles_nothing(installed: Path, tmp_path: Path, small: Path) -> None:
    first = _run(installed, ["analyze", str(small), "--top", "3"], tmp_path)
    assert first["rc"] == 0
    assert str(first["package"]).startswith(str(installed.parents[1]))  # the wheel's copy, not src/
    assert first["compiled"] == {}, "the wheel's kernel cache was not used"
    assert str(first["folder"]).endswith("leaksleuth/heap/_jitcache")
    series = _run(installed, ["analyze", *_series(tmp_path), "--requests", "0,25,50"], tmp_path)
    assert series["rc"] in (0, 1) and series["compiled"] == {}


def test_a_read_only_install_uses_a_copy_in_the_user_cache(installed: Path, tmp_path: Path, small: Path) -> None:
    result = _run(installed, ["--read-only-package", "analyze", str(small), "--top", "3"], tmp_path)
    assert result["rc"] == 0 and result["compiled"] == {}
    assert str(result["folder"]).startswith(str(tmp_path / "xdg" / "leaksleuth" / "jit"))
    assert any(Path(str(result["folder"])).glob("*.nbi"))


def test_without_the_shipped_cache_the_kernels_compile(installed: Path, tmp_path: Path, small: Path) -> None:
    """The control: an empty cache folder makes the same run compile (so the checks above can fail)."""
    result = _run(installed, ["analyze", str(small), "--top", "3"], tmp_path, LEAKSLEUTH_JIT_CACHE=str(tmp_path / "empty"))
    assert result["rc"] == 0
    assert len(result["compiled"]) >= 10  # type: ignore[arg-type]
