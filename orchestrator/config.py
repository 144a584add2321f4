"""visorch's one settings object: environment variables (``VISORCH_*``) and a TOML file.

One precedence for every section: explicit arguments > environment variables > the config file
(``$VISORCH_CONFIG`` or ``~/.config/visorch/config.toml``) > defaults. Nested fields use ``__``
in environment variables, e.g. ``VISORCH_MODELS__DEVICE=cpu``, ``VISORCH_AGENT__MAX_ROUNDS=2`` or
``VISORCH_LLM__MODEL=...``; the LLM section also reads the shorter ``VISORCH_LLM_MODEL``. A key the
file has but no section knows is an error that names the closest valid key.
"""

from __future__ import annotations

import contextvars
import difflib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_cache_dir, user_config_dir
from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from visorch.llm.settings import LLMSettings
from visorch.roles.rules import DEFAULT_MIN_SCORE
from visorch.tools.errors import ConfigError
from visorch.tools.images import DEFAULT_MAX_IMAGE_PIXELS
from visorch.tools.remote.target import RemoteExpert

_explicit_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar("visorch_config_file", default=None)


def default_home() -> Path:
    """The user cache dir for visorch (XDG on Linux): weights, derived images, result cache."""
    return Path(user_cache_dir("visorch"))


def config_file() -> Path:
    """The TOML config file visorch reads, if it exists."""
    explicit = _explicit_file.get()
    if explicit is not None:
        return explicit
    return Path(os.environ.get("VISORCH_CONFIG") or Path(user_config_dir("visorch")) / "config.toml")


def resolve_weights_root(weights_dir: Path | None, home: Path) -> Path:
    """The one rule for the weights folder: ``weights_dir`` if set, else ``<home>/weights``."""
    return weights_dir or home / "weights"


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
    remote: dict[str, RemoteExpert] = Field(default_factory=dict)
    """Backends served by Ray Serve (``visorch serve-experts``), by name, e.g. {"nanodet-m": {"app":
    "visorch-nanodet-m", "address": "10.0.0.5:6379"}}; called like local ones, with the same result-cache keys."""


class ExecutorSettings(BaseModel):
    """How programs run."""

    max_workers: int = 4
    step_timeout_s: float = 300.0


class AgentSettings(BaseModel):
    """The agent loop: its bounds, plan approval, rule answers, the plan cache and checkpoints."""

    max_rounds: int = Field(default=3, ge=1)
    max_plan_attempts: int = Field(default=3, ge=1)
    max_steps: int = Field(default=10, ge=1)
    time_budget_s: float = Field(default=600.0, gt=0)
    examples: int = Field(default=3, ge=0)
    approve_plans: bool = False
    """Pause before each execution for a person to approve or edit the program (LangGraph interrupt)."""
    checkpoint_path: Path | None = None
    """SQLite file for LangGraph checkpoints (default: <home>/agent-checkpoints.sqlite)."""
    rule_answers: bool = True
    """Verdict and answer by rule, without the decision-maker and refiner LLM calls, when a program's result
    has the question's own form (a count, yes, text read) and its evidence is confident."""
    rule_min_score: float = Field(default=DEFAULT_MIN_SCORE, ge=0, le=1)
    """For rule answers: every box counted (or one box, for a 'yes') must score at least this."""
    plan_cache: bool = True
    """Reuse programs that answered, as question templates, instead of calling the planner."""
    plan_cache_path: Path | None = None
    """The plan cache's JSON file (default: <home>/plan-cache.json)."""
    example_selection: Literal["embedding", "words"] = "embedding"
    """How the planner's worked examples are chosen: sentence embeddings (all-MiniLM-L6-v2, which imports
    torch), or shared content words (no second model; see benchmarks/example_selection.py)."""
    form_answers: bool = True
    """Skip the refiner LLM call when the program's result already has the question's form (a count for "how
    many", yes/no for "is there"): the verify step states that result whatever the refiner writes."""
    verdict_answers: bool = False
    """The decision-maker writes the answer with its ANSWER verdict (one LLM call instead of two); off by
    default until it matches the refiner (benchmarks/role_models.py)."""
    correct_answers: bool = False
    """Check each answer's claims against the image and correct it (visorch.correction; adds LLM calls)."""
    fused_experts: bool = True
    """Offer the planner EXISTS and HOW_MANY (every installed detector fused, calibrated, looking closer when the
    evidence is weak) for "is there" / "how many" questions; false: the single-detector agent, which plans them
    as LOC + COUNT on the one preferred detector (for comparison: ``visorch eval pope --agent fused_experts=false``)."""
    calibrated_rewrite: bool = True
    """With the fused experts: a planned LOC + COUNT count (or 'is there') of one class runs as HOW_MANY (EXISTS),
    which the small planner rarely writes itself (visorch.roles.calibrated_rewrite; reported with the plan)."""


