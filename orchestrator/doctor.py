"""``visorch doctor``: checks an installation the way a user needs it checked.

Python and package versions; every installed backend loaded and run once on a tiny real input in
a child process (so a native crash becomes a row naming the signal, the stage and the switch that
avoids it, instead of killing doctor); the offline weights and their checksums (the offline pack's
own check); free disk and memory against what the models need. The exit code is non-zero only when
something the main job (``visorch demo``: the planner LLM and a COCO detector) needs is broken;
optional pieces that are missing are warnings.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from visorch.doctor_runner import (
    PROBES_MODULE,
    DoctorCheck,
    ProbeSpec,
    Status,
    available_memory_mb,
    library_of,
    run_probes,
)
from visorch.tools.capability import Capability
from visorch.tools.errors import VisorchError

DEFAULT_TIMEOUT_S = 55.0
"""The whole run's budget: doctor runs in install.sh and in hooks with a 60 s limit."""
PACKAGES = (
    "visorch",
    "numpy",
    "pydantic",
    "supervision",
    "opencv-python-headless",
    "opencv-python",
    "torch",
    "torchvision",
    "onnxruntime",
    "llama_cpp_python",
    "ctranslate2",
    "faster-whisper",
    "ultralytics-opencv-headless",
    "ultralytics",
    "rapidocr",
    "easyocr",
    "sentence-transformers",
    "transformers",
    "langgraph",
)
"""Distributions whose versions doctor reports (the native backends and what the main job imports)."""
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
PYTHON_OVERHEAD_MB = {"torch": 700.0, "llama.cpp": 100.0}
"""Memory a probe's child needs besides its model (imports), by library; others: 250 MB."""


class DoctorReport(BaseModel):
    """Everything doctor found."""

    python: str
    platform: str
    cpu_flags: list[str]
    packages: dict[str, str | None]
    checks: list[DoctorCheck]
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether the main job can run."""
        return not any(check.blocking for check in self.checks)

    def problems(self, strict: bool = False) -> list[DoctorCheck]:
        """Blocking rows; with ``strict`` also every broken optional piece."""
        return [c for c in self.checks if c.blocking or (strict and c.status == "broken")]

    def to_json(self) -> str:
        """The report as JSON, ``ok`` and each row's ``blocking`` included."""
        data = self.model_dump(mode="json")
        data["ok"] = self.ok
        for row, check in zip(data["checks"], self.checks, strict=True):
            row["blocking"] = check.blocking
        return json.dumps(data, indent=2)


