"""Upscale a video file frame by frame: ``tinysr upscale clip.mp4 -o clip_x2.mp4 --scale 2``.

Each frame goes through ``tinysr.upscale`` (the same network and tiling as a photo); the frame
rate is kept and the audio track is copied unchanged (into WebM, which holds only Opus or Vorbis,
it is re-encoded to Opus; a GIF has no sound). Reading and writing go through
imageio-ffmpeg, which brings its own ffmpeg binary (the optional extra ``pip install
"tinysr[video]"``): nothing needs to be installed on the system.

Output codec by container: ``.mp4`` H.264 (yuv420p, high quality), ``.webm`` VP9, ``.gif`` GIF,
``.mkv`` FFV1, which is lossless, so an ``.mkv`` holds exactly the frames ``tinysr.upscale`` made
(the tests use it to compare frame by frame). The output is written to a temporary file next to
it and renamed at the end: a failure (a truncated input, Ctrl-C) leaves no partial file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tinysr.upscale import upscale

__all__ = ["VIDEO_SUFFIXES", "VideoError", "upscale_video"]

#: what ``tinysr upscale`` treats as a video, and the codec each container is written with
CODECS = {".mp4": ("libx264", "yuv420p"), ".mkv": ("ffv1", "bgr0"), ".webm": ("libvpx-vp9", "yuv420p"),
          ".gif": ("gif", "rgb8")}
VIDEO_SUFFIXES = tuple(CODECS)
#: the audio track: copied as it is, except into WebM, which holds only Opus or Vorbis (re-encoded to Opus),
#: and GIF, which has no sound
AUDIO = {".mp4": "copy", ".mkv": "copy", ".webm": "libopus"}


class VideoError(ValueError):
    """A video that cannot be read or written: not a video, truncated, or an unsupported container."""


def _imageio_ffmpeg():
    try:
        import imageio_ffmpeg
    except ImportError:
        raise VideoError("video needs the video extra: pip install 'tinysr[video]' (imageio-ffmpeg)") from None
    return imageio_ffmpeg


def upscale_video(source, target, scale: int, model="srcnn", weights=None, *, tile: int | None = None,
                  device: str = "cpu", progress=None) -> dict:
    """Upscale every frame of ``source`` into ``target`` (see the module docstring); returns what was done.

    ``progress``: ``None`` or ``progress(frames_done, frames_expected)`` after each frame.
    Returns ``{"frames", "fps", "size", "out_size", "audio"}``. Raises ``VideoError`` for a file
    that is not a video, a truncated one, or a ``target`` with an unsupported suffix.
    """
    ffmpeg = _imageio_ffmpeg()
    source, target = Path(source), Path(target)
    codec = CODECS.get(target.suffix.lower())
    if codec is None:
        raise VideoError(f"cannot write video {target}: expected a suffix {', '.join(VIDEO_SUFFIXES)}")
    try:
        reader = ffmpeg.read_frames(str(source))
        meta = next(reader)
    except (OSError, RuntimeError, StopIteration) as error:
        raise VideoError(f"cannot read video {source}: not a readable video file "
                         f"({str(error).splitlines()[0] if str(error) else type(error).__name__})") from None
    width, height = meta["size"]
    fps = float(meta["fps"])
    expected = round(float(meta.get("duration") or 0) * fps)
    audio = bool(meta.get("audio_codec"))
    partial = target.parent / f".{target.name}.{os.getpid()}.partial"  # renamed to target when complete
    vcodec, pix_fmt = codec
    writer = ffmpeg.write_frames(
        str(partial), (width * scale, height * scale), fps=fps, codec=vcodec, pix_fmt_out=pix_fmt,
        macro_block_size=1, quality=None if vcodec in ("ffv1", "gif") else 9,
        output_params=["-f", target.suffix.lower().lstrip(".").replace("mkv", "matroska")],
        audio_path=str(source) if audio and vcodec != "gif" else None,
        audio_codec=AUDIO.get(target.suffix.lower()), ffmpeg_log_level="quiet")
    frames = 0
    try:
        writer.send(None)  # start ffmpeg
        for raw in reader:
            frame = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)
            writer.send(np.ascontiguousarray(upscale(frame, scale, model, weights, tile=tile, device=device)))
            frames += 1
            if progress is not None:
                progress(frames, max(expected, frames))
        if frames == 0 or frames < expected - 1:
            raise VideoError(f"cannot read video {source}: it is truncated or damaged (expected about {expected} "
                             f"frames, {meta.get('duration')} s at {fps:g} fps; decoded {frames})")
        writer.close()
        written = _frames_in(ffmpeg, partial)
        if written != frames:
            raise VideoError(f"cannot write video {target}: ffmpeg wrote {written} of {frames} frames (is the "
                             f"audio track, {meta.get('audio_codec')}, storable in {target.suffix}?)")
        os.replace(partial, target)
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    finally:
        reader.close()
    return {"frames": frames, "fps": fps, "size": (width, height), "out_size": (width * scale, height * scale),
            "audio": audio and vcodec != "gif"}


def _frames_in(ffmpeg, path: Path) -> int:
    """How many frames ffmpeg decodes from ``path`` (0 for a file it cannot open)."""
    try:
        return ffmpeg.count_frames_and_secs(str(path))[0]
    except (RuntimeError, OSError):
        return 0
