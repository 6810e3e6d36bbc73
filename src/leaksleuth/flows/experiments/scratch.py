"""Scratch copies of the user's project: the only place an experiment writes.

Sources are copied (copy-on-write clones where the filesystem has them, else plain copies);
every `node_modules` becomes a real folder of symlinks to the user's packages, which is quick
and costs no space. Nothing is ever hard-linked, and before anything is written into the copy
(a patch, a replacement) every symlink on the way to that file is unfolded into real folders
and files, so no write can reach the user's tree through a link.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

FICLONE = 0x40049409  # linux/fs.h: clone a whole file (btrfs, xfs, bcachefs, ...)
LINKED_DIRS = {"node_modules"}
NOT_LINKED = {".cache"}  # tools write their caches here (babel-loader, webpack): keep them in the copy


class ApplyError(Exception):
    """A toggle could not be applied to the scratch copy (a patch that does not apply, ...)."""


def clone_file(src: str, dst: str) -> str:
    """Copy one file, as a copy-on-write clone when the filesystem can (`cp --reflink=auto`)."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.EPERM):
                raise
            shutil.copyfileobj(fin, fout, 1 << 20)
    shutil.copystat(src, dst)
    return dst


def link_dir_entries(src: Path, dst: Path) -> None:
    """A real folder `dst` whose entries are symlinks to those of `src`."""
    dst.mkdir(exist_ok=True)
    for entry in os.scandir(src):
        if entry.name not in NOT_LINKED:
            os.symlink(entry.path, dst / entry.name)


def copy_project(project: Path, dest: Path, exclude: tuple[str, ...] = (), node_modules: str = "link") -> None:
    """Copy `project` into the empty or missing folder `dest` (see the module docstring)."""
    deferred: list[tuple[Path, Path]] = []
    skip = set(exclude)

    def ignore(folder: str, names: list[str]) -> set[str]:
        ignored = {n for n in names if n in skip}
        if node_modules == "link":
            for n in names:
                if n in LINKED_DIRS and os.path.isdir(os.path.join(folder, n)) and not os.path.islink(os.path.join(folder, n)):
                    rel = Path(folder, n).relative_to(project)
                    deferred.append((project / rel, dest / rel))
                    ignored.add(n)
        return ignored

    shutil.copytree(project, dest, symlinks=True, ignore=ignore, copy_function=clone_file, dirs_exist_ok=True)
    for src, dst in deferred:
        link_dir_entries(src, dst)


def materialize(root: Path, rel: str) -> Path:
    """Make `root/rel` safe to write: unfold each symlinked folder on the way into a real folder
    of symlinks, and turn a symlinked file into a copy. Returns the path."""
    parts = Path(rel).parts
    if Path(rel).is_absolute() or ".." in parts:
        raise ApplyError(f"refusing to write outside the project: {rel}")
    here = root
    for part in parts:
        here = here / part
        if not here.is_symlink():
            if not here.exists():
                return root.joinpath(*parts)  # a new file: the rest does not exist either
            continue
        target = here.resolve()
        here.unlink()
        if target.is_dir():
            link_dir_entries(target, here)
        elif target.is_file():
            clone_file(str(target), str(here))
    return here


def patch_targets(text: str) -> list[str]:
    """Files a unified or git diff touches, with the first path component stripped (-p1)."""
    found: list[str] = []
    for line in text.splitlines():
        for prefix in ("--- ", "+++ ", "rename from ", "rename to ", "copy to "):
            if line.startswith(prefix):
                name = line[len(prefix):].split("\t")[0].strip()
                if name == "/dev/null":
                    continue
                if prefix in ("--- ", "+++ "):
                    name = name.split("/", 1)[1] if "/" in name else name
                if name not in found:
                    found.append(name)
    return found


def apply_patch(root: Path, patch_file: Path) -> None:
    """`patch -p1` inside the scratch copy, after unfolding links on the way to its files."""
    text = patch_file.read_text(errors="replace")
    targets = patch_targets(text)
    if not targets:
        raise ApplyError(f"{patch_file.name} is not a unified diff (no ---/+++ lines)")
    for rel in targets:
        materialize(root, rel)
    proc = subprocess.run(
        ["patch", "-p1", "--batch", "--forward", "--no-backup-if-mismatch", "-r", "-", "-i", str(patch_file)],
        cwd=root, capture_output=True, text=True, timeout=60, check=False,
    )
    if proc.returncode != 0:
        lines = [x.strip() for x in (proc.stdout + proc.stderr).splitlines() if x.strip() and not x.startswith("|")]
        why = "; ".join(x for x in lines if not x.startswith(("The text leading", "Perhaps you", "---")))
        raise ApplyError(f"patch {patch_file.name} does not apply: {why[:300]}")


def apply_replace(root: Path, rel: str, source: Path) -> None:
    """Put `source` at `root/rel` (never through a link into the user's tree)."""
    dest = materialize(root, rel)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.exists():
        dest.unlink()
    clone_file(str(source), str(dest))


@contextlib.contextmanager
def scratch_copy(
    project: Path, parent: Path, exclude: tuple[str, ...] = (), node_modules: str = "link"
) -> Iterator[Path]:
    """A fresh copy of `project` under `parent`, removed on the way out (error and Ctrl-C too).
    Removal never follows the symlinks into the user's node_modules."""
    parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="run-", dir=parent))
    try:
        copy_project(project, root, exclude, node_modules)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