# --- what is installed -------------------------------------------------------------------------


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """{distribution: version, or None when not installed}."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The instruction-set extensions the native backends care about that this CPU reports."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    present = set(line.partition(":")[2].split())
    return [flag for flag in CPU_FLAGS if flag in present]


def process_age_s() -> float:
    """Seconds since this process started (0 when psutil cannot tell): the start-up a time budget has used."""
    try:
        import psutil

        return max(0.0, time.time() - psutil.Process().create_time())
    except (ImportError, OSError):
        return 0.0


def _existing_parent(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


# --- the checks --------------------------------------------------------------------------------


def _system_checks(versions: dict[str, str | None], flags: list[str], repack: bool) -> list[DoctorCheck]:
    python_ok = sys.version_info >= (3, 11)
    checks = [
        DoctorCheck(
            group="system",
            name="python",
            status="ok" if python_ok else "broken",
            required=True,
            detail=f"{platform.python_version()} at {sys.executable}",
            hint="" if python_ok else "visorch needs Python >= 3.11: PYTHON=python3.11 ./install.sh",
        ),
        DoctorCheck(
            group="system",
            name="cpu",
            status="info",
            detail=f"{platform.machine()}, {os.cpu_count()} cores; {' '.join(flags) or 'no AVX2'}"
            + (f"; llama.cpp repacking {'on' if repack else 'off'}"),
        ),
    ]
    headless, gui = versions.get("opencv-python-headless"), versions.get("opencv-python")
    if gui:
        checks.append(
            DoctorCheck(
                group="packages",
                name="opencv build",
                status="info",
                detail=f"opencv-python {gui} (the GUI build ultralytics and sahi require; it links libGL.so.1 and "
                f"libgthread) beside opencv-python-headless {headless}",
            )
        )
    missing_core = [
        module for module in ("langgraph", "supervision", "cv2") if importlib.util.find_spec(module) is None
    ]
    checks.append(
        DoctorCheck(
            group="packages",
            name="agent packages",
            required=True,
            status="missing" if missing_core else "ok",
            detail=f"not importable: {', '.join(missing_core)}" if missing_core else "langgraph, supervision, cv2",
            hint="pip install 'visorch[all]' (or rerun ./install.sh)" if missing_core else "",
        )
    )
    return checks


@dataclass
class _Plan:
    """What to probe, and the rows found without running anything."""

    specs: list[ProbeSpec]
    rows: list[DoctorCheck]
    required_pack_items: set[str]
    main_memory_mb: float


def _plan(quick: bool) -> _Plan:
    from visorch.config import VisorchSettings
    from visorch.llm.llama_cpp_backend import default_gguf_path
    from visorch.tools.catalog import default_backends
    from visorch.tools.models.manager import ModelManager
    from visorch.tools.offline_pack.manifest import WEIGHTS_ITEMS

    settings = VisorchSettings()
    llm = settings.llm
    models = ModelManager(default_backends(), weights_root=settings.weights_root, preferred=settings.models.preferred)
    specs: list[ProbeSpec] = []
    rows: list[DoctorCheck] = []
    required_items: set[str] = set()
    main_memory = 600.0  # the agent process itself

    opencv = ProbeSpec("opencv", f"{PROBES_MODULE}:probe_opencv", library="opencv", required=True, memory_mb=150)
    specs.append(opencv)
    llm_spec = ProbeSpec(
        "llm",
        f"{PROBES_MODULE}:probe_llm",
        library="llama.cpp" if llm.backend == "llama-cpp" else "python",
        required=True,
        memory_mb=1600,
        hint_context={"llm_repack": llm.repack} if llm.backend == "llama-cpp" else {},
    )
    gguf = Path(llm.model) if llm.model else default_gguf_path(settings.weights_root)
    if llm.backend == "llama-cpp" and importlib.util.find_spec("llama_cpp") is None:
        rows.append(_missing_row("llm", "llama-cpp-python is not installed", "pip install 'visorch[llm]'", True))
    elif llm.backend == "llama-cpp" and not gguf.is_file():
        rows.append(_missing_row("llm", f"no GGUF model at {gguf}", "visorch models install-offline", True))
    else:
        specs.insert(0, llm_spec)
    if llm.backend == "llama-cpp" and not llm.model:
        required_items.add(WEIGHTS_ITEMS[0].name)
    if llm.backend == "llama-cpp":
        size_mb = gguf.stat().st_size / 2**20 if gguf.is_file() else WEIGHTS_ITEMS[0].size_bytes / 2**20
        main_memory += size_mb + llm.prompt_cache_mb + 200  # weights, saved prompt states, KV cache

    demo_detector = None
    try:
        # the detector LOC uses: the preferred one, else the best installed
        demo_detector = models.backend_for(Capability.DETECTION).name
        required_items.add(demo_detector)
    except VisorchError as error:
        rows.append(_missing_row("detection", str(error), "./install.sh, or VISORCH_MODELS__PREFERRED", True))
    by_capability: dict[str, list[str]] = {}
    unprobed: list[str] = []
    for backend in models.backends():
        if models.not_installed_reason(backend.name) is not None:
            by_capability.setdefault(backend.capability, []).append(backend.name)
            continue
        required = backend.name == demo_detector
        if required or backend.capability == Capability.EMBEDDING:
            main_memory += backend.memory_mb
        if quick and not required:
            unprobed.append(backend.name)
            continue
        library = library_of(backend.python_modules)
        specs.append(
            ProbeSpec(
                backend.name,
                f"{PROBES_MODULE}:probe_backend",
                backend.name,
                library=library,
                required=required,
                memory_mb=backend.memory_mb + PYTHON_OVERHEAD_MB.get(library, 250.0),
            )
        )
    for capability, names in sorted(by_capability.items()):
        installed = models.has_installed(capability)
        commands = sorted({models.backend(name).install_command for name in names})
        rows.append(
            DoctorCheck(
                group="backends",
                name=f"{capability} (others)" if installed else capability,
                status="info" if installed else "warning",
                detail=("not installed: " if installed else "nothing installed: ") + ", ".join(names),
                hint="" if installed else "optional: " + "; ".join(commands[:2]),
            )
        )
    if unprobed:
        rows.append(
            DoctorCheck(
                group="backends", name="not probed", status="info",
                detail="installed, skipped by --quick: " + ", ".join(unprobed),
            )
        )  # fmt: skip
    return _Plan(specs=specs, rows=rows, required_pack_items=required_items, main_memory_mb=main_memory)


def _missing_row(name: str, detail: str, fix: str, required: bool) -> DoctorCheck:
    return DoctorCheck(group="backends", name=name, status="missing", required=required, detail=detail, hint=fix)


def _weights_checks(required_items: set[str]) -> tuple[list[DoctorCheck], int]:
    """The offline pack's own verification (every checksum); also the bytes its missing items need to install."""
    from visorch.config import VisorchSettings
    from visorch.tools.offline_pack import INSTALL_COMMAND
    from visorch.tools.offline_pack.installer import CONVERTER_BYTES, check_offline_pack
    from visorch.tools.offline_pack.manifest import WEIGHTS_ITEMS

    report = check_offline_pack(VisorchSettings().weights_root)
    statuses: dict[str, Status] = {"present": "ok", "installed": "ok", "missing": "missing", "failed": "broken"}
    rows = []
    for item in report.items:
        status = statuses[item.status]
        required = item.name in required_items
        if status == "missing" and not required:
            status = "warning"
        detail = f"{item.size_mb:,.1f} MB, checksums match" if item.ok else item.detail
        if item.ok and item.detail:
            detail = item.detail
        hint = "" if item.ok else INSTALL_COMMAND
        rows.append(
            DoctorCheck(
                group="weights",
                name=item.name,
                status=status,
                required=required,
                detail=detail,
                hint=hint,
                seconds=item.seconds,
            )
        )
    missing = [item for item in WEIGHTS_ITEMS if not report.item(item.name).ok]
    needed = sum(2 * item.size_bytes for item in missing)
    if any(item.convert_from for item in missing):
        needed += CONVERTER_BYTES
    return rows, needed


