"""The interfaces other agents use: the MCP server (over stdio, with the mcp package's own client) and
LangChain tools (called by a LangGraph ToolNode), both rendered from the same tool descriptions."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from visorch.interfaces.tool_calls import ToolCaller
from visorch.runtime import Runtime
from visorch.tools.errors import InputError, UnknownToolError


def _needs_pack() -> None:
    from visorch.tools.models.manager import default_weights_root

    if not (default_weights_root() / "nanodet-m" / "nanodet.onnx").is_file():
        pytest.skip("the offline pack is not installed: run visorch models install-offline")


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    _needs_pack()
    created = Runtime.create()
    yield created
    created.close()


def test_offered_tools_take_files_and_plain_values_only(runtime: Runtime) -> None:
    offered = {spec.name: spec for spec in ToolCaller(runtime).offered()}
    assert {"LOC", "OCR"} <= set(offered)
    assert not {"LOAD", "RESULT", "EVAL", "CROP", "COUNT"} & set(offered)  # plumbing and tools over boxes
    loc_card = runtime.registry.get("LOC").spec
    assert offered["LOC"] == loc_card  # the very same description the planner sees


def test_tool_call_runs_as_a_program_and_errors_are_typed(runtime: Runtime, bus_path: Path) -> None:
    caller = ToolCaller(runtime)
    result = caller.call("loc", {"image": str(bus_path), "object": "person"}).to_json()
    assert result["tool"] == "LOC" and result["result"]["kind"] == "detections"
    assert len(result["result"]["boxes"]) >= 3
    assert all(box["label"] == "person" for box in result["result"]["boxes"])
    with pytest.raises(UnknownToolError, match="did you mean LOC"):
        caller.call("LCO", {})
    with pytest.raises(InputError, match="no argument colour"):
        caller.call("LOC", {"image": str(bus_path), "object": "bus", "colour": "red"})


MCP_CLIENT = """
import asyncio, json, sys
from mcp import Client, StdioServerParameters

async def main():
    server = StdioServerParameters(command=sys.executable, args=["-m", "visorch.cli", "mcp"])
    async with Client(server, read_timeout_seconds=240) as client:
        listed = await client.list_tools()
        tools = {tool.name: tool for tool in listed.tools}
        found = await client.call_tool("LOC", {"image": sys.argv[1], "object": "bus"})
        program = await client.call_tool(
            "run_program", {"program": "count_people", "image": sys.argv[1]})
        wrong = await client.call_tool("LOC", {"image": "/no/such/file.jpg", "object": "bus"})
        print(json.dumps({
            "names": sorted(tools),
            "loc_schema": tools["LOC"].input_schema,
            "loc": found.content[0].text,
            "program": program.content[0].text,
            "wrong": {"is_error": wrong.is_error, "text": wrong.content[0].text},
        }))

asyncio.run(main())
"""


@pytest.mark.slow
def test_mcp_server_over_stdio_with_the_mcp_client(bus_path: Path, tmp_path: Path) -> None:
    pytest.importorskip("mcp")
    _needs_pack()
    import subprocess

    result = subprocess.run(
        [sys.executable, "-c", MCP_CLIENT, str(bus_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env=dict(os.environ),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    reply = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"LOC", "OCR", "ask", "run_program"} <= set(reply["names"])
    schema = reply["loc_schema"]
    assert schema["required"] == ["image", "object"]
    assert "min_score" in schema["properties"] and "description" in schema["properties"]["object"]
    boxes = json.loads(reply["loc"])["result"]["boxes"]
    assert [box["label"] for box in boxes] == ["bus"]
    program = json.loads(reply["program"])
    assert program["ok"] is True and isinstance(program["result"], int) and program["result"] >= 3
    assert reply["wrong"]["is_error"] is True and "not found" in reply["wrong"]["text"]


@pytest.mark.parametrize("kind", ["absolute", "dot-dot", "symlink"])
def test_mcp_run_program_cannot_load_files_outside_the_allowed_roots(
    runtime: Runtime, bus_path: Path, tmp_path: Path, kind: str
) -> None:
    from visorch.interfaces.mcp_server import run_program_json

    outside = tmp_path / "outside.jpg"
    outside.write_bytes(bus_path.read_bytes())  # a real image: only the roots refuse it
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "link.jpg").symlink_to(outside)
    path = {"absolute": "/etc/passwd", "dot-dot": f"{tmp_path}/inner/../outside.jpg",
            "symlink": f"{tmp_path}/inner/link.jpg"}[kind]  # fmt: skip
    reply = json.loads(run_program_json(runtime, f"IMAGE0=LOAD(path='{path}')\nFINAL=RESULT(var=IMAGE0)"))
    assert reply["ok"] is False
    assert "a program may read only its inputs and files under the allowed roots" in reply["error"]


def test_langchain_tools_share_the_tool_description(runtime: Runtime) -> None:
    pytest.importorskip("langchain_core")
    from visorch import langchain_tools

    tools = {tool.name: tool for tool in langchain_tools(runtime)}
    loc = tools["LOC"]
    spec = runtime.registry.get("LOC").spec
    assert spec.summary in loc.description
    schema = loc.args_schema.model_json_schema()  # type: ignore[union-attr]
    assert schema["required"] == ["image", "object"]
    assert set(schema["properties"]) == {param.name for param in spec.params}


@pytest.mark.slow
def test_langgraph_tool_node_calls_a_visorch_tool(runtime: Runtime, bus_path: Path) -> None:
    pytest.importorskip("langgraph")
    from langchain_core.messages import AIMessage
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode
    from visorch import langchain_tools

    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode(langchain_tools(runtime)))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    node = graph.compile()
    call = {"name": "LOC", "args": {"image": str(bus_path), "object": "person"}, "id": "call-1", "type": "tool_call"}
    bad = {"name": "LOC", "args": {"image": str(bus_path), "object": "unicorn"}, "id": "call-2", "type": "tool_call"}
    output = node.invoke({"messages": [AIMessage(content="", tool_calls=[call, bad])]})
    _, first, second = output["messages"]
    boxes = json.loads(first.content)["result"]["boxes"]
    assert len(boxes) >= 3 and {box["label"] for box in boxes} == {"person"}
    assert "no class for 'unicorn'" in second.content  # the tool's own error, handed back to the agent


def test_langgraph_json_points_at_the_agent_graph() -> None:
    config = json.loads((Path(__file__).resolve().parents[1] / "langgraph.json").read_text())
    module, _, attribute = config["graphs"]["visorch"].partition(":")
    assert Path(__file__).resolve().parents[1].joinpath(module).is_file()
    assert attribute == "make_graph"
    from visorch.interfaces.langgraph_app import make_graph

    assert callable(make_graph)
