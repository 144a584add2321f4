"""Remote experts on a local single-node Ray cluster (no dashboard): the NanoDet detector served by Ray Serve.

Skips when Ray (``pip install visorch[ray]``) or the offline NanoDet weights are missing. One cluster and one
deployment for the whole module (starting them takes tens of seconds on a loaded machine); Ray is shut down
at the end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from visorch.config import VisorchSettings
from visorch.runtime import Runtime
from visorch.tools.catalog import default_backends
from visorch.tools.models.manager import ModelManager, default_weights_root
from visorch.tools.remote.target import RemoteExpert, RemoteExpertError

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'visorch[ray]')")
serve = pytest.importorskip("ray.serve", reason="Ray Serve is not installed (pip install 'visorch[ray]')")

BACKEND = "nanodet-m"
COCO_IMAGES = ("000000000139.jpg", "000000018575.jpg", "000000034417.jpg")
PROGRAM = "BOX0=LOC(image=IMAGE, object='person')\nBOX1=FIND(image=IMAGE)\nFINAL=RESULT(var=BOX1)"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def served_app() -> Iterator[str]:
    """A 2-CPU local Ray cluster serving NanoDet-m as one replica (app ``visorch-nanodet-m``)."""
    if ModelManager(default_backends(), default_weights_root()).not_installed_reason(BACKEND) is not None:
        pytest.skip("NanoDet-m weights are not installed (visorch models install-offline)")
    from visorch.tools.remote.serving import connect_cluster, serve_experts

    connect_cluster(None, num_cpus=2)
    assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}  # loopback only
    try:
        served = serve_experts([BACKEND], default_weights_root(), cpus=0.5, device="cpu")
        yield served[0].app
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.fixture(scope="module")
def coco_images(shared_data: Path) -> list[Path]:
    paths = [shared_data / "coco-val" / "val2017" / name for name in COCO_IMAGES]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"coco-val images missing: {missing}")
    return paths


def _settings(home: Path, remote: dict[str, RemoteExpert] | None = None) -> VisorchSettings:
    settings = VisorchSettings(home=home, weights_dir=default_weights_root())
    settings.models.preferred = {"detection": BACKEND}
    settings.models.remote = dict(remote or {})
    return settings


def _box_keys(runtime: Runtime, images: list[Path]) -> list[tuple[str, str, bool, bool]]:
    """(LOC content key, FIND content key, LOC cached, FIND cached) per image."""
    keys = []
    for path in images:
        trace = runtime.run_program(PROGRAM, runtime.load_inputs({"IMAGE": path}))
        assert trace.ok, trace
        loc, find = trace.step("BOX0"), trace.step("BOX1")
        keys.append((loc.output.content_key(), find.output.content_key(), loc.cached, find.cached))
    return keys


def test_a_remote_detector_gives_the_same_boxes_and_cache_keys_as_the_local_one(
    served_app: str, coco_images: list[Path], tmp_path: Path
) -> None:
    local = Runtime.create(_settings(tmp_path / "local"))
    remote = Runtime.create(_settings(tmp_path / "remote", {BACKEND: RemoteExpert(app=served_app, timeout_s=60)}))
    try:
        local_keys = _box_keys(local, coco_images)
        remote_keys = _box_keys(remote, coco_images)
        assert [k[:2] for k in remote_keys] == [k[:2] for k in local_keys]
        assert not any(cached for k in remote_keys for cached in k[2:])  # the deployment really ran them
        assert remote.context.models.loaded()[BACKEND]["memory_mb"] == 0.0  # only a stand-in here
        assert local.context.models.result_version("detection") == remote.context.models.result_version("detection")
    finally:
        local.close()
        remote.close()
    # a remote run over the local run's result cache finds every result: the keys are the same
    reused = Runtime.create(_settings(tmp_path / "local", {BACKEND: RemoteExpert(app=served_app, timeout_s=60)}))
    try:
        assert all(k[2] and k[3] for k in _box_keys(reused, coco_images))
    finally:
        reused.close()


def test_a_wrong_address_or_app_is_a_clear_error_within_the_timeout(served_app: str, bus_path: Path) -> None:
    from visorch.tools.remote.backend import with_remote

    targets = {
        "no Ray cluster answers at 127.0.0.1:1": RemoteExpert(address="127.0.0.1:1", timeout_s=2, retries=1),
        "'visorch-no-such-app' does not exist": RemoteExpert(app="visorch-no-such-app", timeout_s=2, retries=1),
    }
    for cause, target in targets.items():
        models = ModelManager(with_remote(default_backends(), {BACKEND: target}), default_weights_root())
        started = time.monotonic()
        with pytest.raises(RemoteExpertError, match="failed 2 times") as raised:
            models.load(BACKEND)
        assert time.monotonic() - started < 20, cause
        assert "visorch serve-experts nanodet-m" in str(raised.value)
        assert cause in str(raised.value.__cause__)


def test_eight_agents_share_one_deployment_and_one_model_copy(served_app: str, coco_images: list[Path]) -> None:
    from PIL import Image
    from visorch.tools.remote.backend import with_remote

    images = [Image.open(path).convert("RGB") for path in coco_images]
    local = ModelManager(default_backends(), default_weights_root())
    with local.use(BACKEND) as detector:
        expected = [d.xyxy.round(3).tolist() for d in detector.detect(images, None, 0.3)]

    target = RemoteExpert(app=served_app, timeout_s=120)
    weights = default_weights_root()
    agents = [ModelManager(with_remote(default_backends(), {BACKEND: target}), weights) for _ in range(8)]
    results: dict[int, list[list[list[float]]]] = {}
    errors: list[BaseException] = []

    def agent(index: int) -> None:
        try:
            with agents[index].use(BACKEND) as detector:
                results[index] = [d.xyxy.round(3).tolist() for d in detector.detect(images, None, 0.3)]
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert results == {i: expected for i in range(8)}
    client = agents[0].backend(BACKEND).extra["client"]
    info = client.fresh_info()
    assert info.load_count == 1  # the deployment's own counter: one model copy for eight agents
    assert sum(info.batch_sizes) >= 8 * len(images)


def test_a_killed_replica_is_restarted_by_serve_and_the_next_call_succeeds(
    served_app: str, coco_images: list[Path]
) -> None:
    from PIL import Image
    from visorch.tools.remote.backend import with_remote

    images = [Image.open(path).convert("RGB") for path in coco_images]
    target = RemoteExpert(app=served_app, timeout_s=90, retries=3)
    models = ModelManager(with_remote(default_backends(), {BACKEND: target}), default_weights_root())
    client = models.backend(BACKEND).extra["client"]
    with models.use(BACKEND) as detector:
        before = [d.xyxy.round(3).tolist() for d in detector.detect(images, None, 0.3)]
        first = client.fresh_info().replica
        replicas = [a for a in ray.util.list_named_actors(all_namespaces=True) if "SERVE_REPLICA" in a["name"]]
        assert len(replicas) == 1, replicas
        ray.kill(ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"]), no_restart=True)
        after = [d.xyxy.round(3).tolist() for d in detector.detect(images, None, 0.3)]  # retried until Serve restarts
    assert after == before
    info = client.fresh_info()
    assert info.replica != first and info.load_count == 1  # a new replica, which loaded its own copy once


def test_eval_on_ray_data_gives_the_local_results(served_app: str, shared_data: Path, tmp_path: Path) -> None:
    import functools
    import json

    from visorch.cli import _open_evaluation_runtime
    from visorch.evaluation.ray_runner import RayEvaluation
    from visorch.evaluation.runner import run_evaluation

    data = shared_data / "coco-val"
    open_runtime = functools.partial(_open_evaluation_runtime, None)
    runs = {"local": None, "ray": RayEvaluation(open_runtime=open_runtime, concurrency=2, num_cpus=0.5)}
    found = {}
    for name, ray_options in runs.items():
        summary = run_evaluation(
            "detect", data, tmp_path / name, limit=3, runtime=_open_evaluation_runtime(None), backend=BACKEND,
            show_progress=False, ray=ray_options,
        )  # fmt: skip
        assert summary.finished == 3 and summary.errors == 0, summary
        lines = (tmp_path / name / "results.jsonl").read_text().splitlines()
        rows = sorted((json.loads(line) for line in lines), key=lambda row: row["id"])
        found[name] = ([(r["id"], r["prediction"], r["correct"], r["scores"]) for r in rows], summary.metrics)
    assert found["ray"] == found["local"]


ITEMS = 12
"""coco-val images of the killed-actor run: 3 from a first run, then 9 on Ray with one actor killed."""


def _kill_an_evaluation_actor(
    results: Path, after_lines: int, killed: list[tuple[int, int]], stop: threading.Event
) -> None:
    """SIGKILL one Ray Data evaluation actor's process once ``results`` holds ``after_lines`` lines.

    Records (pid, lines written at the kill). Ray titles an actor's process after its class
    (``ray::MapWorker(MapBatches(_ItemEvaluator))``); only this test's own cluster is searched (the
    processes under this one: the local cluster's raylet starts the workers).
    """
    import psutil

    while not stop.is_set():
        written = len(results.read_text().splitlines()) if results.is_file() else 0
        if written >= after_lines:
            for process in psutil.Process().children(recursive=True):
                try:
                    title = " ".join(process.cmdline())
                except psutil.Error:  # gone meanwhile
                    continue
                if "MapBatches(_ItemEvaluator)" in title:
                    process.kill()  # SIGKILL, as a crash would
                    killed.append((process.pid, written))
                    return
        time.sleep(0.02)


def test_an_evaluation_actor_killed_mid_run_loses_no_item_and_counts_none_twice(
    served_app: str, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Resume on Ray keeps finished items; an actor SIGKILLed with items in flight is restarted and its batch rerun."""
    import functools
    import json

    pytest.importorskip("psutil")
    from visorch.cli import _open_evaluation_runtime
    from visorch.evaluation.ray_runner import RayEvaluation
    from visorch.evaluation.runner import run_evaluation

    data = shared_data / "coco-val"
    options = RayEvaluation(functools.partial(_open_evaluation_runtime, None), concurrency=2, num_cpus=0.5)

    def evaluate(out: Path, ray: RayEvaluation | None, limit: int = ITEMS, progress: bool = False):
        return run_evaluation(
            "detect", data, out, limit=limit, workers=2, runtime=_open_evaluation_runtime(None), backend=BACKEND,
            show_progress=progress, ray=ray,
        )  # fmt: skip

    local = evaluate(tmp_path / "local", None)
    items = local.finished
    assert items == ITEMS and local.errors == 0

    evaluate(tmp_path / "ray", options, limit=3)  # a first run that stopped after 3 items
    results = tmp_path / "ray" / "results.jsonl"
    killed: list[tuple[int, int]] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_an_evaluation_actor, args=(results, 4, killed, stop), daemon=True)
    killer.start()
    capsys.readouterr()
    try:
        resumed = evaluate(tmp_path / "ray", options, progress=True)
    finally:
        stop.set()
        killer.join(timeout=10)
    shown = capsys.readouterr().err
    assert killed and killed[0][1] < items, f"no actor was killed while items were pending: {killed}"

    assert resumed.resumed == 3 and resumed.finished == items and resumed.errors == 0, resumed
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(lines) == items and len({row["id"] for row in lines}) == items  # none lost, none twice

    def rows(folder: Path) -> list[tuple[str, object, object, object]]:
        found = (json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines())
        return sorted((r["id"], r["prediction"], r["correct"], r["scores"]) for r in found)

    assert rows(tmp_path / "ray") == rows(tmp_path / "local")
    assert resumed.metrics == local.metrics
    assert f"{items}/{items}" in shown  # the progress bar counted the kept items and every new one
