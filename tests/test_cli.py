"""The command line: library programs run, bad input gives one clear message and a non-zero exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

VISORCH = [sys.executable, "-m", "visorch.cli"]


def visorch(*arguments: str, home: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if home is not None:
        env["VISORCH_HOME"] = str(home)
        from visorch.tools.models.manager import default_weights_root

        env["VISORCH_WEIGHTS_DIR"] = str(default_weights_root())
    return subprocess.run([*VISORCH, *arguments], capture_output=True, text=True, timeout=timeout, env=env)


def _error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_missing_image_is_one_clear_error(tmp_path: Path) -> None:
    result = visorch("run", "bus_color", "--image", str(tmp_path / "nope.jpg"), home=tmp_path)
    assert result.returncode == 1
    assert _error_lines(result) == [f"error: image file not found: {tmp_path / 'nope.jpg'}"]
    assert "Traceback" not in result.stderr


def test_corrupt_image_is_one_clear_error(tmp_path: Path, bus_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(bus_path.read_bytes()[:5000])
    result = visorch("run", "bus_color", "--image", str(broken), home=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert _error_lines(result)[0].startswith("error: image ") and "corrupt or truncated" in result.stderr


def test_syntax_error_names_line_and_column(tmp_path: Path, bus_path: Path) -> None:
    program = tmp_path / "bad.vp"
    program.write_text("BOX0=LOC(image=IMAGE, object='bus')\nN=COUNT(box=BOX0\nFINAL=RESULT(var=N)\n")
    result = visorch("run", str(program), "--image", str(bus_path), home=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "error: syntax error at line 2, column 17" in _error_lines(result)[0]
    check = visorch("check", str(program), home=tmp_path)
    assert check.returncode == 1 and "line 2, column 17" in check.stderr


def test_invalid_program_lists_its_problems(tmp_path: Path) -> None:
    program = tmp_path / "invalid.vp"
    program.write_text("BOX0=LCO(image=IMAGE, object='bus')\nFINAL=RESULT(var=BOX0)\n")
    result = visorch("check", str(program), home=tmp_path)
    assert result.returncode == 1 and "unknown tool LCO; did you mean LOC?" in result.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = visorch("run", "bus_color", "--image", str(tmp_path / "nope.jpg"), "--debug", home=tmp_path)
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_check_tools_and_library(tmp_path: Path) -> None:
    check = visorch("check", "person_left_of_bus", home=tmp_path)
    assert check.returncode == 0 and "valid, 5 steps; inputs: IMAGE (image)" in check.stdout
    library = visorch("library", home=tmp_path)
    assert library.returncode == 0 and len([line for line in library.stdout.splitlines() if line.strip()]) >= 12
    tools = visorch("tools", home=tmp_path)
    assert tools.returncode == 0 and "LOC" in tools.stdout and "CROP_LEFTOF" in tools.stdout


def _needs_pack() -> None:
    from visorch.tools.models.manager import default_weights_root

    if not (default_weights_root() / "nanodet-m" / "nanodet.onnx").is_file():
        pytest.skip("the offline pack is not installed: run visorch models install-offline")


@pytest.mark.slow
def test_run_library_program_writes_html_and_json(tmp_path: Path, bus_path: Path) -> None:
    _needs_pack()
    html, trace = tmp_path / "trace.html", tmp_path / "trace.json"
    result = visorch(
        "run", "person_left_of_bus", "--image", str(bus_path), "--html", str(html), "--json", str(trace), home=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().isdigit()
    page = html.read_text(encoding="utf-8")
    assert page.count("data:image/jpeg;base64,") >= 4 and "CROP_LEFTOF" in page
    data = json.loads(trace.read_text())
    assert data["ok"] and [step["target"] for step in data["steps"]] == ["BOX0", "IMAGE0", "BOX1", "ANSWER0", "FINAL"]


@pytest.mark.slow
def test_failed_step_exits_non_zero_with_the_step_error(tmp_path: Path, bus_path: Path) -> None:
    _needs_pack()
    program = tmp_path / "unicorn.vp"
    program.write_text(
        "BOX0=LOC(image=IMAGE, object='unicorn')\nIMAGE0=CROP(image=IMAGE, box=BOX0)\nFINAL=RESULT(var=IMAGE0)\n"
    )
    result = visorch("run", str(program), "--image", str(bus_path), home=tmp_path)
    assert result.returncode == 1
    assert "BOX0 (LOC, line 1) failed" in result.stderr and "no class for 'unicorn'" in result.stderr


def test_without_the_eval_extra_the_cli_works_and_eval_says_what_to_install(tmp_path: Path) -> None:
    blocked = "import sys; sys.modules['pycocotools'] = None; from visorch.cli import app; app(sys.argv[1:])"
    env = {**os.environ, "VISORCH_HOME": str(tmp_path)}

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", blocked, *arguments]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)

    assert run("library").returncode == 0
    failed = run("eval", "detect", "--data", str(tmp_path))
    assert failed.returncode == 1
    assert "pip install 'visorch[eval]'" in failed.stderr and "pycocotools" in failed.stderr
