"""Terminal output: heap text, source lines and error messages are data, never rich markup."""

import io

from rich.console import Console

from leaksleuth.cli import main
from leaksleuth.model import Culprit, RootPathEvidence, SourceLineEvidence, SourceLocation
from leaksleuth.report.terminal import render_culprits


def test_brackets_from_the_heap_and_the_source_are_printed_as_they_are():
    c = Culprit(kind="collection", bytes_per_request=2048, objects_per_request=1.0, constructor="Object",
                path=["cache (Map)", "[]", "Object"], location=SourceLocation("pages/[id].js", 3, 1),
                evidence=[SourceLineEvidence("grows", "requestStats", "requestStats[req.url] = Date.now();"),
                          RootPathEvidence(("odd [/tag] text",))], rank=1)
    out = io.StringIO()
    render_culprits(Console(file=out, width=200), [c])
    text = out.getvalue()
    assert "pages/[id].js:3:1" in text
    assert "requestStats[req.url] = Date.now();" in text
    assert "odd [/tag] text" in text


def test_an_error_message_with_brackets_stays_one_line(tmp_path, capsys):
    missing = tmp_path / "[weird]" / "x.heapsnapshot"
    assert main(["analyze", str(missing)]) == 3
    err = capsys.readouterr().err
    assert "[weird]" in err and len(err.strip().splitlines()) == 1
