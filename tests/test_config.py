"""Settings: typed sections, one precedence (arguments > environment > file > defaults), typos refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from visorch.agent import AgentConfig
from visorch.config import VisorchSettings
from visorch.tools.errors import ConfigError

CONFIG = """
[agent]
max_rounds = 5
approve_plans = true

[llm]
model = "from-file.gguf"
n_ctx = 2048

[models]
device = "cpu"
"""


@pytest.fixture()
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("VISORCH_LLM") or name.startswith("VISORCH_AGENT"):
            monkeypatch.delenv(name)
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("VISORCH_CONFIG", str(path))
    return path


def test_the_file_fills_typed_sections(config_file: Path) -> None:
    settings = VisorchSettings()
    assert settings.agent.max_rounds == 5 and settings.agent.approve_plans is True
    assert settings.llm.model == "from-file.gguf" and settings.llm.n_ctx == 2048
    assert settings.agent.max_steps == 10  # a default where neither the file nor the environment says
    config = AgentConfig.from_settings(settings)
    assert config.max_rounds == 5 and config.llm.model == "from-file.gguf"


def test_environment_beats_the_file_in_every_section(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISORCH_LLM_MODEL", "short-env.gguf")
    monkeypatch.setenv("VISORCH_AGENT__MAX_ROUNDS", "2")
    settings = VisorchSettings()
    assert settings.llm.model == "short-env.gguf" and settings.llm.n_ctx == 2048  # the rest still from the file
    assert settings.agent.max_rounds == 2 and settings.agent.approve_plans is True
    monkeypatch.setenv("VISORCH_LLM__MODEL", "nested-env.gguf")
    assert VisorchSettings().llm.model == "nested-env.gguf"
    assert AgentConfig.from_settings(VisorchSettings()).llm.model == "nested-env.gguf"


def test_arguments_beat_the_environment(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISORCH_LLM_MODEL", "short-env.gguf")
    settings = VisorchSettings(llm={"model": "argument.gguf"}, agent={"max_rounds": 1})
    assert settings.llm.model == "argument.gguf" and settings.agent.max_rounds == 1
    assert settings.llm.n_ctx == 2048 and settings.agent.approve_plans is True


def test_an_unknown_key_in_the_file_names_the_closest_valid_one(tmp_path: Path, config_file: Path) -> None:
    config_file.write_text("[agent]\nmax_round = 5\n\n[llm]\nmodle = 'x'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"agent\.max_round \(did you mean agent\.max_rounds\?\).*llm\.modle"):
        VisorchSettings()
    other = tmp_path / "other.toml"
    other.write_text("weight_dir = '/tmp'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"weight_dir \(did you mean weights_dir\?\)"):
        VisorchSettings.from_file(other)


def test_an_explicit_file_keeps_the_precedence(
    tmp_path: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other.toml"
    other.write_text("[agent]\nmax_rounds = 4\n\n[llm]\nmodel = 'other.gguf'\n", encoding="utf-8")
    monkeypatch.setenv("VISORCH_LLM_MODEL", "short-env.gguf")
    settings = VisorchSettings.from_file(other)
    assert settings.agent.max_rounds == 4 and settings.agent.approve_plans is False  # not the default file
    assert settings.llm.model == "short-env.gguf"
    with pytest.raises(ConfigError, match="config file not found"):
        VisorchSettings.from_file(tmp_path / "absent.toml")


def test_weights_root_has_one_rule(tmp_path: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from visorch.llm.llama_cpp_backend import default_gguf_path
    from visorch.tools.models.manager import default_weights_root

    monkeypatch.delenv("VISORCH_WEIGHTS_DIR", raising=False)
    config_file.write_text(f"weights_dir = '{tmp_path / 'shared-weights'}'\n", encoding="utf-8")
    assert default_weights_root() == VisorchSettings().weights_root == tmp_path / "shared-weights"
    assert default_gguf_path().is_relative_to(tmp_path / "shared-weights")
    monkeypatch.setenv("VISORCH_WEIGHTS_DIR", str(tmp_path / "env-weights"))
    assert default_weights_root() == tmp_path / "env-weights"


def test_importing_visorch_sets_library_defaults_unless_the_user_did() -> None:
    script = "import os, visorch; print(os.environ['YOLO_OFFLINE'], os.environ['YOLO_AUTOINSTALL'])"
    env = {key: value for key, value in os.environ.items() if not key.startswith("YOLO_")}
    shown = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert shown.stdout.split() == ["1", "false"]
    env["YOLO_OFFLINE"] = "0"
    shown = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert shown.stdout.split() == ["0", "false"]
