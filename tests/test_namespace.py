"""visorch installs under one import namespace: nothing generic (`tools`, `programs`) lands in site-packages."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import importlib, sys
for generic in ("tools", "programs", "orchestrator", "evaluation"):
    try:
        importlib.import_module(generic)
    except ImportError:
        pass
    else:
        sys.exit(f"`import {generic}` worked: a generic top-level package is installed")
from visorch import Agent, Runtime, tool
import visorch.programs.parser, visorch.tools.registry, visorch.evaluation.answers
print(importlib.import_module("visorch").__file__)
"""


def _check(cwd: Path, extra_path: Path | None = None) -> str:
    env = {"PATH": "/usr/bin:/bin"}
    if extra_path is not None:
        env["PYTHONPATH"] = str(extra_path)
    # -s: no user site; the cwd is a scratch folder, so the repository's folders are not on sys.path
    result = subprocess.run(
        [sys.executable, "-s", "-c", CHECK], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_editable_install_offers_only_the_visorch_namespace(tmp_path: Path) -> None:
    location = _check(tmp_path)
    assert Path(location) == ROOT / "orchestrator" / "__init__.py"


@pytest.mark.slow
def test_built_wheel_holds_only_the_visorch_namespace(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = tmp_path.glob("visorch-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"visorch", wheel.name.split("-py3")[0] + ".dist-info"}
    for expected in ("visorch/agent.py", "visorch/tools/registry.py", "visorch/programs/library/count_people.vp",
                     "visorch/evaluation/data/questions.jsonl", "visorch/data/examples.jsonl"):  # fmt: skip
        assert expected in names, expected
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    location = _check(tmp_path, extra_path=unpacked)
    assert Path(location) == unpacked / "visorch" / "__init__.py"
