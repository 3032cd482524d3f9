"""The README's Python example runs as pasted and prints what its comments promise."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_example_runs_as_pasted() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README has a python example"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], str(README), "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] == "2.0 5 128 42"
    assert lines[-1] == "20000"  # 10,000 self rows + 2 x 5,000 planted pairs
    assert lines[-2].startswith("5000 (0, 0, 0.5")


def test_readme_index_example_runs_as_pasted() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2, "README has an index example"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[1], str(README), "exec"), {})
    lines = out.getvalue().strip().splitlines()
    assert eval(lines[0]) == [[10_000 + i, i] for i in range(5)]
    assert lines[1:] == ["10000", "10000", "True"]


def test_readme_sketch_example_runs_as_pasted() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 3, "README has a sketch example"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[2], str(README), "exec"), {})
    assert out.getvalue().strip().splitlines() == ["[0, 1, 2]", "[0, 1, 2]", "0.99"]
