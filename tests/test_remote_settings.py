"""Remote-backend settings and errors that need no Ray: parsing, naming, the address probe."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from visorch.config import VisorchSettings
from visorch.tools.catalog import default_backends
from visorch.tools.errors import ConfigError, UnknownBackendError
from visorch.tools.remote.backend import with_remote
from visorch.tools.remote.client import probe
from visorch.tools.remote.target import RemoteExpert, RemoteExpertError


def test_models_remote_from_the_environment_keeps_the_local_backend_identity(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("VISORCH_MODELS__REMOTE", '{"nanodet-m": {"address": "10.0.0.5:6379", "retries": 0}}')
    settings = VisorchSettings(home=tmp_path)
    target = settings.models.remote["nanodet-m"]
    assert target.address == "10.0.0.5:6379" and target.retries == 0 and target.app is None
    local = {b.name: b for b in default_backends()}
    remote = {b.name: b for b in with_remote(default_backends(), settings.models.remote)}
    assert remote["nanodet-m"].version == local["nanodet-m"].version
    assert remote["nanodet-m"].extra["classes"] == local["nanodet-m"].extra["classes"]
    assert remote["nanodet-m"].fingerprint is not None and local["nanodet-m"].fingerprint is None
    assert remote["centernet-mb3"] is local["centernet-mb3"]
    assert "visorch-nanodet-m" in remote["nanodet-m"].title


def test_a_remote_setting_for_an_unknown_or_unservable_backend_is_a_config_error() -> None:
    with pytest.raises(UnknownBackendError, match="did you mean nanodet-m"):
        with_remote(default_backends(), {"nanodett": RemoteExpert()})
    with pytest.raises(ConfigError, match="cannot be served remotely yet"):
        with_remote(default_backends(), {"efficientnet-lite0": RemoteExpert()})


def test_a_closed_port_fails_the_probe_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(RemoteExpertError, match=r"no Ray cluster answers at 127\.0\.0\.1:1"):
        probe("127.0.0.1:1", timeout_s=2)
    assert time.monotonic() - started < 5
    probe("auto", timeout_s=2)  # nothing to probe: Ray finds the cluster itself


def test_settings_and_remote_backends_do_not_import_ray() -> None:
    code = (
        "import sys\n"
        "from visorch.tools.catalog import default_backends\n"
        "from visorch.tools.remote.backend import with_remote\n"
        "from visorch.tools.remote.target import RemoteExpert\n"
        "with_remote(default_backends(), {'nanodet-m': RemoteExpert()})\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
