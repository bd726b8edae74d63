"""What "nothing lost, part two" costs: the ownership check per output, the sequence claim per
run, the node's track digest per call and the plate fingerprint check per frame.

In one run, interleaved rounds over real files (the sample plate, the demo model):
- per frame, what a render adds for ownership: the output frame against every input (the plate
  frames, track, model: `Claims.not_an_input`), for a new output (a `stat`) and for an existing
  Doppel output (plus the mark: `is_rendered` reads its header and record);
- per run: claiming a file with a JSON mark (a 120-frame track), a folder with its index (a
  faceset), the output sequence's claim (write, look, release);
- per node call: reading and hashing the track file (120 and 1,200 frames), and what
  `Node.track` costs on a cached track (read, compare with the cached bytes);
- per frame: the plate fingerprint check (`Track.check_pixels`: two thumbnails, compare) and the
  landmark rules (`Track.check_entry`), with one frame's render for scale.
Prints medians; figures go to docs/benchmarks.md with the CPU named.

    PYTHONPATH=. .venv/bin/python benchmarks/ownership.py
"""

from __future__ import annotations

import hashlib
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.faceset.store import FACESET_FOLDER  # noqa: E402
from engine.geometry.track import TRACK_MARK, Track  # noqa: E402
from engine.io import SequencePattern, open_source, read_image  # noqa: E402
from engine.io.ownership import Claims  # noqa: E402
from engine.runtime.sysinfo import cpu_name  # noqa: E402
from engine.shot.analyze import AnalyzeSettings, analyze_shot  # noqa: E402
from engine.shot.claim import SequenceClaim  # noqa: E402
from engine.shot.render import RenderJob, render  # noqa: E402
from engine.shot.resume import is_rendered  # noqa: E402
from engine.swap.settings import SwapSettings  # noqa: E402

FRAMES = list(range(1001, 1009))
ROUNDS = 30


def ms(fn, n: int = 1) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) / n * 1000


def main() -> None:
    model = ROOT / "models" / "demo_df-ud_96.onnx"
    plate = str(ROOT / "samples" / "plate" / "plate.####.exr")
    source = open_source(plate)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        track = analyze_shot(source, AnalyzeSettings(), numbers=FRAMES)
        track.save(tmp / "track.json")
        big = tmp / "track1200.json"  # a long shot's track: the same entries, ten times over
        data = json.loads((tmp / "track.json").read_text())
        data["frames"] = {str(1001 + i): e for i, e in
                          enumerate(list(data["frames"].values()) * 150)}
        big.write_text(json.dumps(data))
        long = tmp / "track120.json"
        data["frames"] = dict(list(data["frames"].items())[:120])
        long.write_text(json.dumps(data))
        settings = SwapSettings.from_dict({"model": str(model)})
        job = RenderJob(plate, str(tmp / "out" / "swap.####.exr"), settings,
                        str(tmp / "track.json"))
        t0 = time.perf_counter()
        render(job, FRAMES)
        per_frame_render = (time.perf_counter() - t0) / len(FRAMES) * 1000
        from engine.shot.resume import track_digest

        record = job.record(track_digest(job.track))
        pattern = SequencePattern.parse(job.output)
        done = [pattern.path(f) for f in FRAMES]
        new = [tmp / "new" / f"swap.{f}.exr" for f in FRAMES]
        (tmp / "fs").mkdir()
        (tmp / "fs" / "faceset.json").write_text(json.dumps(
            {"schema": 1, "face_type": "full", "size": 64, "faces": []}))
        inputs = source.inputs() + [tmp / "track.json", model]
        pixels = {f: read_image(source.path_of(f)).pixels for f in FRAMES}
        loaded = Track.load(tmp / "track.json")
        from engine.host.node import Node

        node, values = Node(), {"track_file": str(big)}
        node.track(values)  # cached: later calls read the file and compare its bytes
        rows: dict[str, list[float]] = {k: [] for k in (
            "inputs_new", "inputs_done", "mark_done", "json_mark", "folder", "claim",
            "digest120", "digest1200", "node1200", "fingerprint", "entry")}
        for _ in range(ROUNDS):
            claims = Claims(inputs)
            rows["inputs_new"].append(ms(lambda c=claims: [c.not_an_input(p, "render frame")
                                                           for p in new], len(new)))
            rows["inputs_done"].append(ms(lambda c=claims: [c.not_an_input(p, "render frame")
                                                            for p in done], len(done)))
            rows["mark_done"].append(ms(lambda: [is_rendered(p, record) for p in done],
                                        len(done)))
            rows["json_mark"].append(ms(lambda: Claims().file(long, TRACK_MARK)))
            rows["folder"].append(ms(lambda: Claims().folder(tmp / "fs", FACESET_FOLDER)))
            rows["claim"].append(ms(lambda: SequenceClaim(pattern, record).take().release()))
            rows["digest120"].append(ms(lambda: hashlib.sha256(long.read_bytes()).hexdigest()))
            rows["digest1200"].append(ms(lambda: hashlib.sha256(big.read_bytes()).hexdigest()))
            rows["node1200"].append(ms(lambda: node.track(values)))
            rows["fingerprint"].append(ms(lambda: [loaded.check_pixels(
                f, pixels[f], None, "track") for f in FRAMES], len(FRAMES)))
            rows["entry"].append(ms(lambda: [loaded.check_entry(f, None, "track")
                                             for f in FRAMES], len(FRAMES)))
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"CPU: {cpu_name() or platform.processor() or platform.machine()}; median of "
          f"{ROUNDS} rounds")
    print("per output frame (render):")
    print(f"  not an input, new output        {med['inputs_new']:7.3f} ms")
    print(f"  not an input, existing output   {med['inputs_done']:7.3f} ms")
    print(f"  its mark and record (resume)    {med['mark_done']:7.3f} ms")
    print(f"  ownership, per frame in all     {med['inputs_done'] + med['mark_done']:7.3f} ms")
    print("per run:")
    print(f"  track file, JSON mark (120 fr)  {med['json_mark']:7.3f} ms")
    print(f"  faceset folder and its index    {med['folder']:7.3f} ms")
    print(f"  sequence claim take + release   {med['claim']:7.3f} ms")
    print("per node call (track read + sha256):")
    print(f"  120-frame track                 {med['digest120']:7.3f} ms")
    print(f"  1,200-frame track               {med['digest1200']:7.3f} ms")
    print(f"  Node.track, 1,200 frames, cached {med['node1200']:6.3f} ms (read + compare)")
    print("per frame (frame rules):")
    print(f"  plate fingerprint check         {med['fingerprint']:7.3f} ms (880×720)")
    print(f"  landmark rules (check_entry)    {med['entry']:7.3f} ms")
    print(f"render, for scale                 {per_frame_render:7.0f} ms per frame")


if __name__ == "__main__":
    main()
