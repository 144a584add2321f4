"""The model manager and result cache, with small in-test backends (named as test backends)."""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from pathlib import Path
from typing import Annotated

import pytest
import visorch.tools
from visorch.tools.context import ToolContext
from visorch.tools.errors import MissingWeightsError, ToolExecutionError, ToolNotInstalledError, UnknownBackendError
from visorch.tools.images import ImageRef, ImageStore
from visorch.tools.models.backend import Backend, LoadRequest
from visorch.tools.models.cache import ResultCache, code_revision, files_revision, result_key
from visorch.tools.models.manager import ModelManager
from visorch.tools.registry import tool


class CountingModel:
    """Test model: records the batches it was called with."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.calls: list[list[int]] = []

    def double(self, items: list[int]) -> list[int]:
        self.calls.append(list(items))
        time.sleep(0.05)
        return [2 * item for item in items]


def _test_backend(
    name: str, loads: list[str], memory_mb: float = 100.0, weights: bool = True, version: str = "1"
) -> Backend:
    def load(request: LoadRequest) -> CountingModel:
        time.sleep(0.2)
        loads.append(name)
        return CountingModel(request.device)

    return Backend(
        name=name,
        capability="test",
        title=f"test backend {name}",
        version=version,
        license="MIT",
        size_mb=1,
        install_command=f"visorch models pull {name}",
        load=load,
        locate=(lambda root: root) if weights else (lambda root: None),
        memory_mb=memory_mb,
    )


def test_ten_concurrent_calls_load_a_model_once(tmp_path: Path) -> None:
    loads: list[str] = []
    manager = ModelManager([_test_backend("a", loads)], tmp_path)
    models = []

    def use_a() -> None:
        with manager.use("a") as model:
            models.append(model)

    threads = [threading.Thread(target=use_a) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loads == ["a"] and len({id(model) for model in models}) == 1


def test_memory_budget_evicts_least_recently_used(tmp_path: Path) -> None:
    loads: list[str] = []
    backends = [_test_backend(name, loads, memory_mb=100) for name in ("a", "b", "c")]
    manager = ModelManager(backends, tmp_path, memory_budget_mb=250)
    manager.load("a")
    manager.load("b")
    manager.load("a")  # a is now more recent than b
    manager.load("c")
    assert list(manager.loaded()) == ["a", "c"]
    manager.load("b")
    assert loads == ["a", "b", "c", "b"]


def test_models_in_use_are_not_evicted(tmp_path: Path) -> None:
    loads: list[str] = []
    manager = ModelManager([_test_backend(n, loads, memory_mb=100) for n in ("a", "b")], tmp_path, memory_budget_mb=150)
    with manager.use("a"):
        manager.load("b")
        assert "a" in manager.loaded()


def test_device_choice_and_overrides(tmp_path: Path) -> None:
    loads: list[str] = []
    manager = ModelManager(
        [_test_backend("a", loads), _test_backend("b", loads)], tmp_path, device_overrides={"b": "cuda:1"}
    )
    with manager.use("a") as model:
        assert model.device == "cpu"
    assert manager.device_for(manager.backend("b")) == "cuda:1"


def test_missing_weights_name_the_fixing_command(tmp_path: Path) -> None:
    manager = ModelManager([_test_backend("a", [], weights=False)], tmp_path)
    assert not manager.has_installed("test")
    with pytest.raises(MissingWeightsError, match="run visorch models pull a"):
        manager.backend_for("test")
    with pytest.raises(ToolNotInstalledError, match="no backend is declared for ocr"):
        manager.backend_for("ocr")
    with pytest.raises(UnknownBackendError, match="no model backend named 'zzz'"):
        manager.backend("zzz")
    with pytest.raises(UnknownBackendError, match=r"did you mean a\? known backends: a"):
        manager.backend("ab")


def test_missing_python_package_is_reported(tmp_path: Path) -> None:
    backend = Backend(
        name="needs-pkg", capability="test", title="t", version="1", license="MIT", size_mb=1,
        install_command="pip install 'visorch[x]'", load=lambda r: None, locate=lambda root: root,
        python_modules=("a_module_that_does_not_exist",),
    )  # fmt: skip
    manager = ModelManager([backend], tmp_path)
    with pytest.raises(ToolNotInstalledError, match="missing Python packages: a_module_that_does_not_exist"):
        manager.backend_for("test")


def test_a_crashing_loader_gives_a_typed_error(tmp_path: Path) -> None:
    def broken(request: LoadRequest) -> None:
        raise ValueError("bad weights file")

    backend = Backend(
        name="broken", capability="test", title="t", version="1", license="MIT", size_mb=1,
        install_command="x", load=broken, locate=lambda root: root,
    )  # fmt: skip
    with pytest.raises(ToolExecutionError, match="loading broken failed: ValueError: bad weights file"):
        ModelManager([backend], tmp_path).load("broken")


def test_concurrent_calls_are_batched(tmp_path: Path) -> None:
    loads: list[str] = []
    manager = ModelManager([_test_backend("a", loads)], tmp_path)
    results: dict[int, int] = {}

    def call(item: int) -> None:
        results[item] = manager.run_batched(
            "a", "double", item, lambda model, items: model.double(items), window_s=0.05
        )

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {i: 2 * i for i in range(8)}
    assert loads == ["a"]
    assert sum(manager.batch_sizes("a")) == 8 and len(manager.batch_sizes("a")) <= 2


def test_batch_errors_reach_every_caller(tmp_path: Path) -> None:
    manager = ModelManager([_test_backend("a", [])], tmp_path)

    def failing(model: CountingModel, items: list[int]) -> list[int]:
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError, match="model crashed"):
        manager.run_batched("a", "fail", 1, failing)


def test_result_cache_survives_restarts_and_invalidates_on_version(tmp_path: Path, bus_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    image = store.load(bus_path)
    key = result_key("LOC", "nanodet-m", "1", {"image": image, "object": "bus"})
    assert key == result_key("LOC", "nanodet-m", "1", {"object": "bus", "image": store.load(bus_path)})
    assert key != result_key("LOC", "nanodet-m", "2", {"image": image, "object": "bus"})
    cache = ResultCache(tmp_path / "results.sqlite")
    cache.put(key, {"answer": image})
    cache.close()
    reopened = ResultCache(tmp_path / "results.sqlite")
    found, value = reopened.lookup(key)
    assert found and value["answer"].sha256 == image.sha256
    assert reopened.lookup("missing") == (False, None)


def test_result_keys_change_with_the_tools_code_or_shipped_data(tmp_path: Path, bus_path: Path) -> None:
    # An upgrade, a refitted calibration or an edited checkout must not answer from results of the old code.
    package = tmp_path / "tools"
    shutil.copytree(Path(visorch.tools.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    before = files_revision([package])
    assert files_revision([package]) == before
    (package / "fusion" / "calibration.json").write_text("{}")
    assert files_revision([package]) != before
    image = ImageStore(tmp_path / "images").load(bus_path)
    arguments = {"image": image, "object": "bus"}
    now = result_key("LOC", "nanodet-m", "1", arguments)
    assert now == result_key("LOC", "nanodet-m", "1", arguments, code_revision())
    assert result_key("LOC", "nanodet-m", "1", arguments, "old") != result_key("LOC", "nanodet-m", "1", arguments)


calls: list[str] = []


@tool(name="TEST_CACHED", category="test", capability="test", cacheable=True, example="A=TEST_CACHED(image=IMAGE)")
def cached_for_test(image: Annotated[ImageRef, "image"], ctx: ToolContext) -> int:
    """Test tool: a model tool whose calls are counted."""
    calls.append(image.sha256)
    with ctx.models.use(ctx.models.backend_for("test").name) as model:
        return int(model.double([1])[0])


def test_cacheable_tools_skip_repeated_calls(tmp_path: Path, bus_path: Path) -> None:
    loads: list[str] = []
    ctx = ToolContext(
        images=ImageStore(tmp_path / "images"),
        models=ModelManager([_test_backend("a", loads)], tmp_path),
        results=ResultCache(tmp_path / "results.sqlite"),
    )
    image = ctx.images.load(bus_path)
    calls.clear()
    first = cached_for_test.run_cached(ctx, {"image": image})
    second = cached_for_test.run_cached(ctx, {"image": image})
    assert first == (2, False) and second == (2, True) and len(calls) == 1


def test_replaced_weights_or_a_newly_installed_backend_do_not_reuse_cached_results(
    tmp_path: Path, bus_path: Path
) -> None:
    weights = tmp_path / "weights-a"
    weights.mkdir()
    (weights / "model.bin").write_bytes(b"old")
    other: list[Path] = []
    backend_a = dataclasses.replace(_test_backend("a", []), locate=lambda root: weights)
    backend_b = dataclasses.replace(
        _test_backend("b", []), priority=200, locate=lambda root: other[0] if other else None
    )
    models = ModelManager([backend_a, backend_b], tmp_path)
    ctx = ToolContext(images=ImageStore(tmp_path / "images"), models=models, results=ResultCache(None))
    image = ctx.images.load(bus_path)
    calls.clear()
    cached_for_test.run_cached(ctx, {"image": image})
    assert cached_for_test.run_cached(ctx, {"image": image})[1]
    (weights / "model.bin").write_bytes(b"new weights")  # same backend version, new file
    models.refresh()
    assert not cached_for_test.run_cached(ctx, {"image": image})[1]
    other.append(weights)  # a fallback backend appears
    models.refresh()
    assert not cached_for_test.run_cached(ctx, {"image": image})[1]
    assert len(calls) == 3


def _device_backend(name: str, loads: list[str], devices: tuple[str, ...], capability: str = "test") -> Backend:
    return dataclasses.replace(_test_backend(name, loads), devices=devices, capability=capability)


def test_device_order_cuda_then_mps_then_cpu_and_a_cpu_backend_does_not_pin_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import visorch.tools.models.manager as manager_module

    monkeypatch.setattr(manager_module, "available_devices", lambda: ["cuda", "mps", "cpu"])
    loads: list[str] = []
    manager = ModelManager(
        [
            _device_backend("onnx", loads, ("cpu",)),
            _device_backend("torch", loads, ("cuda", "mps", "cpu")),
            _device_backend("apple", loads, ("mps", "cpu")),
        ],
        tmp_path,
    )
    assert manager.device_for(manager.backend("onnx")) == "cpu"  # asked first: must not pin the rest to cpu
    assert manager.device_for(manager.backend("torch")) == "cuda"
    assert manager.device_for(manager.backend("apple")) == "mps"
    monkeypatch.setattr(manager_module, "available_devices", lambda: ["mps", "cpu"])
    assert (
        ModelManager([_device_backend("torch", loads, ("cuda", "mps", "cpu"))], tmp_path).device_for(
            _device_backend("torch", loads, ("cuda", "mps", "cpu"))
        )
        == "mps"
    )


def test_device_override_by_capability_covers_its_tools_and_a_backend_override_wins(tmp_path: Path) -> None:
    loads: list[str] = []
    manager = ModelManager(
        [_device_backend("a", loads, ("cuda", "cpu"), "ocr"), _device_backend("b", loads, ("cuda", "cpu"), "ocr")],
        tmp_path,
        device_overrides={"ocr": "cpu", "b": "cuda:1"},
    )
    assert manager.device_for(manager.backend("a")) == "cpu"
    assert manager.device_for(manager.backend("b")) == "cuda:1"


def test_vram_budget_evicts_only_gpu_models(tmp_path: Path) -> None:
    # test backends on a named device: nothing is really put on a GPU, so VRAM is the declared estimate
    loads: list[str] = []
    backends = [_test_backend(name, loads, memory_mb=100) for name in ("gpu1", "cpu1", "gpu2")]
    manager = ModelManager(
        backends, tmp_path, device_overrides={"gpu1": "cuda", "gpu2": "cuda", "cpu1": "cpu"}, vram_budget_mb=150
    )
    manager.load("gpu1")
    manager.load("cpu1")
    assert manager.loaded_vram_mb() == 100
    manager.load("gpu2")
    assert list(manager.loaded()) == ["cpu1", "gpu2"]  # the older GPU model went; the CPU one stays
    assert manager.loaded()["gpu2"]["vram_mb"] == 100 and manager.loaded()["cpu1"]["vram_mb"] == 0