def _unknown_keys(values: dict[str, Any], model: type[BaseModel], where: str = "") -> list[str]:
    """'key (did you mean ...?)' for each key of ``values`` that ``model`` (or a nested section) lacks."""
    problems = []
    for key, value in values.items():
        field = model.model_fields.get(key)
        if field is None:
            close = difflib.get_close_matches(key, list(model.model_fields), n=1, cutoff=0.5)
            hint = f" (did you mean {where}{close[0]}?)" if close else ""
            problems.append(f"{where}{key}{hint}")
            continue
        section = field.annotation
        if isinstance(value, dict) and isinstance(section, type) and issubclass(section, BaseModel):
            problems += _unknown_keys(value, section, f"{where}{key}.")
    return problems


class _CheckedTomlSource(TomlConfigSettingsSource):
    """The config file, refused when it has a key no section knows (a typo must not be ignored)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        import tomllib

        try:
            super().__init__(settings_cls, toml_file=path)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"config file {path} is not valid TOML: {error}") from error
        problems = _unknown_keys(self.toml_data, settings_cls)
        if problems:
            raise ConfigError(f"config file {path} has unknown key(s): {', '.join(problems)}; fix or remove them")


class _ShortLLMEnvSource(EnvSettingsSource):
    """``VISORCH_LLM_MODEL`` and the other ``VISORCH_LLM_*`` variables, as the ``llm`` section."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(LLMSettings, env_prefix="VISORCH_LLM_", case_sensitive=False)

    def __call__(self) -> dict[str, Any]:
        found = super().__call__()
        return {"llm": found} if found else {}


class VisorchSettings(BaseSettings):
    """Everything configurable in visorch, in one place."""

    model_config = SettingsConfigDict(env_prefix="VISORCH_", env_nested_delimiter="__", extra="forbid")

    home: Path = Field(default_factory=default_home)
    """Root for weights, derived images and the result cache (``VISORCH_HOME``)."""
    weights_dir: Path | None = None
    """Where weights live when not under ``home`` (``VISORCH_WEIGHTS_DIR``), e.g. a shared disk."""
    data_root: Path | None = None
    """The shared evaluation data (``VISORCH_DATA_ROOT``); unset: ``../shared/data`` beside a source checkout."""
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    allowed_roots: list[Path] = []
    """Folders whose files a program may LOAD besides its own inputs (``VISORCH_ALLOWED_ROOTS='["/data"]'``)."""
    models: ModelSettings = Field(default_factory=ModelSettings)
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    """The [agent] section (``VISORCH_AGENT__MAX_ROUNDS=2``)."""
    llm: LLMSettings = Field(default_factory=LLMSettings)
    """The [llm] section: the planner's backend (``VISORCH_LLM_MODEL`` or ``VISORCH_LLM__MODEL``)."""

    @property
    def weights_root(self) -> Path:
        """Where model weights live (:func:`resolve_weights_root`)."""
        return resolve_weights_root(self.weights_dir, self.home)

    @property
    def images_dir(self) -> Path:
        """Where derived images (crops, renderings) are stored by content hash."""
        return self.home / "images"

    @property
    def results_path(self) -> Path:
        """The SQLite file of cached tool results."""
        return self.home / "results.sqlite"

    @classmethod
    def from_file(cls, path: Path, **arguments: Any) -> VisorchSettings:
        """Settings with ``path`` as the config file (instead of ``$VISORCH_CONFIG``), same precedence."""
        if not Path(path).is_file():
            raise ConfigError(f"config file not found: {path}")
        with _reading(Path(path)):
            return cls(**arguments)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, _ShortLLMEnvSource(settings_cls)]
        path = config_file()
        if path.is_file():
            sources.append(_CheckedTomlSource(settings_cls, path))
        return tuple(sources)


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    token = _explicit_file.set(path)
    try:
        yield
    finally:
        _explicit_file.reset(token)
