"""The quality study of a model on a shot: renders with every colour-transfer mode, the baselines,
and one evaluation of them all in the same run (the source of docs/quality.md).

Steps (each resumes: renders, pastes and the track are reused when present):
1. track the plate's face over the whole shot (as `doppel analyze` / the demo do);
2. render the study frames with the model once per colour mode (`engine.shot.render`);
3. write the naive-paste baseline from the source faceset;
4. analyse the plate once, then evaluate: no swap, naive paste, every mode;
5. write the report (table, CSVs, curves, worst-frame sheets) into OUT/report/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.evaluate.baselines import write_naive_paste
from engine.evaluate.identity import SourceIdentity, source_identity
from engine.evaluate.report import slug, write_report
from engine.evaluate.shot import ShotResult, analyze_plate, evaluate_render, frames_to_evaluate
from engine.faceset.store import load_faceset
from engine.io import SequencePattern, open_source

COLOR_MODES = ("none", "rct", "rct-local", "lct", "mkl", "idt", "sot", "mix", "hist", "rct-dfl",
               "idt-dfl", "sot-dfl", "mix-dfl")


@dataclass(frozen=True)
class Study:
    plate: str  # plate pattern (scene-linear EXR sequence)
    model: str  # swap model (.onnx)
    faceset: str  # source faceset (identity and naive paste)
    out: str  # working folder
    frames: tuple[int, ...] | None = None  # None: every plate frame
    modes: tuple[str, ...] = COLOR_MODES
    # More renders, each (row label, knob overrides): the detail rows (unsharp amounts, the
    # FaceEnhancer), rendered as `ours, <label>`.
    variants: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    detector: str = "centerface"
    overwrite: bool = False  # replace files in `out` Doppel did not write, a track of another plate


def claim_outputs(study: Study, plate) -> None:
    """The ownership rule over the study's working folder, before any work: its track (of
    this plate: one of another plate is refused unless `overwrite`), cache, baseline frames
    and report; the renders claim theirs (engine.shot.render)."""
    from engine.errors import OutputError
    from engine.evaluate.baselines import NAIVE_MARK
    from engine.evaluate.report import REPORT_FOLDER
    from engine.geometry.track import ANALYSIS_MARK, TRACK_MARK, Track
    from engine.io.ownership import Claims

    out = Path(study.out)
    claims = Claims([Path(study.model), Path(study.faceset), *plate.inputs()], study.overwrite,
                    "choose another --out, or pass --overwrite to replace it")
    track = claims.file(out / "track.json", TRACK_MARK)
    claims.file(out / "track.analysis.json", ANALYSIS_MARK)
    claims.folder(out / "report", REPORT_FOLDER)
    paste = SequencePattern.parse(str(out / "naive_paste" / "paste.####.exr"))
    for f in plate.frames:
        claims.file(paste.path(f), NAIVE_MARK)
    if track.is_file() and not study.overwrite and TRACK_MARK.matches(track):
        made_on = Track.load(track).settings.get("source")
        if made_on != plate.description:
            raise OutputError(f"{track}: tracks another plate ({made_on}); choose another "
                              "--out, or pass --overwrite to track this plate there")


def _track(study: Study, source, log: Callable[[str], None], progress) -> Path:
    from engine.geometry.analyzer import FaceAnalyzer
    from engine.geometry.track import select_track, smooth_track
    from engine.shot.analyze import analyze_frames

    out = Path(study.out)
    path = out / "track.json"
    from engine.geometry.track import TRACK_MARK, Track

    if path.is_file() and TRACK_MARK.matches(path):
        # Reuse only a track of this plate (a working folder reused for another shot must not
        # render that shot's frames with the old track; `claim_outputs` refused it unless
        # --overwrite).
        if Track.load(path).settings.get("source") == source.description:
            return path
        log(f"{path} tracks another plate; tracking this one again (--overwrite)")
    log("tracking the plate's face")
    errors: list[str] = []
    per_frame = analyze_frames(source, source.frames, FaceAnalyzer.create(study.detector),
                               out / "track.analysis.json", {"detector": study.detector}, errors,
                               [], progress)
    track = smooth_track(select_track(per_frame), radius=3)
    track.settings.update(source=source.description, detector=study.detector)
    track.save(path)
    return path


def run_study(study: Study, log: Callable[[str], None] = print,
              progress: Callable[..., Iterable[Any]] | None = None
              ) -> tuple[list[ShotResult], SourceIdentity]:
    """Run every step of the module doc; returns the results (baselines first) and the source
    identity used."""
    from engine.geometry.analyzer import FaceAnalyzer
    from engine.geometry.track import Track
    from engine.shot.render import RenderJob, render
    from engine.swap.settings import SwapSettings

    out = Path(study.out)
    out.mkdir(parents=True, exist_ok=True)
    prog = progress or (lambda it, total, desc: it)
    plate = open_source(study.plate)
    claim_outputs(study, plate)
    frames = list(study.frames) if study.frames else list(plate.frames)
    track_path = _track(study, plate, log, prog)
    track = Track.load(track_path)

    renders: list[tuple[str, str]] = []
    runs = [(mode, mode, {"color": mode}) for mode in study.modes]
    runs += [(label, slug(label), dict(knobs)) for label, knobs in study.variants]
    for mode, folder, knobs in runs:
        pattern = str(out / f"render_{folder}" / "swap.####.exr")
        log(f"rendering {mode}")
        settings = SwapSettings.from_dict({"model": study.model, **knobs})
        job = RenderJob(study.plate, pattern, settings, str(track_path))
        summary = render(job, frames, progress=lambda it, n, m=mode: prog(it, n, f"render {m}"))
        if summary.errors:
            log(f"  {len(summary.errors)} frame(s) failed: {summary.errors[0]}")
        renders.append((f"ours, {mode}", pattern))

    faceset = load_faceset(study.faceset)
    paste = str(out / "naive_paste" / "paste.####.exr")
    log("writing the naive-paste baseline")
    lms = {f: track.landmarks(f) for f in frames if f in track.faces}
    poses = {f: track.faces[f].pose for f in lms}
    write_naive_paste(plate, lms, poses, faceset, paste, frames, prog)

    analyzer = FaceAnalyzer.create(study.detector, describe=True)
    log("describing the source identity")
    identity = source_identity(faceset, analyzer.describer)
    notes: list[str] = []
    frames = frames_to_evaluate(plate, plate, frames, notes)
    plate_frames = analyze_plate(plate, frames, analyzer, prog)
    results = [evaluate_render("no swap (plate)", plate_frames, plate, identity, analyzer, prog,
                               notes)]
    for name, pattern in [("naive paste", paste)] + renders:
        results.append(evaluate_render(name, plate_frames, open_source(pattern), identity,
                                       analyzer, prog, notes))
    write_report(results, out / "report", title="Quality study")
    return results, identity


def best_by(results: Sequence[ShotResult], key: str, higher_better: bool,
            among: Callable[[ShotResult], bool] = lambda r: True) -> ShotResult | None:
    """The result with the best mean of `key` among those `among` accepts (None if none)."""
    import math

    cands = [(r.summary()[key][0], r) for r in results if among(r)]
    cands = [(v, r) for v, r in cands if math.isfinite(v)]
    if not cands:
        return None
    return (max if higher_better else min)(cands, key=lambda c: c[0])[1]
