"""``tinysr upscale clip.mkv``: frame count, frame rate and audio kept, each frame equal to ``tinysr.upscale``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinysr import upscale

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="the video extra is not installed: "
                                                              "pip install 'tinysr[video]'")
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
FPS, SECONDS, SIZE = 5, 1.2, (40, 30)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """1.2 s of ffmpeg's test pattern at 5 fps (6 frames, lossless FFV1) with a 440 Hz sine (FLAC)."""
    path = tmp_path_factory.mktemp("video") / "clip.mkv"
    subprocess.run([FFMPEG, "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc=size={SIZE[0]}x{SIZE[1]}:rate={FPS}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={SECONDS}", "-t", str(SECONDS),
                    "-c:v", "ffv1", "-c:a", "flac", str(path)], check=True)
    return path


def _frames(path: Path) -> tuple[dict, list[np.ndarray]]:
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    return meta, [np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3) for raw in reader]


def _audio_seconds(path: Path) -> float:
    """Decode the audio track to 16-bit mono at 8 kHz and count the samples."""
    pcm = subprocess.run([FFMPEG, "-loglevel", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", "8000",
                          "-f", "s16le", "-"], capture_output=True, check=True).stdout
    return len(pcm) / 2 / 8000


def _tinysr(*args):
    return subprocess.run([sys.executable, "-m", "tinysr", *args], capture_output=True, text=True, timeout=300)


def test_video_keeps_frames_rate_and_audio_and_each_frame_is_tinysr_upscale(clip, tmp_path):
    out = tmp_path / "clip_x2.mkv"
    done = _tinysr("upscale", str(clip), "-o", str(out), "--scale", "2", "--model", "fsrcnn", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "6 frames at 5 fps, 40x30 -> 80x60, audio copied" in done.stdout
    meta_in, frames_in = _frames(clip)
    meta_out, frames_out = _frames(out)
    assert len(frames_in) == len(frames_out) == round(FPS * SECONDS)
    assert meta_out["fps"] == meta_in["fps"] == FPS and meta_out["size"] == (80, 60)
    assert _audio_seconds(out) == pytest.approx(_audio_seconds(clip), abs=0.03)
    assert _audio_seconds(out) == pytest.approx(SECONDS, abs=0.05)
    for frame_in, frame_out in zip(frames_in, frames_out):  # FFV1 is lossless: exactly what upscale made
        np.testing.assert_array_equal(frame_out, upscale(frame_in, 2, "fsrcnn"))


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".gif"])
def test_other_containers_keep_frame_count_and_rate(clip, tmp_path, suffix):
    out = tmp_path / f"clip_x2{suffix}"
    assert _tinysr("upscale", str(clip), "-o", str(out), "--scale", "2", "--model", "bicubic",
                   "--no-progress").returncode == 0
    meta, frames = _frames(out)
    assert len(frames) == 6 and meta["fps"] == FPS and meta["size"] == (80, 60)
    if suffix != ".gif":
        assert _audio_seconds(out) == pytest.approx(SECONDS, abs=0.05)
    mean_error = np.mean(np.abs(frames[2].astype(float) - upscale(_frames(clip)[1][2], 2, "bicubic")))
    assert mean_error < 12  # lossy codecs (4:2:0 chroma, a 256-colour palette): close, not equal


@pytest.mark.parametrize(("make", "output", "message"), [
    (lambda clip, d: d.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2]), "out.mkv", "truncated or damaged"),
    (lambda clip, d: d.write_bytes(b"not a video at all" * 50), "out.mp4", "not a readable video file"),
    (lambda clip, d: d.write_bytes(clip.read_bytes()), "in.mkv", "would overwrite the input"),
    (lambda clip, d: d.write_bytes(clip.read_bytes()), "out.png", "expected a video file name"),
])
def test_bad_video_is_one_line_and_leaves_no_file(clip, tmp_path, make, output, message):
    source = tmp_path / "in.mkv"
    make(clip, source)
    before = source.read_bytes()
    done = _tinysr("upscale", str(source), "-o", str(tmp_path / output), "--scale", "2", "--model", "bicubic",
                   "--no-progress")  # a progress bar, erased on a terminal, would show in captured stderr
    assert done.returncode == 1
    assert done.stderr.startswith("tinysr upscale: error: ") and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]  # no output, no partial file
    assert source.read_bytes() == before
