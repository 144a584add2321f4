"""The issue's done-when on the embedded LLM (Qwen2.5-Coder-1.5B GGUF), the offline detector and COLOR.

Slow: two LLM calls on the CPU. Needs the offline pack (CI installs it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner
from visorch.llm.llama_cpp_backend import default_gguf_path
from visorch.tools.models.manager import default_weights_root

pytestmark = pytest.mark.slow


def test_visorch_correct_removes_the_dogs_and_grounds_the_blue_bus(bus_path: Path, tmp_path: Path, monkeypatch) -> None:
    if not default_gguf_path().is_file() or not (default_weights_root() / "nanodet-m" / "nanodet.onnx").is_file():
        pytest.skip("the offline pack is not installed: run visorch models install-offline")
    from visorch.cli import app

    monkeypatch.setenv("VISORCH_WEIGHTS_DIR", str(default_weights_root()))
    monkeypatch.setenv("VISORCH_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["correct", str(bus_path), "Three dogs stand next to a red bus.", "--json"])
    assert result.exit_code == 0, result.output
    correction = json.loads(result.stdout)
    claims = {(claim["concept"], claim["kind"]): claim for claim in correction["claims"]}
    assert claims[("dog", "existence")]["verdict"] == "removed"
    assert "dog" not in correction["corrected_plain"].lower()
    grounded = re.search(r"bus\(\[([0-9.]+), ([0-9.]+), ([0-9.]+), ([0-9.]+)\]\)", correction["corrected"])
    assert grounded, correction["corrected"]
    assert all(0.0 <= float(value) <= 1.0 for value in grounded.groups())
    colour = claims[("bus", "colour")]
    assert colour["verdict"] == "corrected" and colour["fix"] == "blue" and colour["finding"] == "COLOR: blue"
    assert correction["llm_calls"] >= 1 and correction["stages"][0]["name"] == "key concepts"
