"""The model manager: the one object that owns every loaded model.

Models load lazily on first use, once even when many threads ask at the same moment, on the
best device (cuda -> mps -> cpu, overridable per backend or per capability), and are evicted
least-recently-used first when a memory budget (RAM, and VRAM for models on a GPU) would be
exceeded. Loads of different backends run one at a time, so the memory each one measures (the
process's RSS growth while it loads) is its own and the budget check before it sees every model
loaded so far. Nothing else in visorch holds models.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib.util
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from visorch.tools.errors import MissingWeightsError, ToolExecutionError, ToolNotInstalledError, UnknownBackendError
from visorch.tools.models.backend import Backend, LoadRequest
from visorch.tools.models.batching import Batcher
from visorch.tools.remote.target import RemoteExpertError


class BackendStatus(BaseModel):
    """A backend's installation state, for ``visorch models`` and the planner."""

    name: str
    capability: str
    title: str
    installed: bool
    reason: str | None
    size_mb: float
    license: str
    version: str
    offline: bool
    classical: bool
    install_command: str
    loaded: bool


@dataclass
class _LoadedModel:
    model: Any
    memory_mb: float
    device: str
    load_seconds: float
    vram_mb: float = 0.0
    in_use: int = 0


def _resident_mb() -> float:
    try:
        import psutil

        return float(psutil.Process().memory_info().rss) / 2**20
    except ImportError:  # psutil is optional; fall back to the backend's estimate
        return 0.0


def _cuda_allocated_mb(device: str) -> float:
    """GPU memory torch has allocated on ``device`` (0 when it is not a CUDA device)."""
    if not device.startswith("cuda") or importlib.util.find_spec("torch") is None:
        return 0.0
    import torch

    if not torch.cuda.is_available():
        return 0.0
    return float(torch.cuda.memory_allocated(torch.device(device))) / 2**20


def _release_gpu_memory(device: str) -> None:
    """Hand cached GPU blocks back to the driver after a model on ``device`` was dropped."""
    if device == "cpu" or importlib.util.find_spec("torch") is None:
        return
    import gc

    import torch

    gc.collect()
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device == "mps" and getattr(torch, "mps", None) is not None and torch.backends.mps.is_available():
        torch.mps.empty_cache()