def _resource_checks(install_bytes: int, main_memory_mb: float, blocking_install: bool) -> list[DoctorCheck]:
    from visorch.config import VisorchSettings

    root = VisorchSettings().weights_root
    free = shutil.disk_usage(_existing_parent(root)).free
    headroom = 2**30  # derived images, the result cache, checkpoints
    needed = install_bytes + headroom
    if free >= needed:
        disk_status: Status = "ok"
    else:
        disk_status = "broken" if install_bytes else "warning"
    disk = DoctorCheck(
        group="resources",
        name="disk",
        status=disk_status,
        required=blocking_install and disk_status == "broken",
        detail=f"{free / 2**30:,.1f} GB free in {_existing_parent(root)}; needs {needed / 2**30:,.1f} GB"
        + (" (to install the missing weights)" if install_bytes else " (caches)"),
        hint="" if disk_status == "ok" else "free some space or point VISORCH_HOME at a larger disk",
    )
    available = available_memory_mb()
    minimum = main_memory_mb - 1024  # without the LLM's saved prompt states
    if available >= main_memory_mb:
        memory_status: Status = "ok"
        hint = ""
    elif available >= minimum:
        memory_status = "warning"
        hint = "set VISORCH_LLM_PROMPT_CACHE_MB=0 to keep no saved prompt states (slower repeated prompts)"
    else:
        memory_status = "broken"
        hint = "close other programs, or use a smaller GGUF (VISORCH_LLM_MODEL) or a server (VISORCH_LLM_BACKEND)"
    memory = DoctorCheck(
        group="resources",
        name="memory",
        status=memory_status,
        required=True,
        detail=f"{available / 1024:,.1f} GB available; the main job needs about {main_memory_mb / 1024:,.1f} GB",
        hint=hint,
    )
    return [disk, memory]


