"""Build hook: the wheel carries the heap engine's compiled kernels (numba's cache), so the
first `leaksleuth analyze` after `pip install` runs as fast as every later one.

Everything else is declared in pyproject.toml. If compiling fails (an odd platform), the wheel
is built without the cache and the kernels compile on first use instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithKernels(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False) or os.environ.get("LEAKSLEUTH_NO_JIT_CACHE"):
            return  # a source tree fills heap/_jitcache on first use (`make setup` does it at once)
        build_lib = Path(self.build_lib).resolve()
        target = build_lib / "leaksleuth" / "heap" / "_jitcache"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(build_lib), os.environ.get("PYTHONPATH", "")]))
        done = subprocess.run(
            [sys.executable, "-m", "leaksleuth.heap.warmup", str(target)],
            env=env, capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["?"])[-1]
            print(f"warning: heap kernels not precompiled ({tail}); they compile on first use", file=sys.stderr)


setup(cmdclass={"build_py": BuildWithKernels})
