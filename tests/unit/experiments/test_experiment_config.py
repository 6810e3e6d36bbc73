from __future__ import annotations

from pathlib import Path

import pytest

from leaksleuth.errors import UsageError
from leaksleuth.flows.experiments.config import load_config, run_env


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "exp").mkdir(exist_ok=True)
    (tmp_path / "exp" / "a.patch").write_text("--- a/x.js\n+++ b/x.js\n")
    (tmp_path / "exp" / "a.js").write_text("//\n")
    p = tmp_path / "leaksleuth.toml"
    p.write_text(text)
    return p


BASE = 'command = "node server.js --port {port}"\nurl = "http://127.0.0.1:{port}/"\n'


def test_toggles_of_every_kind_are_read_with_paths_beside_the_config(tmp_path):
    cfg = load_config(write(tmp_path, BASE + """
env = { LEAKS = "bus,stats,interval" }
[measure]
min_rounds = 5
threshold = 256
[[toggle]]
name = "stats plugin"
env_remove = { LEAKS = "stats" }
[[toggle]]
name = "bus"
patch = "exp/a.patch"
[[toggle]]
name = "menu"
replace = { "src/a.js" = "exp/a.js" }
env = { MENU = "off" }
"""))
    assert [t.name for t in cfg.toggles] == ["stats plugin", "bus", "menu"]
    assert cfg.toggles[1].patch == tmp_path / "exp" / "a.patch"
    assert cfg.toggles[2].replace == (("src/a.js", tmp_path / "exp" / "a.js"),)
    assert cfg.project == tmp_path
    assert cfg.protocol.min_rounds == 5 and cfg.protocol.threshold == 256
    assert cfg.command_for(4321) == ["node", "server.js", "--port", "4321"]
    assert cfg.load_for(4321).urls == ("http://127.0.0.1:4321/",)


def test_env_remove_composes_across_toggles(tmp_path):
    cfg = load_config(write(tmp_path, BASE + """
env = { LEAKS = "bus,stats,interval" }
[[toggle]]
name = "a"
env_remove = { LEAKS = "stats" }
[[toggle]]
name = "b"
env_remove = { LEAKS = "bus" }
[[toggle]]
name = "c"
env = { LEAK_LISTENER = "0" }
"""))
    assert run_env(cfg, frozenset(), 5000, {})["LEAKS"] == "bus,stats,interval"
    env = run_env(cfg, frozenset({0, 1, 2}), 5000, {})
    assert env["LEAKS"] == "interval" and env["LEAK_LISTENER"] == "0" and env["PORT"] == "5000"


def test_env_remove_works_on_an_inherited_variable(tmp_path):
    cfg = load_config(write(tmp_path, BASE + '[[toggle]]\nname = "a"\nenv_remove = { LEAKS = "bus" }\n'))
    assert run_env(cfg, frozenset({0}), 1, {"LEAKS": "bus,lazy"})["LEAKS"] == "lazy"


def test_run_key_changes_when_a_patch_file_changes(tmp_path):
    p = write(tmp_path, BASE + '[[toggle]]\nname = "a"\npatch = "exp/a.patch"\n')
    before = load_config(p).run_key(frozenset({0}))
    assert load_config(p).run_key(frozenset({0})) == before
    (tmp_path / "exp" / "a.patch").write_text("--- a/y.js\n+++ b/y.js\n")
    assert load_config(p).run_key(frozenset({0})) != before
    assert load_config(p).run_key(frozenset()) != before


@pytest.mark.parametrize(
    "body, message",
    [
        ('url = "http://127.0.0.1:{port}/"\n[[toggle]]\nname="a"\nenv={A="1"}\n', "command"),
        (BASE, "at least one toggle"),
        (BASE + '[[toggle]]\nname = "a"\n', "switches nothing off"),
        (BASE + '[[toggle]]\nname = "a"\npatch = "nope.patch"\n', "not found"),
        (BASE + '[[toggle]]\nname = "a"\nreplace = { "../x.js" = "exp/a.js" }\n', "outside the project"),
        (BASE + '[[toggle]]\nname = "a"\nenv={A="1"}\n[[toggle]]\nname = "a"\nenv={B="1"}\n', "unique"),
        (BASE + 'colour = "red"\n[[toggle]]\nname = "a"\nenv={A="1"}\n', "unknown key"),
        (BASE + '[measure]\nmin_rounds = 2\n[[toggle]]\nname = "a"\nenv={A="1"}\n', "min_rounds"),
        ("command = [", "not valid TOML"),
    ],
)
def test_config_mistakes_are_usage_errors(tmp_path, body, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(write(tmp_path, body))
