"""benchmarks/bad_inputs.py: its classification, and a short real run of the fast cases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bad_inputs  # noqa: E402


def _case(expect: str, valid=None) -> bad_inputs.Case:
    return bad_inputs.Case("programs", "a case", ["check", "x.vp"], expect, valid)


@pytest.mark.parametrize(
    ("expect", "exit_code", "stdout", "stderr", "kind"),
    [
        ("error", 1, "", "error: invalid program: line 1 ...", "typed error"),
        ("error", 2, "", "Usage: visorch run ...", "typed error"),
        ("error", 0, "100", "", "made-up answer"),
        ("error", 3, "", "internal error: RecursionError", "crash"),
        ("error", 1, "", "Traceback (most recent call last):\n  ...", "crash"),
        ("error", -9, "", "", "crash"),
        ("error", None, "", "", "hang"),
        ("ok", 0, "4", "", "ok"),
        ("ok", 1, "", "error: image is empty", "refused valid"),
        ("either", 0, "valid, 3 steps", "", "ok"),
        ("either", 1, "", "error: no class", "typed error"),
    ],
)
def test_each_exit_is_classified(expect: str, exit_code: int | None, stdout: str, stderr: str, kind: str) -> None:
    assert bad_inputs.classify(_case(expect), exit_code, stdout, stderr)[0] == kind


def test_a_result_that_does_not_fit_the_input_is_made_up() -> None:
    silence = _case("ok", bad_inputs._is_empty_speech)
    heard = 'transcript heard: "" (no speech: the audio is silent (digital silence, below -50 dBFS), so nothing ...)'
    assert bad_inputs.classify(silence, 0, heard, "")[0] == "ok"
    assert bad_inputs.classify(silence, 0, 'transcript heard: "You You You"', "")[0] == "made-up answer"
    assert bad_inputs.classify(_case("ok", bad_inputs._is_count), 0, "a bus", "")[0] == "made-up answer"


def test_the_bomb_is_a_real_png_of_huge_dimensions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    path = tmp_path / "bomb.png"
    path.write_bytes(bad_inputs._bomb_png(20_000, 20_000))
    assert path.stat().st_size < 100_000
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # read the header rather than refuse it
    with Image.open(path) as image:
        assert image.size == (20_000, 20_000) and image.mode == "1"
        image.crop((0, 0, 64, 64)).load()  # the pixel data is real, not just a header


@pytest.mark.slow
def test_a_short_run_finds_no_crash_hang_or_made_up_answer(tmp_path: Path) -> None:
    saved = tmp_path / "out.json"
    options = ["--group", "programs,cli", "--limit", "3", "--save", str(saved)]
    finished = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bad_inputs.py"), *options],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    outcomes = json.loads(saved.read_text())
    assert len(outcomes) == 6
    assert {outcome["kind"] for outcome in outcomes} <= {"typed error", "ok"}
    total = finished.stdout.splitlines()[-1].split("|")
    assert total[0].strip() == "total" and total[1].strip() == "6"
    # the three programs cases: a syntax error through check and run, then invalid UTF-8
    assert [outcome["kind"] for outcome in outcomes[:3]] == ["typed error"] * 3
    assert "syntax error at line 1" in outcomes[0]["message"]
    assert "is not UTF-8 text" in outcomes[2]["message"]
    assert all("--json" in outcome["message"] for outcome in outcomes[3:])
