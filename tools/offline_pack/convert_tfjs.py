"""Convert a TensorFlow.js graph model to a canonical ONNX file (run inside a throw-away converter venv).

This file is executed as a script by the offline pack, with the Python of a temporary venv that
holds ``tensorflow-cpu``, ``tf2onnx`` and ``onnx`` (see :mod:`visorch.tools.offline_pack.installer`);
it imports nothing from visorch. Three steps:

1. optionally fill in the op attributes TF.js leaves out, from TensorFlow's op registry defaults
   (CenterNet needs it: ``_FusedConv2D`` has no default for ``TArgs``, ``TopKV2`` needs
   ``index_type``); the filled JSON is written next to the ``.bin`` so tf2onnx finds the weights;
2. ``python -m tf2onnx.convert --tfjs``;
3. canonicalise the ONNX graph: tf2onnx orders nodes and numbers generated names differently on
   every run, so nodes and tensors are renamed from a hash of what they compute and sorted, which
   makes the file byte-identical across runs and its sha256 checkable against a recorded value.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

OPSET = 17
CONVERT_TIMEOUT_S = 600


def fill_default_attributes(model: dict[str, Any]) -> int:
    """Add the attributes TF.js dropped (registry defaults, ``TArgs``); returns how many were added."""
    from google.protobuf import json_format
    from tensorflow.python.framework import op_def_registry

    added = 0
    for node in model["modelTopology"]["node"]:
        op_def = op_def_registry.get(node["op"])
        if op_def is None:  # TF.js-only fused ops (FusedDepthwiseConv2dNative): tf2onnx knows them
            continue
        attributes = node.setdefault("attr", {})
        for attribute in op_def.attr:
            if attribute.name in attributes:
                continue
            if attribute.HasField("default_value"):
                attributes[attribute.name] = json_format.MessageToDict(attribute.default_value)
                added += 1
            elif attribute.name == "TArgs":
                count = int(attributes.get("num_args", {}).get("i", "0"))
                element = attributes["T"]["type"]
                attributes["TArgs"] = {"list": {"type": [element] * count}}
                added += 1
    return added


def _attribute_key(attribute: Any) -> bytes:
    from onnx import AttributeProto

    copy = AttributeProto()
    copy.CopyFrom(attribute)
    copy.doc_string = ""
    if copy.HasField("t"):
        copy.t.name = ""
    return copy.SerializeToString(deterministic=True)


def canonicalise(path: Path, graph_name: str) -> None:
    """Rename every node and tensor from a hash of its inputs and content, sort them, and save in place."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    outputs = {value.name for value in graph.output}
    names: dict[str, str] = {value.name: value.name for value in graph.input}
    names[""] = ""
    initializers: dict[str, Any] = {}
    for tensor in graph.initializer:
        array = numpy_helper.to_array(tensor)
        digest = hashlib.sha256(f"{tensor.data_type}:{list(tensor.dims)}:".encode() + array.tobytes()).hexdigest()
        names[tensor.name] = tensor.name if tensor.name in outputs else f"const_{digest[:20]}"
        initializers[names[tensor.name]] = array  # identical constants merge into one

    keyed: dict[str, Any] = {}
    remaining = list(graph.node)
    while remaining:  # graph order is topological in valid ONNX, but do not rely on it
        waiting = []
        for node in remaining:
            if any(name not in names for name in node.input):
                waiting.append(node)
                continue
            node_digest = hashlib.sha256(f"{node.domain}:{node.op_type}:".encode())
            for name in node.input:
                node_digest.update(names[name].encode() + b"\x1f")
            for attribute in sorted(node.attribute, key=lambda item: item.name):
                node_digest.update(_attribute_key(attribute))
            key = f"{node.op_type}_{node_digest.hexdigest()[:20]}"
            if key in keyed:  # the same computation twice: keep one and point consumers at it
                twin = keyed[key]
                for mine, theirs in zip(node.output, twin.output, strict=True):
                    if mine in outputs:
                        raise SystemExit(f"cannot canonicalise {path}: a duplicated node feeds graph output {mine}")
                    names[mine] = names[theirs]
                continue
            for index, name in enumerate(node.output):
                names[name] = name if name in outputs else ("" if name == "" else f"{key}:{index}")
            keyed[key] = node
        if len(waiting) == len(remaining):
            raise SystemExit(f"cannot canonicalise {path}: inputs with no producer: {waiting[0].input}")
        remaining = waiting

    consumers: dict[str, list[str]] = {key: [] for key in keyed}
    producer = {names[name]: key for key, node in keyed.items() for name in node.output}
    indegree = dict.fromkeys(keyed, 0)
    for key, node in keyed.items():
        for parent in {producer[names[name]] for name in node.input if names[name] in producer}:
            consumers[parent].append(key)
            indegree[key] += 1
    ready = [key for key, degree in indegree.items() if degree == 0]
    heapq.heapify(ready)
    ordered = []
    while ready:
        key = heapq.heappop(ready)
        ordered.append(key)
        for child in consumers[key]:
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(ready, child)

    nodes = []
    for key in ordered:
        node = keyed[key]
        rebuilt = helper.make_node(
            node.op_type,
            [names[name] for name in node.input],
            [names[name] for name in node.output],
            name=key,
            domain=node.domain or None,
        )
        rebuilt.attribute.extend(sorted(node.attribute, key=lambda item: item.name))
        for attribute in rebuilt.attribute:
            attribute.doc_string = ""
            if attribute.HasField("t"):
                attribute.t.name = ""
        nodes.append(rebuilt)

    used = {name for node in nodes for name in node.input} | outputs
    canonical = helper.make_graph(
        nodes,
        graph_name,
        list(graph.input),
        list(graph.output),
        [numpy_helper.from_array(initializers[name], name) for name in sorted(initializers) if name in used],
    )
    rebuilt_model = helper.make_model(canonical, opset_imports=list(model.opset_import))
    rebuilt_model.ir_version = model.ir_version
    rebuilt_model.producer_name = model.producer_name
    rebuilt_model.producer_version = model.producer_version
    onnx.checker.check_model(rebuilt_model)
    temporary = path.with_name(path.name + ".canonical.tmp")
    temporary.write_bytes(rebuilt_model.SerializeToString(deterministic=True))
    os.replace(temporary, path)


