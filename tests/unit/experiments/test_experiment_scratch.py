from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from leaksleuth.flows.experiments.scratch import (
    ApplyError,
    apply_patch,
    apply_replace,
    copy_project,
    materialize,
    patch_targets,
    scratch_copy,
)


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            p = Path(dirpath, name)
            h.update(str(p.relative_to(root)).encode())
            h.update(os.readlink(p).encode() if p.is_symlink() else p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.js").write_text("one\ntwo\nthree\n")
    (root / "node_modules" / "lib").mkdir(parents=True)
    (root / "node_modules" / "lib" / "index.js").write_text("module.exports = 1;\n")
    (root / "node_modules" / ".cache").mkdir()
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref\n")
    return root


def test_copy_links_node_modules_packages_and_skips_excluded(project, tmp_path):
    dest = tmp_path / "copy"
    copy_project(project, dest, (".git",))
    assert (dest / "src" / "a.js").read_text() == "one\ntwo\nthree\n"
    assert not (dest / "src" / "a.js").is_symlink()
    assert (dest / "node_modules").is_dir() and not (dest / "node_modules").is_symlink()
    assert (dest / "node_modules" / "lib").is_symlink()
    assert not (dest / "node_modules" / ".cache").exists()
    assert not (dest / ".git").exists()
    assert os.stat(dest / "src" / "a.js").st_ino != os.stat(project / "src" / "a.js").st_ino


def test_writing_a_linked_package_file_never_reaches_the_user_tree(project, tmp_path):
    before = digest(project)
    dest = tmp_path / "copy"
    copy_project(project, dest)
    target = materialize(dest, "node_modules/lib/index.js")
    target.write_text("patched\n")
    assert (project / "node_modules" / "lib" / "index.js").read_text() == "module.exports = 1;\n"
    assert (dest / "node_modules" / "lib").is_dir() and not (dest / "node_modules" / "lib").is_symlink()
    assert digest(project) == before


def test_patch_and_replacement_apply_inside_the_copy_only(project, tmp_path):
    before = digest(project)
    patch = tmp_path / "p.patch"
    patch.write_text(
        "--- a/src/a.js\n+++ b/src/a.js\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n"
        "--- a/node_modules/lib/index.js\n+++ b/node_modules/lib/index.js\n@@ -1 +1 @@\n-module.exports = 1;\n+module.exports = 2;\n"
    )
    repl = tmp_path / "new.js"
    repl.write_text("new\n")
    with scratch_copy(project, tmp_path / "scratch") as root:
        apply_patch(root, patch)
        apply_replace(root, "src/b/new.js", repl)
        assert (root / "src" / "a.js").read_text() == "one\nTWO\nthree\n"
        assert (root / "node_modules" / "lib" / "index.js").read_text() == "module.exports = 2;\n"
        assert (root / "src" / "b" / "new.js").read_text() == "new\n"
    assert not root.exists()
    assert digest(project) == before


def test_a_patch_that_does_not_apply_is_an_apply_error(project, tmp_path):
    patch = tmp_path / "p.patch"
    patch.write_text("--- a/src/a.js\n+++ b/src/a.js\n@@ -1,1 +1,1 @@\n-nothing like this\n+x\n")
    with scratch_copy(project, tmp_path / "scratch") as root, pytest.raises(ApplyError, match="does not apply"):
        apply_patch(root, patch)


def test_scratch_is_removed_on_error_without_following_links(project, tmp_path):
    before = digest(project)
    with pytest.raises(RuntimeError), scratch_copy(project, tmp_path / "scratch"):
        raise RuntimeError("boom")
    assert list((tmp_path / "scratch").iterdir()) == []
    assert digest(project) == before


def test_patch_targets_strip_one_component_and_skip_dev_null():
    text = "--- /dev/null\n+++ b/new.js\t2024\n--- a/src/x.js\n+++ b/src/x.js\nrename to src/y.js\n"
    assert patch_targets(text) == ["new.js", "src/x.js", "src/y.js"]


def test_writes_outside_the_copy_are_refused(tmp_path):
    with pytest.raises(ApplyError):
        materialize(tmp_path, "../evil.js")
