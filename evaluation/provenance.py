"""What a rerun needs to reproduce a result: package versions, git commit, Python, platform, command."""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from importlib import metadata
from typing import Any

from pydantic import BaseModel
from visorch.evaluation.paths import SOURCE_ROOT

PACKAGES = (
    "visorch", "numpy", "pillow", "pydantic", "supervision", "pycocotools", "jiwer", "matplotlib", "rich",
    "typer", "torch", "torchvision", "ultralytics", "onnxruntime", "opencv-python", "rapidocr", "easyocr",
    "faster-whisper", "ctranslate2", "openai-whisper", "soundfile", "av", "transformers", "langgraph",
    "llama-cpp-python", "openai", "scipy",
)  # fmt: skip
"""Distributions whose versions are recorded when installed."""

_SECRET_NAME = re.compile(r"(api_?key|token|secret|password)", re.IGNORECASE)


class Provenance(BaseModel):
    """The software a run used."""

    python: str
    platform: str
    packages: dict[str, str]
    git_commit: str | None
    git_dirty: bool | None
    argv: list[str]


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (missing ones are left out)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _git(*arguments: str) -> str | None:
    try:
        completed = subprocess.run(
            ["git", "-C", str(SOURCE_ROOT), *arguments], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip()


def collect_provenance() -> Provenance:
    """Versions, git commit (and whether the tree had uncommitted changes) and the command line."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return Provenance(
        python=sys.version.split()[0],
        platform=platform.platform(),
        packages=package_versions(),
        git_commit=commit or None,
        git_dirty=None if status is None else bool(status),
        argv=list(sys.argv),
    )


def redact_secrets(data: Any) -> Any:
    """``data`` with the values of secret-looking keys (api_key, token, secret, password) replaced."""
    if isinstance(data, dict):
        return {
            key: "<redacted>" if _SECRET_NAME.search(str(key)) and value else redact_secrets(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [redact_secrets(value) for value in data]
    return data
