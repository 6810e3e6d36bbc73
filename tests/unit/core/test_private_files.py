"""Snapshot files hold secrets: they are created private, fresh, and never through a link."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from leaksleuth.live.capture import private_part_file, write_private


def test_a_part_file_is_fresh_and_private_even_with_a_leftover_world_readable_one(tmp_path: Path):
    target = tmp_path / "s.heapsnapshot"
    old = tmp_path / "s.heapsnapshot.part"
    old.write_text("someone else's")
    old.chmod(0o644)
    os.umask(0o022)
    fd, part = private_part_file(target)
    os.close(fd)
    assert part != old and part.parent == tmp_path and part.name.endswith(".part")
    assert stat.S_IMODE(part.stat().st_mode) == 0o600
    assert old.read_text() == "someone else's"


def test_a_symlink_in_the_way_is_never_followed(tmp_path: Path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    target = tmp_path / "s.heapsnapshot"
    (tmp_path / "s.heapsnapshot.part").symlink_to(victim)
    write_private(target, "heap image")
    assert victim.read_text() == "keep me"
    assert target.read_text() == "heap image" and stat.S_IMODE(target.stat().st_mode) == 0o600
    target.unlink()
    target.symlink_to(victim)  # a link at the final name is replaced, not written through
    write_private(target, "heap image")
    assert victim.read_text() == "keep me" and not target.is_symlink()
