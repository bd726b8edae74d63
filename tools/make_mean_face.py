"""Derive engine/data/mean_face_68.json: the canonical mean face used for alignment.

Generalised Procrustes analysis over dlib's 68 landmarks on the sample media (photos, astronaut,
every 40th plate frame, so the one clip does not outweigh the stills) plus their mirror images;
the mean is then symmetrised and normalised so the inner points 17-67 span [0, 1] on both axes
(the half-face frame).
Run once after `make samples`; the output is committed.
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.geometry.align import FLIP_68, umeyama  # noqa: E402
from engine.geometry.detect import DlibHogDetector  # noqa: E402
from engine.geometry.landmarks import DlibLandmarker  # noqa: E402
from engine.io import open_source  # noqa: E402
from engine.io.colorspace import to_display_uint8  # noqa: E402


def main(samples: Path) -> None:
    det, lmk = DlibHogDetector(upsample=1), DlibLandmarker()
    shapes = []
    sources = [open_source(p) for p in sorted((samples / "photos").iterdir())]
    plate = open_source(samples / "plate" / "plate.####.exr")
    for src, frames in [(s, None) for s in sources] + [(plate, plate.frames[::40])]:
        for frame in src.read(frames):
            img = to_display_uint8(frame.rgb)
            for d in det.detect(img)[:1]:
                pts = lmk.fit(img, d).astype(np.float64)
                shapes.append(pts)
                mirrored = pts.copy()
                mirrored[:, 0] = -mirrored[:, 0]
                shapes.append(mirrored[FLIP_68])
    mean = shapes[0] - shapes[0].mean(0)
    for _ in range(10):
        aligned = [(umeyama(s, mean) @ np.c_[s, np.ones(68)].T).T for s in shapes]
        mean = np.mean(aligned, axis=0)
    # GPA leaves the mean at the arbitrary roll of its first shape; averaging it with its own
    # mirror image makes it exactly symmetric about x = 0 (the roll is a degree or two, so the
    # averaging changes the shape by well under a pixel at crop size).
    mirrored = mean.copy()
    mirrored[:, 0] = -mirrored[:, 0]
    mean = mean - mean.mean(0)
    mirrored = mirrored[FLIP_68] - mirrored.mean(0)
    mean = 0.5 * (mean + mirrored)
    inner = mean[17:]
    lo, hi = inner.min(0), inner.max(0)
    unit = (mean - lo) / (hi - lo)
    out = Path(__file__).resolve().parent.parent / "engine" / "data" / "mean_face_68.json"
    out.write_text(json.dumps({
        "schema": 1,
        "about": "68-point mean face, unit half-face frame; see tools/make_mean_face.py",
        "faces": len(shapes),
        "points": [[round(float(x), 5), round(float(y), 5)] for x, y in unit],
    }, indent=1))
    print(f"wrote {out} from {len(shapes)} shapes")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "samples"))
