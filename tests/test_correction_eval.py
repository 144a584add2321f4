"""``visorch eval ... --agent KEY=VALUE``: the agent's settings overridden for one run (e.g. correct_answers=true).

The answerer is a test double (scripted answers); what is checked is the CLI plumbing: the overrides reach
the runtime factory, the report folder and the summary's command name them, bad names are refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner
from visorch.cli import _with_agent_overrides
from visorch.config import VisorchSettings
from visorch.evaluation import EvaluationRuntime
from visorch.evaluation.cli import agent_overrides, default_out_dir, make_eval_command
from visorch.evaluation.errors import EvaluationError
from visorch.tools.errors import ConfigError

from tests.evaluation_doubles import ScriptedAnswererForTest


def test_agent_overrides_reach_the_runtime_and_the_report(shared_data: Path, tmp_path: Path) -> None:
    opened: list[Mapping[str, str] | None] = []
    answerer = ScriptedAnswererForTest(lambda image, question, audio: "yes")

    def open_runtime(config_file: Path | None, agent: Mapping[str, str] | None = None) -> EvaluationRuntime:
        opened.append(agent)
        return EvaluationRuntime(make_answerer=lambda _: answerer, config={"agent": dict(agent or {})})

    app = typer.Typer()
    app.command("eval")(make_eval_command(open_runtime))
    app.command("other")(lambda: None)
    args = ["eval", "pope", "--data", str(shared_data / "coco-val"), "--limit", "2", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "--agent", "correct_answers=true"])
    assert result.exit_code == 0, result.output
    assert opened == [{"correct_answers": "true"}]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "--agent correct_answers=true" in summary["command"]
    assert summary["config"]["agent"] == {"correct_answers": "true"}
    bad = CliRunner().invoke(app, [*args, "--agent", "correct_answers"])
    assert bad.exit_code != 0


def test_versus_runs_the_same_items_again_and_prints_both_side_by_side(shared_data: Path, tmp_path: Path) -> None:
    opened: list[Mapping[str, str] | None] = []

    def open_runtime(config_file: Path | None, agent: Mapping[str, str] | None = None) -> EvaluationRuntime:
        opened.append(agent)
        said = "no" if (agent or {}).get("correct_answers") == "true" else "yes"
        answerer = ScriptedAnswererForTest(lambda image, question, audio: said)
        return EvaluationRuntime(make_answerer=lambda _: answerer, config={"agent": dict(agent or {})})

    app = typer.Typer()
    app.command("eval")(make_eval_command(open_runtime))
    app.command("other")(lambda: None)
    out = tmp_path / "pope"
    args = ["eval", "pope", "--data", str(shared_data / "coco-val"), "--limit", "6", "--out", str(out)]
    result = CliRunner().invoke(
        app, [*args, "--agent", "max_rounds=2", "--versus", "correct_answers=true"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert opened == [{"max_rounds": "2"}, {"max_rounds": "2", "correct_answers": "true"}]
    first = json.loads((out / "summary.json").read_text())
    second = json.loads((tmp_path / "pope-correct_answers=true" / "summary.json").read_text())
    assert first["items"] == second["items"] == 6
    assert "--agent correct_answers=true" in second["command"] and "--agent max_rounds=2" in second["command"]
    assert "side by side" in result.output and "correct_answers=true max_rounds=2" in result.output
    yes_ratio = [line for line in result.output.splitlines() if "random_yes_ratio" in line][-1]  # the last table's
    assert "1.0000" in yes_ratio and "0.0000" in yes_ratio  # the two runs' answers, in one row


def test_default_report_folder_and_parsing() -> None:
    assert default_out_dir("pope", None, {"correct_answers": "true"}) == Path("reports/eval/pope-correct_answers=true")
    assert default_out_dir("pope", "openai") == Path("reports/eval/pope-openai")
    assert agent_overrides(["a=1", " b = x=y "]) == {"a": "1", "b": "x=y"}
    with pytest.raises(EvaluationError, match="KEY=VALUE"):
        agent_overrides(["=1"])


def test_agent_settings_overrides_are_validated(tmp_path: Path) -> None:
    settings = VisorchSettings(home=tmp_path)
    changed = _with_agent_overrides(settings, {"correct_answers": "true", "max_rounds": "2"})
    assert changed.agent.correct_answers is True and changed.agent.max_rounds == 2
    assert settings.agent.correct_answers is False
    with pytest.raises(ConfigError, match="did you mean correct_answers"):
        _with_agent_overrides(settings, {"correct_answer": "true"})
    with pytest.raises(ConfigError, match="max_rounds"):
        _with_agent_overrides(settings, {"max_rounds": "zero"})
