"""Image loading: every common mode works, bad files give typed errors."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from visorch.tools.errors import ImageLoadError, ImageTooLargeError
from visorch.tools.images import ImageStore


@pytest.fixture()
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def _save(image: Image.Image, path: Path, **options) -> Path:
    image.save(path, **options)
    return path


def test_modes_all_load_as_rgb(store: ImageStore, tmp_path: Path) -> None:
    base = Image.new("RGB", (40, 30), (200, 30, 30))
    cases = {
        "grey.png": base.convert("L"),
        "cmyk.jpg": base.convert("CMYK"),
        "palette.gif": base.convert("P"),
        "bilevel.png": base.convert("1"),
    }
    rgba = base.convert("RGBA")
    rgba.putalpha(128)
    cases["alpha.png"] = rgba
    sixteen = Image.fromarray((np.ones((30, 40)) * 40000).astype(np.uint16))
    cases["sixteen.png"] = sixteen
    for name, image in cases.items():
        ref = store.load(_save(image, tmp_path / name))
        pixels = ref.pil()
        assert pixels.mode == "RGB" and ref.size == (40, 30), name
    sixteen_ref = store.load(tmp_path / "sixteen.png")
    assert 150 < sixteen_ref.array().mean() < 160  # 40000/65535*255 ~ 156, not clipped to 255
    alpha_ref = store.load(tmp_path / "alpha.png")
    assert tuple(alpha_ref.array()[0, 0]) == (227, 142, 142)  # half-transparent red over white


def test_transparent_palette_png(store: ImageStore, tmp_path: Path) -> None:
    image = Image.new("P", (10, 10), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.info["transparency"] = 0
    ref = store.load(_save(image, tmp_path / "p.png", transparency=0))
    assert tuple(ref.array()[0, 0]) == (255, 255, 255)


def test_exif_orientation_is_applied(store: ImageStore, tmp_path: Path) -> None:
    image = Image.new("RGB", (60, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 10, 20))  # red strip on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif.tobytes(), quality=95)
    ref = store.load(path)
    assert ref.size == (20, 60)
    top = ref.array()[:8].reshape(-1, 3).mean(axis=0)
    assert top[0] > 200 and top[2] < 80  # the red strip is now on top


def test_content_hash_and_crop_store(store: ImageStore, bus_path: Path) -> None:
    first, second = store.load(bus_path), store.load(bus_path)
    assert first.sha256 == second.sha256 and len(first.sha256) == 64
    crop = store.put(first.pil().crop((10, 20, 110, 220)), parent=first, offset=(10, 20))
    assert crop.size == (100, 200) and Path(crop.path).is_file()
    assert crop.root() == first and crop.offset_in_root() == (10, 20)
    again = store.put(first.pil().crop((10, 20, 110, 220)), parent=first, offset=(10, 20))
    assert again.sha256 == crop.sha256


def test_pickle_carries_no_pixels(store: ImageStore, bus_path: Path) -> None:
    import pickle

    ref = store.load(bus_path)
    ref.pil()
    data = pickle.dumps(ref)
    assert len(data) < 2000
    restored = pickle.loads(data)
    assert restored.pil().size == ref.size


def test_missing_file(store: ImageStore, tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="not found"):
        store.load(tmp_path / "nope.jpg")


def test_zero_byte_file(store: ImageStore, tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty"):
        store.load(path)


def test_truncated_jpeg(store: ImageStore, tmp_path: Path, bus_path: Path) -> None:
    data = bus_path.read_bytes()
    path = tmp_path / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="corrupt or truncated"):
        store.load(path)


def test_not_an_image(store: ImageStore, tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image")
    with pytest.raises(ImageLoadError, match="not an image"):
        store.load(path)


def _png_with_size(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (8, 8)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    header = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + header) & 0xFFFFFFFF)
    return bytes(data)


def test_decompression_bomb_is_refused_before_decoding(store: ImageStore, tmp_path: Path) -> None:
    for side in (10_000, 60_000):  # over visorch's limit; over PIL's own hard limit too
        path = tmp_path / f"bomb{side}.png"
        path.write_bytes(_png_with_size(side, side))
        with pytest.raises(ImageTooLargeError, match=r"over the limit|decompression bomb"):
            store.load(path)