def convert(model_json: Path, output: Path, fill_defaults: bool) -> dict[str, Any]:
    """Convert one TF.js graph model (``.json`` with its ``.bin`` beside it) to canonical ONNX at ``output``."""
    source = model_json
    added = 0
    if fill_defaults:
        model = json.loads(model_json.read_text())
        added = fill_default_attributes(model)
        source = model_json.with_name(model_json.stem + ".filled.json")
        source.write_text(json.dumps(model))
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0")
    raw = output.with_name(output.name + ".raw.tmp")
    completed = subprocess.run(
        [sys.executable, "-m", "tf2onnx.convert", "--tfjs", str(source), "--output", str(raw), "--opset", str(OPSET)],
        capture_output=True,
        text=True,
        timeout=CONVERT_TIMEOUT_S,
        env=environment,
        check=False,
    )
    if completed.returncode != 0 or not raw.is_file():
        raise SystemExit(f"tf2onnx failed on {model_json.name}:\n{completed.stderr[-3000:]}")
    canonicalise(raw, graph_name=model_json.stem)
    os.replace(raw, output)
    return {
        "source": model_json.name,
        "filled_attributes": added,
        "output": str(output),
        "sha256": hashlib.sha256(output.read_bytes()).hexdigest(),
        "bytes": output.stat().st_size,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: ``convert_tfjs.py MODEL.json OUTPUT.onnx [--fill-defaults]``; prints a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("model_json", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--fill-defaults", action="store_true", help="fill op attributes from TF's registry")
    arguments = parser.parse_args(argv)
    print(json.dumps(convert(arguments.model_json, arguments.output, arguments.fill_defaults)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