def _fingerprint(location: Path, max_files: int = 256) -> str:
    """A short hash of the names, sizes and modification times of the files at ``location``."""
    files = [location] if location.is_file() else sorted(p for p in location.rglob("*") if p.is_file())[:max_files]
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def available_devices() -> list[str]:
    """Accelerators present here, best first, always ending with 'cpu'."""
    devices: list[str] = []
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            devices.append("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            devices.append("mps")
    devices.append("cpu")
    return devices


class ModelManager:
    """Owns model loading, device placement and the memory budget for all backends."""

    def __init__(
        self,
        backends: Iterable[Backend],
        weights_root: Path,
        device: str | None = None,
        device_overrides: dict[str, str] | None = None,
        memory_budget_mb: float | None = None,
        preferred: dict[str, str] | None = None,
        vram_budget_mb: float | None = None,
    ) -> None:
        self._backends: dict[str, Backend] = {}
        for backend in backends:
            if backend.name in self._backends:
                raise ValueError(f"backend {backend.name} is declared twice")
            self._backends[backend.name] = backend
        self.weights_root = Path(weights_root)
        self.device = device
        self.device_overrides = dict(device_overrides or {})
        self.memory_budget_mb = memory_budget_mb
        self.vram_budget_mb = vram_budget_mb
        self.preferred = dict(preferred or {})
        self._loaded: OrderedDict[str, _LoadedModel] = OrderedDict()
        self._state_lock = threading.Lock()
        self._load_locks: dict[str, threading.Lock] = {name: threading.Lock() for name in self._backends}
        self._loading = threading.Lock()
        """Held while any model loads: concurrent loads would count each other's memory (and pass the
        budget check together before either was counted)."""
        self._batchers: dict[tuple[str, str], Batcher] = {}
        self.load_counts: dict[str, int] = {name: 0 for name in self._backends}
        self.peak_loaded_mb = 0.0
        """The most memory loaded models held at once, as measured at load time (see :meth:`loaded_mb`)."""
        self._installed_cache: dict[str, str | None] = {}
        self._fingerprints: dict[str, str] = {}
        self._devices: list[str] | None = None

    # --- what exists -------------------------------------------------------------------------

    def backends(self, capability: str | None = None) -> list[Backend]:
        """Declared backends (of one capability), preferred first."""
        found = [b for b in self._backends.values() if capability is None or b.capability == capability]
        return sorted(found, key=lambda backend: (backend.priority, backend.name))

    def backend(self, name: str) -> Backend:
        """The backend called ``name``."""
        if name not in self._backends:
            close = difflib.get_close_matches(name, list(self._backends), n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            known = ", ".join(sorted(self._backends))
            raise UnknownBackendError(f"no model backend named {name!r}; {hint}known backends: {known}")
        return self._backends[name]

    def not_installed_reason(self, name: str) -> str | None:
        """None when the backend can load here, else why not. Cached until :meth:`refresh`."""
        if name not in self._installed_cache:
            self._installed_cache[name] = self.backend(name).installed_reason(self.weights_root)
        return self._installed_cache[name]

    def refresh(self) -> None:
        """Forget cached installation checks and weight fingerprints (after installing weights)."""
        self._installed_cache.clear()
        self._fingerprints.clear()

    def weights_fingerprint(self, name: str) -> str:
        """Size and modification time of a backend's weight files: new weights give a new fingerprint."""
        if name not in self._fingerprints:
            remote_fingerprint = self.backend(name).fingerprint
            if remote_fingerprint is not None:
                self._fingerprints[name] = remote_fingerprint(self.weights_root)
                return self._fingerprints[name]
            location = self.backend(name).locate(self.weights_root)
            self._fingerprints[name] = _fingerprint(location) if location is not None else "none"
        return self._fingerprints[name]

    def result_version(self, capability: str, default: Backend | None = None) -> str:
        """What a cached result of ``capability`` depends on, besides the call's arguments.

        The name, declared version and weights fingerprint of every installed backend of the
        capability, the default first: a tool may fall back to another backend (LOC asks the
        open-vocabulary detector for classes the default lacks), and replacing any of their
        weights or installing a new one must not reuse old results. ``default`` is the capability's
        backend when the caller has already looked it up.
        """
        default = default or self.backend_for(capability)
        others = [
            b for b in self.backends(capability) if b.name != default.name and self.not_installed_reason(b.name) is None
        ]
        return ";".join(f"{b.name}@{b.version}#{self.weights_fingerprint(b.name)}" for b in [default, *others])

    def has_installed(self, capability: str) -> bool:
        """Whether any backend of ``capability`` is installed."""
        return any(self.not_installed_reason(b.name) is None for b in self.backends(capability))

    def backend_for(self, capability: str, name: str | None = None) -> Backend:
        """The backend to use: ``name``, else the configured preference, else the best installed."""
        chosen = name or self.preferred.get(capability)
        if chosen:
            backend = self.backend(chosen)
            if backend.capability != capability:
                raise ToolNotInstalledError(f"backend {chosen} does {backend.capability}, not {capability}")
            self._raise_if_missing(backend)
            return backend
        candidates = self.backends(capability)
        if not candidates:
            raise ToolNotInstalledError(f"no backend is declared for {capability}")
        for backend in candidates:
            if self.not_installed_reason(backend.name) is None:
                return backend
        self._raise_if_missing(candidates[0], alternatives=candidates[1:])
        raise AssertionError("unreachable")

    def _raise_if_missing(self, backend: Backend, alternatives: Iterable[Backend] = ()) -> None:
        reason = self.not_installed_reason(backend.name)
        if reason is None:
            return
        others = [b for b in alternatives if b.name != backend.name]
        options = "; or ".join(f"{b.install_command}" for b in [backend, *others][:3])
        message = f"{backend.capability} is not installed ({backend.name}: {reason}): run {options}"
        if reason == "missing weights":
            raise MissingWeightsError(message)
        raise ToolNotInstalledError(message)

    def status(self) -> list[BackendStatus]:
        """Every backend with its installation state."""
        return [
            BackendStatus(
                name=b.name,
                capability=b.capability,
                title=b.title,
                installed=self.not_installed_reason(b.name) is None,
                reason=self.not_installed_reason(b.name),
                size_mb=b.size_mb,
                license=b.license,
                version=b.version,
                offline=b.offline,
                classical=b.classical,
                install_command=b.install_command,
                loaded=b.name in self._loaded,
            )
            for b in self.backends()
        ]

    # --- devices -----------------------------------------------------------------------------

    def device_for(self, backend: Backend) -> str:
        """The device to load ``backend`` on.

        An override for the backend's name, else for its capability (which names the tools that
        use it: 'detection' covers LOC and FIND), else the manager's device, else the best device
        present that the backend supports, in the order cuda -> mps -> cpu.
        """
        wanted = self.device_overrides.get(backend.name) or self.device_overrides.get(backend.capability)
        wanted = wanted or self.device
        if wanted:
            return wanted
        if all(device == "cpu" for device in backend.devices):
            return "cpu"  # no need to import torch to find out
        if self._devices is None:
            self._devices = available_devices()
        for device in self._devices:
            if device in backend.devices:
                return device
        return "cpu"

    # --- loading -----------------------------------------------------------------------------

    def load(self, name: str) -> None:
        """Load backend ``name``'s model now (a warm-up) without holding it; use :meth:`use` to call it."""
        with self.use(name):
            pass

    @contextlib.contextmanager
    def use(self, name: str) -> Iterator[Any]:
        """Hold a model while using it, so the memory budget never evicts it mid-call."""
        entry = self._acquire(name)
        try:
            yield entry.model
        finally:
            with self._state_lock:
                entry.in_use -= 1

    def run_batched(
        self,
        name: str,
        operation: str,
        item: Any,
        run: Callable[[Any, list[Any]], Sequence[Any]],
        max_batch: int = 8,
        window_s: float = 0.01,
    ) -> Any:
        """Run ``run(model, items)`` for ``item``, batched with concurrent calls of the same operation.

        ``operation`` names everything that must be equal within a batch besides the items
        (e.g. ``"detect:person:0.3"``). The model is loaded once and held for each batch.
        """
        key = (name, operation)
        with self._state_lock:
            batcher = self._batchers.get(key)
            if batcher is None:

                def run_on_model(items: list[Any]) -> Sequence[Any]:
                    with self.use(name) as model:
                        return run(model, items)

                batcher = Batcher(run_on_model, max_batch=max_batch, window_s=window_s)
                self._batchers[key] = batcher
        return batcher.submit(item)

    def batch_sizes(self, name: str) -> list[int]:
        """Sizes of the batches run so far for backend ``name`` (all operations)."""
        return [size for (backend, _), b in self._batchers.items() if backend == name for size in b.batch_sizes]

    def _hold_loaded(self, name: str) -> _LoadedModel | None:
        """The loaded entry of ``name``, held (and marked most recently used), or None if not loaded."""
        with self._state_lock:
            entry = self._loaded.get(name)
            if entry is not None:
                self._loaded.move_to_end(name)
                entry.in_use += 1
            return entry

    def _acquire(self, name: str) -> _LoadedModel:
        entry = self._hold_loaded(name)
        if entry is not None:
            return entry
        backend = self.backend(name)
        with self._load_locks[name]:
            entry = self._hold_loaded(name)  # another thread may have loaded it while we waited
            if entry is not None:
                return entry
            self._raise_if_missing(backend)
            on_gpu = self.device_for(backend) != "cpu"
            with self._loading:
                self._make_room(backend.memory_mb, gpu=on_gpu)
                entry = self._load(backend)
                with self._state_lock:
                    self._loaded[name] = entry
                    entry.in_use += 1
                    self.load_counts[name] += 1
                    self.peak_loaded_mb = max(self.peak_loaded_mb, self._loaded_mb())  # before any eviction
                self._make_room(0.0, gpu=on_gpu)  # the model measured larger than declared
            return entry

    def _load(self, backend: Backend) -> _LoadedModel:
        device = self.device_for(backend)
        weights = backend.locate(self.weights_root)
        before = _resident_mb()
        vram_before = _cuda_allocated_mb(device)
        started = time.perf_counter()
        try:
            model = backend.load(LoadRequest(weights_dir=weights or self.weights_root, device=device))
        except (ToolNotInstalledError, RemoteExpertError, MemoryError):
            raise
        except Exception as error:
            raise ToolExecutionError(f"loading {backend.name} failed: {type(error).__name__}: {error}") from error
        seconds = time.perf_counter() - started
        measured = _resident_mb() - before
        vram = _cuda_allocated_mb(device) - vram_before if device != "cpu" else 0.0
        if device != "cpu" and vram <= 0.0:
            vram = backend.memory_mb  # mps (or a backend outside torch): the declared estimate
        return _LoadedModel(
            model=model,
            memory_mb=max(measured, backend.memory_mb),
            device=device,
            load_seconds=seconds,
            vram_mb=vram,
        )

    def _make_room(self, needed_mb: float, gpu: bool = False) -> None:
        """Evict idle models, least recently used first, until ``needed_mb`` fits the budgets.

        RAM counts every model; VRAM (checked when the model to fit goes on a GPU) counts the
        models on a GPU. A model in use is never evicted: over budget beats a deadlock.
        """
        dropped: list[str] = []
        with self._state_lock:
            while True:
                ram_over = self.memory_budget_mb is not None and self._loaded_mb() + needed_mb > self.memory_budget_mb
                vram_over = (
                    gpu
                    and self.vram_budget_mb is not None
                    and (sum(e.vram_mb for e in self._loaded.values()) + needed_mb > self.vram_budget_mb)
                )
                if not (ram_over or vram_over):
                    break
                idle = [name for name, e in self._loaded.items() if e.in_use == 0 and (ram_over or e.vram_mb > 0)]
                if not idle:
                    break
                dropped.append(self._loaded.pop(idle[0]).device)
        for device in set(dropped):
            _release_gpu_memory(device)

    def _loaded_mb(self) -> float:
        """:meth:`loaded_mb` for a caller that holds the state lock."""
        return sum(entry.memory_mb for entry in self._loaded.values())

    def loaded_mb(self) -> float:
        """Memory held by loaded models, as measured at load time."""
        with self._state_lock:  # another thread may be loading or evicting
            return self._loaded_mb()

    def loaded_vram_mb(self) -> float:
        """GPU memory held by loaded models, as measured at load time."""
        with self._state_lock:
            return sum(entry.vram_mb for entry in self._loaded.values())

    def loaded(self) -> dict[str, dict[str, Any]]:
        """Loaded models, least recently used first, with their device, size and load time."""
        with self._state_lock:
            return {
                name: {
                    "device": e.device,
                    "memory_mb": round(e.memory_mb, 1),
                    "vram_mb": round(e.vram_mb, 1),
                    "load_seconds": round(e.load_seconds, 3),
                }
                for name, e in self._loaded.items()
            }

    def unload(self, name: str | None = None) -> None:
        """Drop one loaded model, or all of them (GPU memory they held goes back to the driver)."""
        with self._state_lock:
            names = list(self._loaded) if name is None else [name]
            devices = {entry.device for entry in (self._loaded.pop(n, None) for n in names) if entry is not None}
        for device in devices:
            _release_gpu_memory(device)


def default_weights_root() -> Path:
    """Where weights live by the settings (``VISORCH_WEIGHTS_DIR``, else ``<home>/weights``; config file included).

    Not a second rule: it asks :attr:`visorch.config.VisorchSettings.weights_root`.
    """
    from visorch.config import VisorchSettings  # at call time: the environment and config file as they are now

    return VisorchSettings().weights_root
