"""The OpenAI-compatible vision backend for CAPTION and VQA, against a loopback server that is a test
double (canned replies, no model), and a caption from it corrected with the offline tools."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from visorch.config import VisorchSettings
from visorch.correction import CorrectionConfig, Corrector
from visorch.runtime import Runtime
from visorch.tools.models.manager import default_weights_root
from visorch.tools.vision_language.openai_vlm import BACKENDS, VisionServerSettings


class LoopbackVisionServer:
    """A test double, not a model: an OpenAI-style /v1/chat/completions endpoint with canned replies."""

    def __init__(self, replies: dict[str, str]) -> None:
        self.replies = replies
        self.requests: list[dict[str, Any]] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                double.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                prompt = body["messages"][-1]["content"][0]["text"]
                text = next((reply for key, reply in double.replies.items() if key in prompt), "unknown")
                payload = json.dumps({
                    "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackVisionServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def vision_server(monkeypatch) -> Iterator[LoopbackVisionServer]:
    replies = {"Describe": "Three dogs stand next to a red bus.", "What color is the bus": "blue"}
    with LoopbackVisionServer(replies) as server:
        monkeypatch.setenv("VISORCH_VLM_MODEL", "loopback-vlm")
        monkeypatch.setenv("VISORCH_VLM_BASE_URL", server.url)
        monkeypatch.setenv("VISORCH_VLM_API_KEY", "secret-key")
        yield server


@pytest.fixture()
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    if not (default_weights_root() / "nanodet-m" / "nanodet.onnx").is_file():
        pytest.skip("the offline pack is not installed: run visorch models install-offline")
    created = Runtime.create(VisorchSettings(home=tmp_path / "home", weights_dir=default_weights_root()))
    yield created
    created.close()


def test_not_installed_until_a_model_is_configured(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("VISORCH_VLM_MODEL", raising=False)
    assert VisionServerSettings().model is None
    for backend in BACKENDS:
        assert backend.installed_reason(tmp_path) == "missing weights"
        assert "No real VLM is available offline" in backend.notes and "VISORCH_VLM_MODEL" in backend.install_command


def test_caption_and_vqa_over_the_chat_api(
    vision_server: LoopbackVisionServer, runtime: Runtime, bus_path: Path
) -> None:
    available = {tool.name for tool in runtime.registry.available(runtime.context)}
    assert {"CAPTION", "VQA"} <= available
    assert runtime.context.models.backend_for("caption").name == "openai-vlm-caption"
    inputs = runtime.load_inputs({"IMAGE": bus_path})
    source = (
        "ANSWER0=CAPTION(image=IMAGE)\nANSWER1=VQA(image=IMAGE, question='What color is the bus?')\n"
        "FINAL=RESULT(var=ANSWER0)"
    )
    trace = runtime.run_program(source, inputs)
    assert trace.ok and trace.result == "Three dogs stand next to a red bus."
    assert trace.step("ANSWER1").output == "blue"
    first = vision_server.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["body"]["model"] == "loopback-vlm"
    assert first["auth"] == "Bearer secret-key"
    image_part = first["body"]["messages"][0]["content"][1]
    assert image_part["type"] == "image_url" and image_part["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_a_caption_from_the_vlm_is_corrected_with_vqa_on_the_crop(
    vision_server: LoopbackVisionServer, runtime: Runtime, bus_path: Path
) -> None:
    inputs = runtime.load_inputs({"IMAGE": bus_path})
    caption = runtime.run_program("ANSWER0=CAPTION(image=IMAGE)\nFINAL=RESULT(var=ANSWER0)", inputs).result
    fixer = Corrector(runtime=runtime, llm=None, config=CorrectionConfig(concepts="lexical", rewrite="rules"))
    result = fixer.correct(bus_path, caption)
    assert "VQA(image=IMAGE" in result.program and "question='What color is the bus?'" in result.program
    colour = next(claim for claim in result.claims if claim.kind == "colour")
    assert colour.verdict == "corrected" and colour.fix == "blue" and "VQA on the crop says blue" in colour.cross_check
    assert "dog" not in result.corrected_plain and result.corrected_plain.startswith("There is a blue bus")
    crops = [
        r for r in vision_server.requests if "What color is the bus" in r["body"]["messages"][0]["content"][0]["text"]
    ]
    assert crops, "VQA should have been asked about the bus crop"


def test_an_unreachable_server_is_a_step_error(runtime: Runtime, bus_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VISORCH_VLM_MODEL", "loopback-vlm")
    monkeypatch.setenv("VISORCH_VLM_BASE_URL", "http://127.0.0.1:9/v1")
    trace = runtime.run_program(
        "ANSWER0=CAPTION(image=IMAGE)\nFINAL=RESULT(var=ANSWER0)", runtime.load_inputs({"IMAGE": bus_path})
    )
    assert not trace.ok and "VISORCH_VLM_MODEL" in (trace.error or "")


def test_visorch_correct_captions_with_the_vlm_and_corrects_it(
    vision_server: LoopbackVisionServer, bus_path: Path, tmp_path: Path, monkeypatch
) -> None:
    from typer.testing import CliRunner
    from visorch.cli import app

    if not (default_weights_root() / "nanodet-m" / "nanodet.onnx").is_file():
        pytest.skip("the offline pack is not installed: run visorch models install-offline")
    monkeypatch.setenv("VISORCH_WEIGHTS_DIR", str(default_weights_root()))
    monkeypatch.setenv("VISORCH_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["correct", str(bus_path), "--caption", "--rules", "--json"])
    assert result.exit_code == 0, result.output
    correction = json.loads(result.stdout)
    assert correction["original"] == "Three dogs stand next to a red bus."
    assert correction["corrected_plain"].startswith("There is a blue bus")
