"""The runner and the ``visorch eval`` command: reports, redaction, errors, the data root from the settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner
from visorch.config import VisorchSettings
from visorch.evaluation import EvaluationRuntime, run_evaluation
from visorch.evaluation.cli import make_eval_command
from visorch.evaluation.errors import DatasetLayoutError, UnknownTaskError
from visorch.evaluation.paths import FALLBACK_DATA_ROOT, default_data_root

from tests.evaluation_doubles import ScriptedAnswererForTest


def test_cli_command_runs_a_task_on_coco_val(shared_data: Path, tmp_path: Path) -> None:
    answerer = ScriptedAnswererForTest(lambda image, question, audio: "no")
    app = typer.Typer()
    runtime = EvaluationRuntime(make_answerer=lambda _: answerer, config={"llm": {"model": "m", "api_key": "sk-1"}})
    app.command("eval")(make_eval_command(lambda config: runtime))
    app.command("other")(lambda: None)  # two commands, as in the real CLI, so 'eval' is a sub-command
    result = CliRunner().invoke(
        app, ["eval", "pope", "--data", str(shared_data / "coco-val"), "--limit", "6", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "val2017" in result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["metrics"]["accuracy"] == 0.5 and summary["config"]["config_file"] is None
    assert summary["config"]["llm"] == {"model": "m", "api_key": "<redacted>"}
    assert summary["split"] == "COCO val2017 (coco-val)"
    with pytest.raises(UnknownTaskError):
        run_evaluation("nope", None, tmp_path / "x", show_progress=False)


def test_missing_data_path_says_what_layout_is_expected(tmp_path: Path) -> None:
    for task in ("detect", "ocr", "asr", "pope"):
        with pytest.raises(DatasetLayoutError, match="give"):
            run_evaluation(task, tmp_path, tmp_path / "out", predictor=object(), show_progress=False)


def test_data_root_comes_from_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISORCH_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("VISORCH_DATA_ROOT", raising=False)
    assert default_data_root() == FALLBACK_DATA_ROOT  # nothing configured: beside the checkout
    config = tmp_path / "config.toml"
    config.write_text(f'data_root = "{tmp_path / "from-file"}"\n')
    monkeypatch.setenv("VISORCH_CONFIG", str(config))
    assert VisorchSettings().data_root == tmp_path / "from-file"
    assert default_data_root() == tmp_path / "from-file"
    monkeypatch.setenv("VISORCH_DATA_ROOT", str(tmp_path / "from-env"))
    assert default_data_root() == tmp_path / "from-env"  # environment over file
    assert default_data_root(tmp_path / "given") == tmp_path / "given"  # an explicit root over both
    assert EvaluationRuntime(data_root=tmp_path / "given").shared_data_root() == tmp_path / "given"
