"""Resume records: what a rendered frame was made from, and whether an output on disk is exactly
this render's.

A record holds the model and XSeg content digests, the pixel-affecting settings, the track's
digest, the output options and the engine version, and nothing that changes between runs (paths,
threads, device), so rendering the same frames twice, or in other chunkings, on other machines or
mount points, gives bit-identical files. EXR outputs keep it as `doppel/record` with its digest
`doppel/digest`; PNG as text chunks; TIFF/JPEG inside the image description.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import OpenImageIO as oiio

from engine import __version__
from engine.errors import OutputError
from engine.swap.enhance import EnhancerInfo
from engine.swap.infer import ModelInfo
from engine.swap.settings import SwapSettings

# Settings that never change pixels (and paths, which name a file, not its content): left out
# of the record so outputs are bit-identical however a shot is split over workers, machines and
# mount points, and so `models/x.onnx` and its absolute path resume alike.
NOT_RECORDED = ("threads", "device", "model", "xseg", "enhancer")
DESCRIPTION = "doppel render "  # prefix of the description of non-EXR outputs


def digest(obj: Any) -> str:
    """sha256 of `obj`'s canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def track_digest(path: str | None) -> str:
    """Content digest of a track file ('' without one), leaving out its plate fingerprints:
    they prove which plate the track belongs to and change no pixel, so a track analysed
    again by a Doppel that records them resumes renders made before (the digest of a file
    `Track.save` wrote is the digest of its bytes as written without fingerprints)."""
    if not path:
        return ""
    raw = Path(path).read_bytes()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return hashlib.sha256(raw).hexdigest()
    if not isinstance(data, dict):
        return hashlib.sha256(raw).hexdigest()
    settings, frames = data.get("settings"), data.get("frames")
    if isinstance(settings, dict):
        settings.pop("fingerprint", None)
    if isinstance(frames, dict):
        for entry in frames.values():
            if isinstance(entry, dict):
                entry.pop("fingerprint", None)
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()


def render_record(settings: SwapSettings, output: dict[str, Any], model: ModelInfo,
                  xseg: ModelInfo | None, track_sha: str, takes_morph: bool = False,
                  enhancer: EnhancerInfo | None = None) -> dict[str, Any]:
    """What a frame is made from: model and XSeg content digests, the pixel-affecting settings,
    the track's digest, output options (`output`) and the engine version. Two runs that agree
    on this write the same pixels; resume compares it, key by key. `morph` counts only for a
    model that takes it (an AMP .dfm): elsewhere it changes no pixel, and renders made before
    the knob existed keep resuming. Likewise the FaceEnhancer: its digest and `enhance` are
    recorded only where it runs (an enhancer set and enhance > 0); enhance 0 writes today's
    pixels and today's record. `mask_units` is recorded only when it is "face": plate pixels
    were the only units before it existed, so a render made then resumes with `--mask-units
    px` and its erode and blur (and is refused with the face-relative default, which differs
    in erode and blur)."""
    recorded = {k: v for k, v in settings.to_dict().items() if k not in NOT_RECORDED}
    if recorded.get("mask_units") == "px":
        recorded.pop("mask_units")
    if not takes_morph:
        recorded.pop("morph", None)
    enhancing = enhancer is not None and settings.look.enhance > 0
    if not enhancing:
        recorded.pop("enhance", None)
    record = {"engine": __version__, "model": model.digest,
              "xseg": xseg.digest if xseg is not None else "", "track": track_sha,
              "settings": recorded, "output": output}
    if enhancing:
        assert enhancer is not None
        record["enhancer"] = enhancer.digest
    return record


def read_record(path: Path) -> dict[str, Any] | None | str:
    """An output's recorded render (dict), None if it is not a Doppel output, or 'old' for one
    written by a Doppel that kept no record."""
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        oiio.geterror()
        return None
    try:
        spec = inp.spec()
        text = spec.getattribute("doppel/record")
        engine = spec.getattribute("doppel/engine")
        desc = spec.getattribute("ImageDescription")
    finally:
        inp.close()
    if engine is None and isinstance(desc, str) and desc.startswith(DESCRIPTION):
        try:  # a TIFF/JPEG output: our attributes are in its description
            attrs = json.loads(desc[len(DESCRIPTION):])
            engine, text = attrs.get("doppel/engine"), attrs.get("doppel/record")
        except (json.JSONDecodeError, AttributeError):
            engine = None
    if engine is None:
        return None
    try:
        record = json.loads(text) if text else None
    except json.JSONDecodeError:
        record = None
    return record if isinstance(record, dict) else "old"


def difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The first differing entry of two records, in words (`color 'lct' (this run 'rct')`)."""
    names = {"model": "model (content digest)", "xseg": "XSeg model (content digest)",
             "enhancer": "enhancer (content digest)",
             "track": "track file (content)", "engine": "engine version"}
    flat_old = {**{k: v for k, v in old.items() if not isinstance(v, dict)},
                **old.get("settings", {}), **old.get("output", {})}
    flat_new = {**{k: v for k, v in new.items() if not isinstance(v, dict)},
                **new.get("settings", {}), **new.get("output", {})}
    for key in flat_new:
        if flat_old.get(key) != flat_new.get(key):
            if key in ("model", "xseg", "track", "enhancer"):
                return f"another {names[key]}"
            label = names.get(key, f"--{key.replace('_', '-')}")
            return f"{label} {flat_old.get(key)!r} (this run {flat_new[key]!r})"
    return "other settings"


def is_rendered(path: Path, record: dict[str, Any]) -> bool:
    """True if `path` is a complete output of exactly this render (atomic writes: a present
    file is whole); raises OutputError for a file that is not, naming what differs."""
    if path.is_dir():
        raise OutputError(f"{path}: output path is a folder; remove it or choose another "
                          "--output")
    if not path.exists():
        return False
    old = read_record(path)
    if old is None:
        raise OutputError(f"{path}: exists and was not written by Doppel; refusing to replace "
                          "it (pass --overwrite to replace it, or choose another --output)")
    if old == "old":
        raise OutputError(f"{path}: rendered by an older Doppel that recorded no settings; "
                          "pass --overwrite to render it again")
    assert isinstance(old, dict)
    if digest(old) == digest(record):
        return True
    raise OutputError(f"{path}: rendered with {difference(old, record)}; resume with the same "
                      "model and settings, or pass --overwrite to render it again")
