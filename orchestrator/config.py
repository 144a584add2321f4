"""visorch's one settings object: environment variables (``VISORCH_*``) and a TOML file.

Precedence: explicit arguments > environment variables > the config file
(``$VISORCH_CONFIG`` or ``~/.config/visorch/config.toml``) > defaults. Nested fields use ``__``
in environment variables, e.g. ``VISORCH_MODELS__DEVICE=cpu`` or ``VISORCH_AGENT__MAX_ROUNDS=2``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir, user_config_dir
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource
from visorch.tools.images import DEFAULT_MAX_IMAGE_PIXELS


def default_home() -> Path:
    """The user cache dir for visorch (XDG on Linux): weights, derived images, result cache."""
    return Path(user_cache_dir("visorch"))


def config_file() -> Path:
    """The TOML config file visorch reads, if it exists."""
    return Path(os.environ.get("VISORCH_CONFIG") or Path(user_config_dir("visorch")) / "config.toml")


class ModelSettings(BaseModel):
    """Model placement, memory and backend choice."""

    device: str | None = None
    """Force a device for every backend ('cpu', 'cuda', 'mps'); default: best available per backend."""
    device_overrides: dict[str, str] = Field(default_factory=dict)
    """Device per backend or per capability (the tools using it), e.g. {"owlv2": "cpu", "ocr": "cpu"}."""
    memory_budget_mb: float | None = None
    """Evict least-recently-used models beyond this much RAM; None means no limit."""
    vram_budget_mb: float | None = None
    """Evict least-recently-used GPU models beyond this much GPU memory; None means no limit."""
    preferred: dict[str, str] = Field(default_factory=dict)
    """Backend per capability, e.g. {"detection": "yolo", "ocr": "easyocr"}; default: best installed."""
    cache_results: bool = True
    """Keep tool results by content (memory + SQLite) so repeated calls are skipped."""


class ExecutorSettings(BaseModel):
    """How programs run."""

    max_workers: int = 4
    step_timeout_s: float = 300.0


class VisorchSettings(BaseSettings):
    """Everything configurable in visorch, in one place."""

    model_config = SettingsConfigDict(env_prefix="VISORCH_", env_nested_delimiter="__", extra="ignore")

    home: Path = Field(default_factory=default_home)
    """Root for weights, derived images and the result cache (``VISORCH_HOME``)."""
    weights_dir: Path | None = None
    """Where weights live when not under ``home`` (``VISORCH_WEIGHTS_DIR``), e.g. a shared disk."""
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    models: ModelSettings = Field(default_factory=ModelSettings)
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    agent: dict[str, Any] = Field(default_factory=dict)
    """The config file's [agent] section (fields of visorch.agent.AgentConfig)."""
    llm: dict[str, Any] = Field(default_factory=dict)
    """The config file's [llm] section (fields of visorch.llm.LLMSettings, which also reads VISORCH_LLM_*)."""

    @property
    def weights_root(self) -> Path:
        """Where model weights live."""
        return self.weights_dir or self.home / "weights"

    @property
    def images_dir(self) -> Path:
        """Where derived images (crops, renderings) are stored by content hash."""
        return self.home / "images"

    @property
    def results_path(self) -> Path:
        """The SQLite file of cached tool results."""
        return self.home / "results.sqlite"

    @classmethod
    def from_file(cls, path: Path) -> VisorchSettings:
        """Settings from an explicit TOML file (its values win over environment variables)."""
        import tomllib

        from visorch.tools.errors import ConfigError

        try:
            values = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise ConfigError(f"config file not found: {path}") from error
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"config file {path} is not valid TOML: {error}") from error
        return cls(**values)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file()
        if path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)
