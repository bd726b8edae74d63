"""`doppel faceset sort|prune|coverage|import-dfl`: a TD's faceset clean-up, thin over
engine.faceset.sort and engine.faceset.coverage, and DeepFaceLab imports
(engine.interop.dfl_faceset). Nothing here edits a faceset: sort writes a listing and a sheet,
prune writes a new faceset, coverage writes a plot and a report, import-dfl writes a new faceset.
Every output follows the ownership rule (engine.io.ownership): a new file, or one Doppel wrote
for the same purpose, never inside an input faceset; `--overwrite` replaces other files.

    doppel faceset sort FACESET --by sharpness --csv sort.csv --sheet sort.png
    doppel faceset prune FACESET -o CLEAN [--blur-fraction 0.1 --max-identity 0.6 ...]
    doppel faceset coverage SRC DST -o coverage.png [--report coverage.md]
    doppel faceset import-dfl workspace/data_src/aligned -o FACESET
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import fields
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from engine.faceset.sort import SORT_KEYS, PruneSettings

    sub = p.add_subparsers(dest="faceset_command", required=True, metavar="ACTION")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    so = sub.add_parser("sort", formatter_class=fmt,
                        help="list faces best-first by one metric (CSV, contact sheet)")
    so.add_argument("faceset", help="faceset folder")
    so.add_argument("--by", default="sharpness", choices=SORT_KEYS)
    so.add_argument("--csv", help="write every face's metrics in that order to this CSV")
    so.add_argument("--sheet", help="PNG of the first and last faces in that order")
    so.add_argument("--no-identity", action="store_true",
                    help="skip identity descriptors (faster; identity column left empty)")
    _overwrite(so)
    so.set_defaults(run=run_sort)

    pr = sub.add_parser("prune", formatter_class=fmt,
                        help="write a new faceset without blurry, off-identity, odd-lit and "
                             "near-duplicate faces, with a report")
    pr.add_argument("faceset", help="faceset folder (never modified)")
    pr.add_argument("-o", "--output", required=True, help="new faceset folder to write")
    defaults = PruneSettings()
    for f in fields(PruneSettings):
        value = getattr(defaults, f.name)
        kind = int if f.name == "max_faces" else float
        pr.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=value, type=kind)
    pr.add_argument("--no-identity", action="store_true",
                    help="skip the identity check (faster; for sets known to hold one person)")
    pr.add_argument("--report", help="Markdown report (default: OUTPUT/prune_report.md)")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    _overwrite(pr)
    pr.set_defaults(run=run_prune)

    co = sub.add_parser("coverage", formatter_class=fmt,
                        help="yaw/pitch and mouth-opening coverage of a source faceset "
                             "against a destination")
    co.add_argument("src", help="source faceset folder")
    co.add_argument("dst", help="destination faceset folder (the plate's faces)")
    co.add_argument("-o", "--output", required=True, help="the plot (.png)")
    co.add_argument("--report", help="also a Markdown report")
    co.add_argument("--tolerance", type=float, default=5.0,
                    help="degrees of yaw and pitch within which a source face counts")
    co.add_argument("--min-faces", type=int, default=3,
                    help="source faces needed near a destination angle to cover it")
    co.add_argument("--require", type=float, default=0.0, metavar="FRACTION",
                    help="exit 1 when less than this fraction of destination faces is covered")
    _overwrite(co)
    co.set_defaults(run=run_coverage)

    # DeepFaceLab interop (issue 25): aligned JPEGs -> a new faceset.
    im = sub.add_parser("import-dfl", formatter_class=fmt,
                        help="DeepFaceLab aligned faces (JPEGs with DFL metadata) -> a new "
                             "faceset with its XSeg masks and polygon labels")
    im.add_argument("aligned", help="DeepFaceLab's aligned folder (e.g. data_src/aligned); "
                                    "only read")
    im.add_argument("-o", "--output", required=True, help="new faceset folder to write")
    im.set_defaults(run=run_import_dfl)


def _overwrite(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="replace output files Doppel did not write (never an input)")


def _claims(args: argparse.Namespace, *inputs: str):
    from engine.io.ownership import Claims

    return Claims([Path(i) for i in inputs], args.overwrite)


def _measure(fs, identity: bool, quiet: bool = False):
    from tqdm import tqdm

    from engine.faceset.sort import measure

    describer = None
    if identity:
        from engine.geometry.descriptor import FaceDescriber

        describer = FaceDescriber()
    with tqdm(total=len(fs.entries), desc="measure", file=sys.stderr, disable=quiet) as bar:
        return measure(fs, describer, lambda done, n: bar.update(1))


def _sheet(fs, ordered, path: str, count: int = 24) -> None:
    import numpy as np

    from engine.faceset.sort import SHEET_KIND
    from engine.io import write_image
    from engine.io.ownership import image_metadata
    from engine.io.sheets import contact_sheet

    by_file = {e.file: e for e in fs.entries}
    picks = ordered if len(ordered) <= count else ordered[:count // 2] + ordered[-count // 2:]
    tiles, labels = [], []
    for m in picks:
        crop = fs.load_crop(by_file[m.file])
        tiles.append(np.rint(np.clip(crop, 0, 1) * 255).astype(np.uint8))
        labels.append(f"{m.frame} s{m.sharpness:.0f} y{m.yaw:+.0f}")
    sheet = contact_sheet(tiles, labels, columns=min(12, len(tiles)), tile=128)
    write_image(path, sheet.astype(np.float32) / 255.0, metadata=image_metadata(SHEET_KIND))


def _csv_text(metrics) -> str:
    from engine.faceset.sort import metrics_rows

    buf = io.StringIO()
    rows = metrics_rows(metrics)
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def run_sort(args: argparse.Namespace) -> int:
    from engine.faceset.sort import METRICS_CSV_MARK, SHEET_MARK, sort_order
    from engine.faceset.store import load_faceset
    from engine.io import atomic_write_text

    fs = load_faceset(args.faceset)
    claims = _claims(args, args.faceset)
    if args.csv:
        claims.file(args.csv, METRICS_CSV_MARK)
    if args.sheet:
        claims.file(args.sheet, SHEET_MARK)
    ordered = sort_order(_measure(fs, not args.no_identity), args.by)
    if args.csv:
        atomic_write_text(Path(args.csv), _csv_text(ordered))
    if args.sheet:
        _sheet(fs, ordered, args.sheet)
    for m in ordered[:5] + ([] if len(ordered) <= 10 else ordered[-5:]):
        print(f"{m.file}  sharpness {m.sharpness:8.1f}  yaw {m.yaw:+6.1f}  pitch {m.pitch:+6.1f}"
              f"  hist {m.hist:.3f}  identity {m.identity:.3f}")
    print(f"{len(ordered)} faces sorted by {args.by} (best first)"
          + (f"; {args.csv}" if args.csv else "") + (f"; {args.sheet}" if args.sheet else ""))
    return 0


def run_prune(args: argparse.Namespace) -> int:
    from engine.faceset.sort import (
        METRICS_CSV_MARK,
        PRUNE_REPORT_MARK,
        PruneSettings,
        prune_plan,
        write_pruned,
    )
    from engine.faceset.store import FACESET_FOLDER, load_faceset
    from engine.io import atomic_write_text

    settings = PruneSettings(**{f.name: getattr(args, f.name) for f in fields(PruneSettings)})
    settings.check()
    fs = load_faceset(args.faceset)
    out = Path(args.output)
    report = Path(args.report) if args.report else out / "prune_report.md"
    claims = _claims(args, args.faceset)  # all before the slow measuring
    claims.folder(out, FACESET_FOLDER)
    claims.file(report, PRUNE_REPORT_MARK)
    claims.file(out / "prune_metrics.csv", METRICS_CSV_MARK)
    metrics = _measure(fs, not args.no_identity, args.quiet)
    plan = prune_plan(fs, metrics, settings)
    new = write_pruned(fs, plan, out)
    counts = plan.counts()
    lines = [f"# Prune report: {fs.root} -> {out}", "",
             f"Kept {len(new.entries)} of {len(metrics)} faces. Sharpness floor "
             f"{plan.sharpness_floor:.4g}; thresholds: {settings}.", "",
             "| reason | faces |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(counts.items())]
    lines += ["", "## Rejected faces", "", "| file | frame | reason | sharpness | hist | identity "
              "| duplicate of |", "|---|---|---|---|---|---|---|"]
    by_file = {m.file: m for m in metrics}
    for f, why in sorted(plan.rejected.items()):
        m = by_file[f]
        lines.append(f"| {f} | {m.frame} | {why} | {m.sharpness:.1f} | {m.hist:.3f} | "
                     f"{m.identity:.3f} | {m.duplicate_of or ''} |")
    atomic_write_text(report, "\n".join(lines) + "\n")
    atomic_write_text(out / "prune_metrics.csv", _csv_text(metrics))
    print(f"kept {len(new.entries)} of {len(metrics)} faces in {out} ("
          + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + f"); report {report}")
    return 0


def run_coverage(args: argparse.Namespace) -> int:
    import numpy as np

    from engine.errors import SettingsError
    from engine.faceset.coverage import (
        PLOT_KIND,
        PLOT_MARK,
        REPORT_MARK,
        coverage_plot,
        mouth_coverage,
        pose_coverage,
    )
    from engine.faceset.store import load_faceset
    from engine.io import atomic_write_text, write_image
    from engine.io.ownership import image_metadata

    if not 0.0 <= args.require <= 1.0:
        raise SettingsError(f"--require must be a fraction within 0..1, got {args.require!r}")
    src, dst = load_faceset(args.src), load_faceset(args.dst)
    claims = _claims(args, args.src, args.dst)
    claims.file(args.output, PLOT_MARK)
    if args.report:
        claims.file(args.report, REPORT_MARK)
    cov = pose_coverage(src, dst, args.tolerance, args.min_faces)
    write_image(args.output, coverage_plot(src, dst, cov).astype(np.float32) / 255.0,
                metadata=image_metadata(PLOT_KIND))
    lines = cov.lines() + mouth_coverage(src, dst, args.min_faces).lines()
    if args.report:
        atomic_write_text(Path(args.report), "\n".join(
            [f"# Pose coverage: {src.root} vs {dst.root}", "", f"![coverage]({args.output})", ""]
            + [f"- {x}" for x in lines]) + "\n")
    print("\n".join(lines))
    if cov.covered == 0:
        print(f"doppel faceset coverage: the source has no faces at any of the destination's "
              f"angles (within ±{args.tolerance:g}°); add source footage at those angles",
              file=sys.stderr)
    return 1 if cov.fraction < args.require or cov.covered == 0 else 0


def run_import_dfl(args: argparse.Namespace) -> int:
    from engine.interop.dfl_faceset import import_dfl_faceset
    from trainers.interop.dfl_labels import write_dfl_labels

    summary = import_dfl_faceset(args.aligned, args.output, write_dfl_labels)
    print(f"imported {args.aligned} -> {summary.faceset}")
    for line in summary.lines():
        print(f"  {line}")
    return 0
