"""The FaceSwap node's Python half: what the OFX plugin (through bridge/) calls per action.

The C++ side only moves pixels and parameter values; everything with meaning happens here, on
the same engine `doppel render` uses, so the node and the farm write the same pixels.

Conventions (the bridge's contract):
- `values`: the node's parameters as a flat dict keyed by `engine.swap.params.PARAMS` names (choices
  as their strings, not indices).
- Coordinates are the plate's **display-window pixels, y down** (as EXR and the track store
  them); the plugin converts from OFX's canonical, y-up coordinates.
- `src`: `H×W×C` float32 view of the host's source image (C = 3 or 4; negative row stride for
  bottom-up host buffers; read only), its top-left pixel at `origin` in the display window.
- `out`: `h×w×C` float32 writable view of the host's output image over the render window,
  top-left at `out_origin`.
- `scale`: the host's render scale (a proxy: 0.5 = half resolution). `display`, origins and
  images are then in the scaled frame's pixels (the display window is the full one scaled by
  `engine.geometry.track.scale_window`, as the plugin computes it); the frame layer scales the
  track's landmarks and the plate-pixel knobs (erode, blur, when Units is px) to match.
- `format_from`: where the plugin took the display window: "clip" (the Source clip's format,
  OFX 1.5 hosts) or "project" (the project extent: Nuke's root format), which decides the
  advice when it differs from the track's plate.

Heavy state follows `EngineConfig`: a `FaceSwapper` is built once per distinct config and
reused, so dragging a look knob (blur, mix, colour mode) never reloads a model; `loads` counts
the builds (the node's test checks it). Tracks are cached by the file's content digest, read
and checked on every call (an edit that keeps the size and restores the mtime is still seen:
node and farm read the same track), and checked against the digest Analyze stored in the node,
so a track file changed behind the comp's back is refused by name instead of silently swapping
another face; hand edits (`doppel track edit`, docs/track-editing.md) leave the analysis as
Analyze wrote it and are accepted (`analysis_digests`), and read from the file on every call.
The node's Track file follows the ownership rule (engine.io.ownership): Analyze
writes a new file or replaces a track Doppel wrote, never a comp, notes or other file; Send to
farm likewise.

Thread safety: one `Node` serves every render thread of its OFX instance. The caches are
guarded by a lock; `FaceSwapper.process` is thread-safe (see engine/swap/pipeline.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import (
    Cancelled,
    DiskFullError,
    DoppelError,
    InputError,
    MediaError,
    ModelError,
    OutputError,
    SettingsError,
)
from engine.geometry.track import ANALYSIS_MARK, TRACK_MARK, Track
from engine.io.geometry import Geometry
from engine.io.ownership import Claims
from engine.shot.frame import FrameLayer, check_frame
from engine.swap.params import settings_from_values
from engine.swap.pipeline import FaceSwapper
from engine.swap.settings import EngineConfig, SwapLook, values_to_settings
from engine.types import Box

log = logging.getLogger("doppel.node")


# The error classes a host is told apart, most specific first: the bridge turns each kind into
# its own C++ exception, and the plugin chooses the OFX status from it (docs/node.md).
ERROR_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (Cancelled, "cancelled"),
    (DiskFullError, "disk_full"),
    (MediaError, "media"),
    (SettingsError, "settings"),
    (OutputError, "output"),
    (InputError, "input"),
    (ModelError, "model"),
    (DoppelError, "input"),
    (MemoryError, "memory"),
)


def error_kind(exc: BaseException) -> str:
    """The kind of `exc` the host acts on: one of ERROR_KINDS' names, else "internal" (a bug)."""
    for cls, kind in ERROR_KINDS:
        if isinstance(exc, cls):
            return kind
    return "internal"


def describe_error(exc: BaseException) -> tuple[str, str]:
    """`(kind, one-line message)` of `exc`, what the bridge hands the plugin."""
    return error_kind(exc), one_line(exc)


