"""Compiled kernels without a cold start: numba's cache, shipped with the package.

Numba compiles each kernel the first time it runs (about 4 s for the whole heap engine) and keeps
the machine code in a cache. An empty cache after `pip install` would make the first `analyze`
4 s slower than every later one, so the package carries its cache (`heap/_jitcache/`, made by
`python -m leaksleuth.heap.warmup` when the wheel or the dev tree is built) and every process
uses it:

* the code is compiled for numba's *generic* x86-64/aarch64 CPU (`NUMBA_CPU_NAME=generic`), so one
  cache fits every machine of the architecture; these graph loops are memory-bound and measured
  no slower than host-tuned code (2.05 s vs 2.17 s on a 450 MB snapshot);
* entries are keyed by numba's content hash of the source, the bytecode, the signature and the
  numba/Python versions, so a stale cache is never used: a kernel that does not match is compiled
  and saved as usual;
* when the package directory is read-only (a system install), the shipped entries are copied once
  into the user's cache folder (`$XDG_CACHE_HOME/leaksleuth/jit`) and used from there.

`NUMBA_CACHE_DIR`, if set, wins (numba's own rule), and a user who set `NUMBA_CPU_NAME` keeps it.
This module must be imported before numba is, for the CPU choice to apply; the heap modules
import `njit` from here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

if "numba" not in sys.modules:
    os.environ.setdefault("NUMBA_CPU_NAME", "generic")

import numba
from numba.core import caching


def _skip_the_blas_check() -> None:
    """numba's first kernel call loads its CPU target's registries, and one of them
    (numba.np.arraymath) imports scipy's BLAS bindings only to note whether np.dot and friends
    can compile: 0.2-0.3 s of every run, for functions no heap kernel uses. Import that module
    now with the check answering "no BLAS", then put the check back. (Its one use: compiled
    np.correlate/np.convolve in this process take a plain loop instead of BLAS; np.dot and
    np.linalg still check, and work, when called.)"""
    if "numba.np.arraymath" in sys.modules:
        return
    from numba.np import linalg

    check = linalg.ensure_blas

    def no_blas() -> None:
        raise ImportError("the heap kernels use no BLAS")

    linalg.ensure_blas = no_blas
    try:
        from numba.np import arraymath
    finally:
        linalg.ensure_blas = check
    arraymath.ensure_blas = check  # type: ignore[attr-defined]


_skip_the_blas_check()

SHIPPED = Path(__file__).resolve().parent / "_jitcache"
PACKAGE = Path(__file__).resolve().parent.parent


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def _user_folder() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    # one folder per installed copy: two venvs with different numba versions do not collide
    tag = hashlib.sha1(str(PACKAGE).encode()).hexdigest()[:12]
    return base / "leaksleuth" / "jit" / tag


_folder: Path | None = None


def cache_folder() -> Path:
    """Where this process reads and writes compiled kernels."""
    global _folder
    if _folder is None:
        chosen = os.environ.get("LEAKSLEUTH_JIT_CACHE")
        if chosen:  # `build FOLDER` (a wheel's build directory)
            _folder = Path(chosen)
        elif _writable(SHIPPED):
            _folder = SHIPPED
        else:
            user = _user_folder()
            if SHIPPED.is_dir() and _writable(user):
                for f in SHIPPED.iterdir():
                    target = user / f.name
                    if f.is_file() and not target.exists():
                        with contextlib.suppress(OSError):
                            shutil.copyfile(f, target)
            _folder = user
    return _folder


class PackageCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """numba cache locator for leaksleuth's own kernels: the shipped cache folder (see above)."""

    def __init__(self, py_func: Callable[..., Any], py_file: str) -> None:
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(cache_folder())

    def get_cache_path(self) -> str:
        return self._cache_path

    @classmethod
    def from_function(cls, py_func: Callable[..., Any], py_file: str) -> PackageCacheLocator | None:
        try:
            Path(py_file).resolve().relative_to(PACKAGE)
        except ValueError:
            return None  # not ours: numba's usual locators
        self = cls(py_func, py_file)
        try:
            self.ensure_cache_path()  # type: ignore[no-untyped-call]
        except OSError:
            return None
        return self


