"""Audio references and decoding to 16 kHz mono float32, the format speech models expect."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict
from visorch.tools.errors import AudioLoadError
from visorch.tools.kinds import ValueKind
from visorch.tools.rendering import meta_line

SPEECH_SAMPLE_RATE = 16_000


class AudioRef(BaseModel):
    """A reference to an audio file: content hash, path and basic facts; samples load on demand."""

    model_config = ConfigDict(frozen=True)
    value_kind: ClassVar[ValueKind] = ValueKind.AUDIO
    widens_to: ClassVar[frozenset[ValueKind]] = frozenset()

    sha256: str
    path: str
    duration_s: float
    sample_rate: int
    channels: int

    def samples(self, sample_rate: int = SPEECH_SAMPLE_RATE) -> np.ndarray:
        """Mono float32 samples in [-1, 1] at ``sample_rate``."""
        return decode_audio(Path(self.path), sample_rate)[0]

    def describe(self) -> str:
        """``audio 3.2 s``."""
        return f"audio {self.duration_s:.1f} s"

    def to_json_data(self) -> dict[str, Any]:
        """The reference as JSON data (no samples)."""
        return {"kind": self.value_kind.value, **self.model_dump(mode="json")}

    def to_html(self) -> str:
        """Duration and path."""
        return meta_line(f"audio {self.duration_s:.1f} s, {self.path}")

    def as_kind(self, expected: ValueKind) -> AudioRef:
        """Itself: audio stands in for no other kind."""
        return self

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return f"AudioRef({self.sha256[:12]}, {self.duration_s:.1f}s, {Path(self.path).name})"


def _resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    if source_rate == target_rate:
        return samples
    from math import gcd

    from scipy.signal import resample_poly

    divisor = gcd(source_rate, target_rate)
    return resample_poly(samples, target_rate // divisor, source_rate // divisor).astype(np.float32)


def _decode_with_soundfile(path: Path) -> tuple[np.ndarray, int, int]:
    import soundfile

    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return data.mean(axis=1), int(rate), int(data.shape[1])


def _decode_with_av(path: Path) -> tuple[np.ndarray, int, int]:
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise AudioLoadError(f"no audio stream in {path}")
        stream = container.streams.audio[0]
        channels = stream.codec_context.channels or 1
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SPEECH_SAMPLE_RATE)
        chunks = []
        for frame in container.decode(stream):
            for resampled in resampler.resample(frame):
                chunks.append(resampled.to_ndarray().reshape(-1))
        for resampled in resampler.resample(None):
            chunks.append(resampled.to_ndarray().reshape(-1))
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return samples, SPEECH_SAMPLE_RATE, int(channels)


def decode_audio(path: Path, sample_rate: int = SPEECH_SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """Decode any file soundfile or FFmpeg (PyAV) can read into mono float32 at ``sample_rate``.

    Returns (samples, original channel count). Raises :class:`AudioLoadError` on bad input.
    """
    if not path.exists():
        raise AudioLoadError(f"audio file not found: {path}")
    if not path.is_file():
        raise AudioLoadError(f"not a file: {path}")
    if path.stat().st_size == 0:
        raise AudioLoadError(f"audio file is empty (0 bytes): {path}")
    errors = []
    for decoder in (_decode_with_soundfile, _decode_with_av):
        try:
            samples, rate, channels = decoder(path)
        except AudioLoadError:
            raise
        except ImportError as error:
            errors.append(f"{decoder.__name__}: {error}")
            continue
        except Exception as error:  # each decoder has its own exception types
            errors.append(f"{type(error).__name__}: {error}")
            continue
        if samples.size == 0:
            raise AudioLoadError(f"audio file has no samples: {path}")
        return _resample(samples, rate, sample_rate), channels
    raise AudioLoadError(
        f"cannot decode {path} as audio ({'; '.join(errors)}); use WAV, FLAC, OGG or MP3, "
        "and install the asr extra (pip install 'visorch[asr]') for FFmpeg-based decoding"
    )


def load_audio(path: str | Path) -> AudioRef:
    """Validate an audio file by decoding it and return its reference."""
    file_path = Path(path).expanduser()
    samples, channels = decode_audio(file_path)
    return AudioRef(
        sha256=hashlib.sha256(file_path.read_bytes()).hexdigest(),
        path=str(file_path.resolve()),
        duration_s=round(len(samples) / SPEECH_SAMPLE_RATE, 3),
        sample_rate=SPEECH_SAMPLE_RATE,
        channels=channels,
    )
