"""Running ``visorch doctor``'s probes in child processes, and what to do when one dies.

Each probe (:mod:`visorch.doctor_probes`) runs in its own process with a deadline, so a native
crash (SIGSEGV in llama.cpp, SIGILL in a library built for another CPU), a hang or a Python error
becomes a :class:`DoctorCheck` naming the signal, the stage the probe had reached and the switch
of that native library that avoids it. Probes run concurrently within the free memory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from visorch.doctor_probes import ERROR_PREFIX, RESULT_PREFIX, STAGE_PREFIX

Status = Literal["ok", "warning", "broken", "missing", "info"]
Library = Literal["llama.cpp", "onnxruntime", "ctranslate2", "torch", "litert", "opencv", "python"]

MIN_PROBE_S = 5.0
"""A probe is not started with less of the budget left than this (it could not finish)."""
PROBES_MODULE = "visorch.doctor_probes"


class DoctorCheck(BaseModel):
    """One row of the report."""

    group: str
    """system, packages, backends, weights or resources."""
    name: str
    status: Status
    detail: str = ""
    hint: str = ""
    """What to do about it (empty when nothing needs doing)."""
    required: bool = False
    """Whether the main job (``visorch demo``) needs it."""
    seconds: float | None = None
    log: str = ""
    """For a failed probe: the end of the child's output (JSON report only)."""

    @property
    def blocking(self) -> bool:
        """Whether this row makes doctor fail: something the main job needs is broken or missing."""
        return self.required and self.status in ("broken", "missing")


# --- crash hints: the switch each native library offers ----------------------------------------


def crash_hint(library: Library, signal_name: str, llm_repack: bool = False) -> str:
    """What to set or rebuild when ``library`` dies with ``signal_name``."""
    if library == "llama.cpp":
        if llm_repack:
            return "set VISORCH_LLM_REPACK=0 (llama.cpp's weight repacking crashes on some CPUs, AMX Xeons among them)"
        rebuild = (
            "rebuild llama-cpp-python for a generic CPU: CMAKE_ARGS='-DGGML_NATIVE=OFF' "
            ".venv/bin/pip install --force-reinstall --no-cache-dir --no-deps llama-cpp-python"
        )
        if signal_name == "SIGILL":
            return f"it was compiled for another CPU's instructions: {rebuild}"
        return f"repacking is already off (VISORCH_LLM_REPACK=0); {rebuild}"
    if library == "ctranslate2":
        return (
            "set CT2_FORCE_CPU_ISA=AVX2 (or GENERIC) to keep CTranslate2 off AVX-512 kernels; "
            "CT2_USE_MKL=0 switches its matrix maths from MKL to oneDNN"
        )
    if library == "torch":
        return (
            "set ATEN_CPU_CAPABILITY=avx2 (or default) and ONEDNN_MAX_CPU_ISA=AVX2 to keep PyTorch and oneDNN "
            "off AVX-512/AMX kernels"
        )
    if library == "onnxruntime":
        return (
            "ONNX Runtime picks its CPU kernels itself and has no switch to limit them; install another "
            "release (.venv/bin/pip install --force-reinstall 'onnxruntime<VERSION>') and report the crash"
        )
    if library == "litert":
        return (
            "LiteRT runs its kernels through XNNPACK, which has no switch in the environment; install another "
            "release (.venv/bin/pip install --force-reinstall 'ai-edge-litert<VERSION>') and report the crash"
        )
    if library == "opencv":
        return "reinstall OpenCV: .venv/bin/pip install --force-reinstall --no-deps opencv-python-headless"
    return "report it with the output of `visorch doctor --json`"


def error_hint(library: Library, error: str) -> str:
    """What to do about a probe's Python-level error, where the message says enough to tell."""
    if "libGL.so" in error or "libgthread" in error or "libglib" in error:
        return (
            "OpenCV's GUI build (opencv-python, which ultralytics and sahi require) needs system libraries: "
            "apt-get install libgl1 libglib2.0-0"
        )
    if "No module named" in error:
        return "pip install 'visorch[all]' (or rerun ./install.sh)"
    if "not installed" in error or "visorch models install-offline" in error or "missing weights" in error:
        return "visorch models install-offline"
    return ""


def library_of(python_modules: Iterable[str]) -> Library:
    """The native library a backend runs on, from the Python modules it needs."""
    modules = set(python_modules)
    if modules & {"llama_cpp"}:
        return "llama.cpp"
    if modules & {"ctranslate2", "faster_whisper"}:
        return "ctranslate2"
    if modules & {"onnxruntime"}:
        return "onnxruntime"
    if modules & {"torch", "sentence_transformers", "transformers", "easyocr", "ultralytics", "segment_anything"}:
        return "torch"
    if modules & {"ai_edge_litert"}:
        return "litert"
    if modules & {"cv2"}:
        return "opencv"
    return "python"


# --- probes in child processes -----------------------------------------------------------------


