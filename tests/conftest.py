"""Shared fixtures: real data paths, an isolated visorch home, a runtime with the built-in tools."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VISORCH_DATA_ROOT", REPO_ROOT.parent / "shared" / "data"))


def ultralytics_asset(name: str) -> Path:
    """An image shipped inside the ultralytics package (bus.jpg, zidane.jpg)."""
    import importlib.util

    spec = importlib.util.find_spec("ultralytics")
    assert spec is not None and spec.origin is not None, "ultralytics is not installed"
    return Path(spec.origin).parent / "assets" / name


@pytest.fixture(scope="session")
def bus_path() -> Path:
    """ultralytics' bundled bus.jpg (a real street photo with people and a bus)."""
    return ultralytics_asset("bus.jpg")


@pytest.fixture(scope="session")
def zidane_path() -> Path:
    """ultralytics' bundled zidane.jpg."""
    return ultralytics_asset("zidane.jpg")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared evaluation data folder (skips when absent)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}; set VISORCH_DATA_ROOT")
    return SHARED_DATA


@pytest.fixture()
def builtin_runtime(tmp_path: Path):
    """A runtime with only the model-free tools, its caches in a temporary folder."""
    from visorch.config import VisorchSettings
    from visorch.runtime import Runtime
    from visorch.tools.catalog import builtin_tools

    runtime = Runtime.create(VisorchSettings(home=tmp_path / "home"), tools=builtin_tools(), backends=[])
    yield runtime
    runtime.close()