# numba ≥ 0.61 names it CacheImpl, older ones _CacheImpl
_cache_impl: Any = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # type: ignore[attr-defined]
_locators: list[Any] = _cache_impl._locator_classes
if PackageCacheLocator not in _locators:
    # after NUMBA_CACHE_DIR (the user's explicit choice), before the in-tree __pycache__ one
    _locators.insert(1, PackageCacheLocator)


_AFTER_PARSE: list[tuple[int, Any]] = []  # (rank, kernel): what every analysis runs after a parse
_preloading: threading.Thread | None = None


def njit(*, after_parse: int = 0, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """`numba.njit` for the heap engine's kernels: cached (in the folder above), nogil.

    `after_parse=N`: a kernel that runs on every parsed snapshot (the end of the parse,
    dominators, summary), N-th in order of first use: it is loaded from the cache in the
    background while the snapshot is parsed, in that order (see `preload`)."""
    decorate = numba.njit(**{"cache": True, "nogil": True, **options})
    if not after_parse:
        return decorate  # type: ignore[no-any-return]

    def register(func: Callable[..., Any]) -> Any:
        kernel = decorate(func)
        _AFTER_PARSE.append((after_parse, kernel))
        return kernel

    return register


def _cached_signatures(kernel: Any) -> list[Any]:
    """The signatures this machine can load `kernel` for from its cache, without compiling."""
    cache = kernel._cache
    codegen = kernel.targetctx.codegen()
    index = cache._cache_file._load_index()
    return [key[0] for key in index if cache._index_key(key[0], codegen) == key]


def _load(kernels: list[Any]) -> None:
    for kernel in kernels:
        try:
            for sig in _cached_signatures(kernel):
                if sig not in kernel.overloads:
                    kernel.compile(sig)
        except Exception:
            continue


def preload() -> None:
    """Load the after-parse kernels from numba's cache on a background thread, once.

    Loading a cached kernel is no compile, but it still costs 10-40 ms each (reading, linking):
    0.2-0.3 s for what a summary runs, paid on the first call. Started when a snapshot starts
    parsing, it happens on the other core, in the order the kernels are first called; one
    called before it is loaded waits for numba's compile lock and finds it there. Only signatures already in the cache are
    loaded: a stale or empty cache compiles on first call, as usual.
    `LEAKSLEUTH_PRELOAD=0` turns it off (to measure what it gains)."""
    global _preloading
    if _preloading is None and _AFTER_PARSE and os.environ.get("LEAKSLEUTH_PRELOAD", "1") != "0":
        kernels = [kernel for _, kernel in sorted(_AFTER_PARSE, key=lambda ranked: ranked[0])]
        _preloading = threading.Thread(target=_load, args=(kernels,), name="leaksleuth-preload", daemon=True)
        _preloading.start()


def kernels() -> list[Any]:
    """Every compiled kernel of the heap engine (numba dispatchers)."""
    from leaksleuth.heap import graph, growth, parse, snapshot, summary

    found: list[Any] = []
    for module in (graph, growth, parse, snapshot, summary):
        for value in vars(module).values():
            if isinstance(value, numba.core.registry.CPUDispatcher) and value not in found:
                found.append(value)
    return found


def compiled_now() -> dict[str, int]:
    """Kernels this process compiled (not loaded from a cache): name → signatures compiled."""
    return {k.py_func.__qualname__: sum(k._cache_misses.values()) for k in kernels() if sum(k._cache_misses.values())}


def build(folder: Path | None = None) -> dict[str, int]:
    """Compile every kernel with the signatures the engine uses, into the shipped cache (or
    `folder`), by running the engine on small generated snapshots in a fresh process (the cache
    folder is chosen when the kernels are defined). Returns what that process compiled."""
    env = dict(os.environ)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        env["LEAKSLEUTH_JIT_CACHE"] = str(folder.resolve())
    code = (
        "import json; from leaksleuth.heap import jit, warmup; warmup.exercise(); "
        "print(json.dumps({'folder': str(jit.cache_folder()), 'compiled': jit.compiled_now()}))"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"compiling the heap kernels failed: {done.stderr.strip().splitlines()[-1:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    compiled: dict[str, int] = report["compiled"]
    print(f"leaksleuth: {len(compiled)} heap kernels compiled into {report['folder']}", file=sys.stderr)
    return compiled