def run_doctor(
    quick: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    parallel: int | None = None,
    extra_probes: Sequence[ProbeSpec] = (),
    progress: Callable[[str], None] | None = None,
    spent_s: float = 0.0,
) -> DoctorReport:
    """Run every check; ``quick`` probes only what the main job needs. Never raises for a broken backend.

    ``timeout_s`` bounds the whole run, ``spent_s`` of it already gone (the command's start-up, see
    :func:`process_age_s`), so doctor ends within a hook's limit.
    """
    started = time.perf_counter() - spent_s
    versions = package_versions()
    flags = cpu_flags()
    try:
        plan = _plan(quick)
    except Exception as error:  # visorch itself does not import: say so in a row instead of a traceback
        broken = DoctorCheck(
            group="packages",
            name="visorch imports",
            status="broken",
            required=True,
            detail=f"{type(error).__name__}: {error}",
            hint="pip install -e '.[all]' (or rerun ./install.sh)",
        )
        plan = _Plan(specs=[], rows=[broken], required_pack_items=set(), main_memory_mb=0.0)
    repack = any(spec.hint_context.get("llm_repack") for spec in plan.specs)
    specs = [*plan.specs, *extra_probes]
    if progress is not None:
        progress(f"probing {len(specs)} backends in child processes (up to {timeout_s:.0f} s)")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="doctor-weights") as pool:
        weights = pool.submit(_weights_checks, plan.required_pack_items)  # hashing runs beside the probes
        remaining = timeout_s - (time.perf_counter() - started)
        probes = run_probes(specs, timeout_s=remaining, parallel=parallel)
        weight_rows, install_bytes = weights.result()
    blocking_install = any(row.blocking for row in weight_rows)
    checks = [
        *_system_checks(versions, flags, repack),
        *probes,
        *plan.rows,
        *weight_rows,
        *_resource_checks(install_bytes, plan.main_memory_mb, blocking_install),
    ]
    return DoctorReport(
        python=platform.python_version(),
        platform=platform.platform(),
        cpu_flags=flags,
        packages=versions,
        checks=checks,
        seconds=round(time.perf_counter() - started, 1),
    )


# --- the table ---------------------------------------------------------------------------------

STATUS_STYLE: dict[Status, str] = {
    "ok": "[green]ok[/green]",
    "warning": "[yellow]warning[/yellow]",
    "broken": "[red]broken[/red]",
    "missing": "[yellow]missing[/yellow]",
    "info": "[dim]info[/dim]",
}


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def render_report(report: DoctorReport) -> Any:
    """The report as a rich table, grouped, with a fix for every row that needs one."""
    from rich.table import Table

    table = Table(title=f"visorch doctor (Python {report.python}, {report.seconds:.1f} s)", show_lines=False)
    for column in ("check", "status", "detail", "what to do"):
        table.add_column(column, overflow="fold")
    group = None
    for check in report.checks:
        if group is not None and check.group != group:
            table.add_section()
        group = check.group
        status = STATUS_STYLE[check.status]
        if check.blocking:
            status = "[bold red]" + check.status + "[/bold red]"
        name = f"{check.name}" + (" [dim](main job)[/dim]" if check.required else "")
        seconds = f" [dim]{check.seconds:.1f} s[/dim]" if check.seconds else ""
        table.add_row(name, status, _escape(check.detail) + seconds, _escape(check.hint))
    table.add_section()
    installed = ", ".join(f"{name} {version}" for name, version in report.packages.items() if version)
    table.add_row("packages", "[dim]info[/dim]", _escape(installed), "")
    return table


def summary_line(report: DoctorReport) -> str:
    """One closing line: whether the main job can run, and how many optional pieces need attention."""
    broken = [c.name for c in report.checks if c.status == "broken" and not c.blocking]
    warnings = [c.name for c in report.checks if c.status in ("warning", "missing") and not c.blocking]
    if report.ok:
        line = "[green]the main job (visorch demo) can run[/green]"
    else:
        line = "[bold red]the main job cannot run: " + ", ".join(c.name for c in report.problems()) + "[/bold red]"
    if broken:
        line += f"; [red]broken optional: {', '.join(broken)}[/red]"
    if warnings:
        line += f"; [yellow]warnings: {', '.join(warnings)}[/yellow]"
    return line