def one_line(exc: BaseException) -> str:
    """The message a host shows for `exc`: a DoppelError's own line; anything else is a bug,
    reported as an internal error with its traceback in the log (stderr)."""
    if isinstance(exc, DoppelError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, MemoryError):
        return ("out of memory (MemoryError); lower the plate's resolution or free memory "
                "on this machine")
    log.error("internal error:\n%s", "".join(traceback.format_exception(exc)))
    first = (str(exc).splitlines() or [""])[0]
    return f"internal error ({type(exc).__name__}: {first}); the traceback is in the host's log"


def file_digest(path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def analysis_digests(raw: bytes) -> set[str]:
    """The digests Analyze may have stored for a track file's bytes, its hand edits left out:
    a track edited since Analyze (`doppel track edit`/`fix`: keys and their entries added, the
    analysis kept as written) still belongs to this node; a track analysed again or replaced
    does not. Saving re-writes the analysis byte for byte (`Track.to_json`), so the digest of
    the file without `keys` and `edits` is the digest Analyze recorded; an edited track that
    Analyze wrote as schema 1 (before keys) is saved as schema 2, so that digest counts too."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {hashlib.sha256(raw).hexdigest()}
    if not isinstance(data, dict) or not ("keys" in data or "edits" in data):
        return {hashlib.sha256(raw).hexdigest()}
    data = {k: v for k, v in data.items() if k not in ("keys", "edits")}
    out = {hashlib.sha256(json.dumps(data).encode()).hexdigest()}
    if "schema" in data:
        out.add(hashlib.sha256(json.dumps({**data, "schema": 1}).encode()).hexdigest())
    return out


class Node:
    """One OFX instance's engine state: swappers by config, tracks by file."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._swappers: dict[EngineConfig, FaceSwapper] = {}
        self._tracks: dict[str, tuple[bytes, str, Track]] = {}  # path -> (bytes, digest, track)
        self.loads = 0  # FaceSwapper builds (model loads), for tests and the log
        # Hosts ask for identity and regions of interest before every render (and per tile):
        # settings parsed once per distinct value set, face boxes once per track and config.
        self._settings: dict[tuple[Any, ...], tuple[EngineConfig, SwapLook]] = {}
        self._boxes: dict[tuple[Any, ...], tuple[Track, dict[int, Box | None]]] = {}

    # -- settings -------------------------------------------------------------------------
    def swapper(self, config: EngineConfig) -> FaceSwapper:
        with self._lock:
            sw = self._swappers.get(config)
            if sw is None:
                if not config.model:
                    raise SettingsError("Model: no model file set; pick an exported .onnx "
                                        "(doppel export)")
                if not Path(config.model).is_file():
                    raise SettingsError(f"Model: {config.model}: file not found; pick an "
                                        "exported .onnx (doppel export)")
                sw = FaceSwapper(config)
                self.loads += 1
                # One config at a time is what a comp needs; keep the last two (A/B toggling).
                if len(self._swappers) >= 2:
                    self._swappers.pop(next(iter(self._swappers)))
                self._swappers[config] = sw
            return sw

    def track(self, values: dict[str, Any]) -> Track | None:
        """The node's track (None when no track file is set: detection per frame)."""
        path = str(values.get("track_file") or "")
        if not path:
            return None
        p = Path(path)
        if p.is_dir():
            raise InputError(f"Track file: {path} is a folder; point it at the track (.json)")
        try:
            raw = p.read_bytes()  # the content decides, never size or mtime (module doc)
        except FileNotFoundError:
            raise InputError(f"Track file: {path} not found; press Analyze (or point Track "
                             "file at the track this comp was analysed with)") from None
        with self._lock:
            hit = self._tracks.get(path)
        # The same bytes as the cached track's: its digest holds (reading and comparing costs a
        # third of hashing: 1.7 ms vs 5 ms for a 1,200-frame track, docs/benchmarks.md).
        digest = hit[1] if hit is not None and hit[0] == raw else hashlib.sha256(raw).hexdigest()
        want = str(values.get("track_digest") or "")
        if want and digest != want and want not in analysis_digests(raw):
            raise InputError(f"Track file: {path} changed since Analyze (its digest no longer "
                             "matches the node's); press Analyze again or restore the file")
        if hit is None or hit[1] != digest:
            track = Track.loads(raw, path)
            if not track.faces:
                raise InputError(f"Track file: {path} holds no tracked face; press Analyze on "
                                 "frames that show the face")
            if not track.verified:
                log.warning("%s: made before tracks held plate fingerprints, so its frames are "
                            "not checked against the plate; press Analyze again to add them",
                            path)
            hit = (raw, digest, track)
            with self._lock:
                self._tracks[path] = hit
        return hit[2]

    def settings(self, values: dict[str, Any]) -> tuple[EngineConfig, SwapLook]:
        key = tuple(sorted(values.items()))
        hit = self._settings.get(key)
        if hit is None:
            hit = values_to_settings(values)
            with self._lock:
                if len(self._settings) >= 64:
                    self._settings.clear()
                self._settings[key] = hit
        return hit

    def layer(self, values: dict[str, Any]) -> FrameLayer:
        """The frame layer for these values: the same per-frame rules and pixels as `doppel
        render` and the farm (engine.shot.frame)."""
        config, look = self.settings(values)
        swapper = self.swapper(config)
        track = self.track(values)
        return FrameLayer(swapper, look, track, str(values.get("track_file") or "track"))

    # -- per-frame actions ------------------------------------------------------------------
    def is_identity(self, frame: int, values: dict[str, Any]) -> bool:
        """True where the output is the Source unchanged: mix 0 on the comp view, or a frame
        the track was analysed over that showed no face. A frame the frame layer's rules refuse
        (one the track never analysed) is not: render reports it, as the farm does."""
        config, look = self.settings(values)
        track = self.track(values)
        if track is not None:
            try:
                check_frame(frame, None, track, str(values.get("track_file")))
            except DoppelError:
                return False
        if look.output == "comp" and look.strength == 0.0:
            return True
        return (track is not None and frame not in track.faces
                and look.output in ("comp", "face", "landmarks"))

    def check_format(self, track: Track | None, display: tuple[int, int, int, int],
                     scale: float, format_from: str, frame: int, path: str) -> None:
        """Refuse a display window from the project extent (a host without clip formats) that
        is not the track's plate: the fix is the project's format, not a new analysis."""
        if track is None or format_from != "project":
            return
        want = track.plate_display(scale)
        if want is not None and tuple(display) != want:
            plate = track.plate_display() or want
            w, h = (round(v / scale) for v in display[2:])  # the project at full resolution
            raise InputError(
                f"frame {frame}: the project (root) format is {w}×{h} but the track {path} was "
                f"made on a {plate[2]}×{plate[3]} plate; set the project format to the plate's "
                "(Nuke: Project Settings > full size format), or press Analyze if this is "
                "another plate")

    def roi(self, frame: int, values: dict[str, Any], display: tuple[int, int, int, int],
            pixel_aspect: float = 1.0, scale: float = 1.0,
            format_from: str = "clip") -> Box | None:
        """The display-window rectangle (x0, y0, x1, y1, y down, exclusive ends, in the pixels
        of the frame at `scale`) the frame reads and writes; None: nothing beyond the render
        window is needed (pass-through). Without a track the whole display window (detection
        reads the frame). Raises what render would raise for this frame (a rule, the
        format)."""
        layer = self.layer(values)
        track = layer.track
        if track is None:
            x, y, w, h = display
            return (x, y, x + w, y + h)
        path = str(values.get("track_file"))
        display = tuple(int(v) for v in display)  # type: ignore[assignment]
        self.check_format(track, display, scale, format_from, frame, path)
        geo = Geometry(display, display, float(pixel_aspect))
        layer.track_for(frame, geo, scale)  # the rules and the plate check, as render
        key = (path, id(track), layer.swapper.config, layer.look.output == "landmarks",
               display, float(pixel_aspect), float(scale))
        hit = self._boxes.get(key)  # the entry holds the track: its id() stays unique
        if hit is None:  # every frame of the track at once (~0.3 ms a frame, once)
            view = track.for_plate(geo, frame, path, scale)
            hit = (track, {f: layer.swapper.roi(f, view, layer.look) for f in track.faces})
            with self._lock:
                if len(self._boxes) >= 4:
                    self._boxes.clear()
                self._boxes[key] = hit
        boxes = hit[1]
        box = boxes.get(frame)
        if box is None:
            return None
        return tuple(int(v) for v in box)  # type: ignore[return-value]

    def render(self, frame: int, values: dict[str, Any], src: np.ndarray,
               origin: tuple[int, int], out: np.ndarray, out_origin: tuple[int, int],
               display: tuple[int, int, int, int], pixel_aspect: float = 1.0,
               holdout: np.ndarray | None = None, scale: float = 1.0,
               format_from: str = "clip") -> dict[str, Any]:
        """Render `frame` into `out` (at render `scale`). Pixels of the render window outside
        the source image are transparent black (as every OFX filter leaves them)."""
        layer = self.layer(values)
        h, w = src.shape[:2]
        self.check_format(layer.track, tuple(display), scale, format_from, frame,
                          str(values.get("track_file")))
        geo = Geometry((int(origin[0]), int(origin[1]), w, h), tuple(display),  # type: ignore
                       float(pixel_aspect))
        if holdout is not None and holdout.shape[:2] != src.shape[:2]:
            raise InputError(f"Mask: frame {frame}: the mask image is {holdout.shape[1]}×"
                             f"{holdout.shape[0]} but the Source {w}×{h}; reformat the mask "
                             "to the plate")
        channels = ("R", "G", "B", "A")[: src.shape[2]]
        if out.shape[2] != src.shape[2]:
            raise SettingsError(f"frame {frame}: Source has {src.shape[2]} channels but the "
                                f"output {out.shape[2]}; use RGBA (or RGB) on both")
        dx, dy = out_origin[0] - origin[0], out_origin[1] - origin[1]
        oh, ow = out.shape[:2]
        t0 = time.perf_counter()
        if (dx, dy) == (0, 0) and (oh, ow) == (h, w):
            # The render window is the source image (a whole frame): write in place, no copy.
            result = layer.swap(frame, src, channels=channels, geometry=geo, out=out,
                                holdout=holdout, scale=scale)
            return _diag(result.diagnostics, time.perf_counter() - t0)
        result = layer.swap(frame, src, channels=channels, geometry=geo, holdout=holdout,
                            scale=scale)
        process_s = time.perf_counter() - t0
        out[...] = 0.0
        # The overlap of the render window and the source image, in each array's pixels.
        x0, y0 = max(dx, 0), max(dy, 0)
        x1, y1 = min(dx + ow, w), min(dy + oh, h)
        if x1 > x0 and y1 > y0:
            out[y0 - dy:y1 - dy, x0 - dx:x1 - dx] = result.image[y0:y1, x0:x1]
        return _diag(result.diagnostics, process_s)

    # -- Analyze ----------------------------------------------------------------------------
    def analyze(self, values: dict[str, Any], frames: list[int],
                fetch: Callable[[int], tuple[np.ndarray, Any]],
                display: tuple[int, int, int, int], pixel_aspect: float,
                progress: Callable[[int, int], None] | None = None,
                cancel: Callable[[], bool] | None = None) -> dict[str, Any]:
        """Track the face over `frames` (pulled from the host by `fetch`), save the track to
        the node's track file atomically; returns {"digest", "frames", "tracked", "errors"}.
        An interrupted (cancelled) analysis keeps its per-frame results beside the track
        (`engine.shot.analyze.analysis_cache_path`, the name `doppel analyze` uses) and resumes
        on the next Analyze; a finished one removes them."""
        from engine.shot.analyze import (
            AnalyzeSettings,
            analysis_cache_path,
            analyze_shot,
            finish_analysis,
            write_track,
        )

        path = str(values.get("track_file") or "")
        if not path:
            raise SettingsError("Track file: empty; set where Analyze stores the track "
                                "(e.g. a .json beside the comp)")
        target = Path(path)
        if target.is_dir():
            raise SettingsError(f"Track file: {path} is a folder; give a file name (.json)")
        if not target.parent.is_dir():
            raise SettingsError(f"Track file: folder {target.parent} does not exist; create "
                                "it or pick another place")
        from engine.host.clip_source import HostClipSource

        settings = settings_from_values(AnalyzeSettings, values)
        cache = analysis_cache_path(target)
        # The ownership rule, before any work: a new file or a track Doppel wrote.
        claims = Claims([Path(settings.reference)] if settings.reference else [],
                        hint="pick another Track file, or delete that file")
        claims.file(target, TRACK_MARK)
        claims.file(cache, ANALYSIS_MARK)
        source = HostClipSource(frames, fetch, display, pixel_aspect, "Source")
        errors: list[str] = []
        track = analyze_shot(source, settings, progress, cancel, cache=cache, errors=errors)
        if not track.faces:
            finish_analysis(target)  # ran to its end: nothing to resume
            raise InputError(f"Analyze: no face found on frames {frames[0]}-{frames[-1]} of the "
                             "Source; check the input, or lower Detection size for tiny faces")
        write_track(track, target)
        with self._lock:
            self._tracks.pop(path, None)
        result = {"digest": file_digest(target), "frames": len(frames),
                  "tracked": len(track.faces), "errors": errors,
                  "health": track.settings.get("suspects", "")}  # suspect frames, in words
        # Issue 21: does the model know this plate's face? (frames fetched again, tracked only)
        config, _look = self.settings(values)
        if config.model and Path(config.model).is_file():
            from engine.swap.fit import shot_fit

            swapper = self.swapper(config)
            result["fit"] = shot_fit(swapper.model, source.read(sorted(track.faces)), track,
                                     transfer=swapper.transfer).summary()
            from engine.swap.mouth_fit import shot_mouths

            result["mouth_shape"] = shot_mouths(
                swapper.model.info, {f: track.landmarks(f) for f in track.faces}).summary()
        return result

    # -- track editing ----------------------------------------------------------------------
    def edit_track(self, values: dict[str, Any], wait_s: float = 10.0) -> list[str]:
        """Open the track editor (`doppel track edit`) on the node's plate and track in a
        detached process (the host never waits on it once it serves); returns the command line
        it ran and the editor's address. The plate is the node's "Plate on the farm" file (the
        node sees only the host's pixels).

        Waits up to `wait_s` for the editor to print its address, so an editor that cannot
        start (the plate is not the track's, no free port) is this press's error with the
        editor's own line, not a button that silently does nothing."""
        import re
        import subprocess
        import sys
        import tempfile
        import time

        track = str(values.get("track_file") or "")
        plate = str(values.get("farm_plate") or "")
        if not track or not Path(track).is_file():
            raise SettingsError("Edit Track: no track file yet; press Analyze first")
        if not plate:
            raise SettingsError("Edit Track: the node knows no plate file (its Source may be an "
                                "upstream comp); set 'Plate on the farm' to the plate sequence "
                                "(plate.####.exr), or run 'doppel track edit PLATE TRACK'")
        python = Path(sys.prefix) / "bin" / "python"  # the host's own executable is no Python
        cmd = [str(python if python.is_file() else sys.executable), "-m", "doppel_cli", "track",
               "edit", plate, track]
        log = Path(tempfile.mkdtemp(prefix="doppel-track-edit-")) / "editor.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + wait_s
        while True:
            text = log.read_text(errors="replace") if log.is_file() else ""
            if address := re.search(r"http://127\.0\.0\.1:\d+/", text):
                return [*cmd, "at", address.group(0)]
            code = proc.poll()
            if code is not None:
                lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
                raise SettingsError(f"Edit Track: the editor did not start (exit {code}: "
                                    f"{lines[-1] if lines else 'no message'}); its log: {log}")
            if time.monotonic() > deadline:
                return [*cmd, "(still starting; its log:", f"{log})"]
            time.sleep(0.05)

    # -- farm -------------------------------------------------------------------------------
    def send_to_farm(self, values: dict[str, Any], first: int, last: int) -> str:
        """Write the OpenJD job bundle rendering `first..last` with exactly these settings and
        this track; returns the bundle folder."""
        from engine.host.farm import write_node_job

        return str(write_node_job(values, first, last))


def _diag(d: dict[str, Any], process_s: float) -> dict[str, Any]:
    return {"swapped": bool(d.get("swapped")), "reason": str(d.get("reason", "")),
            "faces_found": int(d.get("faces_found", 0)), "process_ms": process_s * 1000.0}