@dataclass(frozen=True)
class ProbeSpec:
    """One child-process probe: ``target`` is a ``module:function`` taking ``argument``."""

    name: str
    target: str
    argument: str = ""
    library: Library = "python"
    required: bool = False
    memory_mb: float = 500.0
    hint_context: dict[str, Any] = field(default_factory=dict)
    """Extra facts for the crash hint (``llm_repack``)."""


def _last_line(text: str, prefix: str) -> str | None:
    lines = [line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)]
    return lines[-1] if lines else None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def run_probe(spec: ProbeSpec, timeout_s: float) -> DoctorCheck:
    """Run one probe in a child process; its crash, error or timeout becomes the row, never doctor's end."""
    started = time.perf_counter()
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false", "HF_HUB_OFFLINE": "1"}
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("PYTHONFAULTHANDLER", "1")  # a native crash also prints the Python stack to the log
    command = [sys.executable, "-m", PROBES_MODULE, spec.target, spec.argument]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=max(timeout_s, 0.1))
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(process)
        output, _ = process.communicate()
        timed_out = True
    seconds = round(time.perf_counter() - started, 1)
    stage = _last_line(output, STAGE_PREFIX) or "starting"
    log = output[-1500:]

    def row(status: Status, detail: str, hint: str = "") -> DoctorCheck:
        return DoctorCheck(
            group="backends", name=spec.name, required=spec.required, seconds=seconds, status=status,
            detail=detail, hint=hint, log="" if status == "ok" else log,
        )  # fmt: skip

    if timed_out:
        hint = "the machine may be busy: run `visorch doctor --timeout 180`; if it hangs again, "
        status: Status = "broken" if spec.required else "warning"
        return row(
            status,
            f"timed out after {seconds:.0f} s while {stage}",
            hint + crash_hint(spec.library, "SIGKILL", **spec.hint_context),
        )
    if process.returncode < 0:
        name = _signal_name(-process.returncode)
        return row("broken", f"crashed ({name}) while {stage}", crash_hint(spec.library, name, **spec.hint_context))
    result = _last_line(output, RESULT_PREFIX)
    if process.returncode == 0 and result is not None:
        return row("ok", str(json.loads(result)["detail"]))
    error_line = _last_line(output, ERROR_PREFIX)
    error = json.loads(error_line)["error"] if error_line else f"exited {process.returncode}: {output[-300:].strip()}"
    return row("broken", f"failed while {stage}: {error}", error_hint(spec.library, error))


def _kill_group(process: subprocess.Popen[str]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the probe and anything it started
    except (ProcessLookupError, PermissionError):
        process.kill()


class _MemoryGate:
    """Lets probes start while their memory fits what is free (one always may, so nothing waits forever)."""

    def __init__(self, budget_mb: float) -> None:
        self.budget_mb = budget_mb
        self.used_mb = 0.0
        self.running = 0
        self.condition = threading.Condition()

    def acquire(self, needed_mb: float) -> None:
        with self.condition:
            while self.running and self.used_mb + needed_mb > self.budget_mb:
                self.condition.wait()
            self.used_mb += needed_mb
            self.running += 1

    def release(self, needed_mb: float) -> None:
        with self.condition:
            self.used_mb -= needed_mb
            self.running -= 1
            self.condition.notify_all()


def run_probes(
    specs: Sequence[ProbeSpec],
    timeout_s: float = 55.0,
    parallel: int | None = None,
    memory_budget_mb: float | None = None,
) -> list[DoctorCheck]:
    """Run probes concurrently (``parallel`` at a time, within the memory budget), all by ``timeout_s``."""
    deadline = time.perf_counter() + timeout_s
    gate = _MemoryGate(memory_budget_mb if memory_budget_mb is not None else 0.7 * available_memory_mb())
    workers = parallel or max(2, min(4, (os.cpu_count() or 1) + 1))

    def run(spec: ProbeSpec) -> DoctorCheck:
        gate.acquire(spec.memory_mb)
        try:
            remaining = deadline - time.perf_counter()
            if remaining < MIN_PROBE_S:
                return DoctorCheck(
                    group="backends",
                    name=spec.name,
                    status="warning" if not spec.required else "broken",
                    required=spec.required,
                    detail="not run: doctor's time budget was used up",
                    hint="run `visorch doctor --timeout 180` on a busy machine",
                )
            return run_probe(spec, remaining)
        finally:
            gate.release(spec.memory_mb)

    # what the main job needs first, then the cheapest, so a tight budget leaves the fewest rows unprobed
    order = sorted(range(len(specs)), key=lambda i: (not specs[i].required, specs[i].memory_mb))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="doctor-probe") as pool:
        done = dict(zip(order, pool.map(run, [specs[i] for i in order]), strict=True))
    return [done[i] for i in range(len(specs))]


def available_memory_mb() -> float:
    """Memory available to new processes, in MB."""
    try:
        import psutil

        return float(psutil.virtual_memory().available) / 2**20
    except ImportError:
        pages = os.sysconf("SC_AVPHYS_PAGES") if hasattr(os, "sysconf") else 0
        return float(pages * os.sysconf("SC_PAGE_SIZE")) / 2**20 if pages else 0.0
