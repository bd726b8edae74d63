"""`doppel xseg label|train|export|apply`: few-shot face segmentation from roto, thin over
trainers.xseg (torch is imported only by train and export).

    doppel xseg label FACESET                       which faces are labelled
    doppel xseg label FACESET --pick 50 --to DIR    export representative faces/frames to label
    doppel xseg label FACESET --add roto.####.exr   import mattes / a mask folder / polygons.json
    doppel xseg train FACESET... -o MODEL_DIR       train (resumable with --resume)
    doppel xseg export MODEL_DIR -o xseg.onnx       ONNX for the engine (--xseg, xseg-* masks)
    doppel xseg apply FACESET --model xseg.onnx     a mask for every face (swap training uses it)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from doppel_cli.train import _bool


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="xseg_command", required=True, metavar="ACTION")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    lab = sub.add_parser("label", formatter_class=fmt,
                         help="report labelled faces, export faces to label, import labels")
    lab.add_argument("faceset", help="faceset folder")
    lab.add_argument("--pick", type=int, default=0, metavar="N",
                     help="export N representative faces to label (with --to)")
    lab.add_argument("--to", help="folder for the exported faces, frame list and polygon template")
    lab.add_argument("--add", metavar="SOURCE",
                     help="import labels: plate mattes (roto.####.exr / .png sequence), a folder "
                          "of per-face masks named like the crops, or a polygon .json")
    lab.add_argument("--channel", default="", help="matte channel (default: A, else the only one)")
    lab.add_argument("--plate-size", metavar="WxH",
                     help="plate size, when the faceset's footage is not where it says")
    lab.add_argument("--overwrite", action="store_true",
                     help="replace existing labels (or a non-empty --to folder)")
    lab.set_defaults(run=run_label)

    tr = sub.add_parser("train", formatter_class=fmt, help="train an XSeg model on labelled faces")
    tr.add_argument("facesets", nargs="+", help="labelled faceset folder(s), one face type")
    tr.add_argument("-o", "--out", required=True, help="model folder (checkpoints, previews)")
    tr.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    from trainers.xseg.config import XSegConfig

    defaults = XSegConfig()
    for f in fields(XSegConfig):
        if f.name in ("facesets", "out"):
            continue
        value = getattr(defaults, f.name)
        kind = type(value)
        tr.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=value,
                        type=_bool if kind is bool else kind)
    tr.set_defaults(run=run_train)

    ex = sub.add_parser("export", formatter_class=fmt, help="export an XSeg checkpoint to ONNX")
    ex.add_argument("checkpoint", help="an XSeg checkpoint, or its model folder (the latest)")
    ex.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    ex.add_argument("--tolerance", type=float, default=1e-4,
                    help="max abs torch vs ONNX Runtime difference accepted")
    ex.add_argument("--overwrite", action="store_true",
                    help="replace a file at -o that is not a model Doppel exported")
    ex.set_defaults(run=run_export)

    ap = sub.add_parser("apply", formatter_class=fmt,
                        help="write the XSeg mask of every face of a faceset")
    ap.add_argument("faceset", help="faceset folder")
    ap.add_argument("--model", required=True, help="exported XSeg model (.onnx)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | tensorrt")
    ap.add_argument("--overwrite", action="store_true",
                    help="replace masks that came from another model or by hand")
    ap.set_defaults(run=run_apply)


def _plate_size(text: str | None) -> tuple[int, int] | None:
    from engine.errors import SettingsError

    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SettingsError(f"--plate-size must be WxH (e.g. 1920x1080), got {text!r}") from None
    return h, w


def run_label(args: argparse.Namespace) -> int:
    from engine.errors import SettingsError
    from engine.faceset.store import load_faceset
    from trainers.xseg.labels import export_for_labelling, import_labels, label_status, save_labels

    fs = load_faceset(args.faceset)
    code = 0
    if args.pick or args.to:
        if not (args.pick > 0 and args.to):
            raise SettingsError("--pick N and --to DIR go together (N ≥ 1)")
        picks = export_for_labelling(fs, args.to, args.pick, args.overwrite)
        print(f"exported {len(picks)} faces to label into {args.to} (faces/, frames.txt, "
              "polygons.json)")
    if args.add:
        report = import_labels(fs, args.add, args.channel, _plate_size(args.plate_size))
        save_labels(fs, report, args.overwrite)
        for line in report.lines():
            print(line)
        code = 1 if report.skipped else 0
    for line in label_status(fs):
        print(line)
    return code


def run_train(args: argparse.Namespace) -> int:
    from trainers.xseg.config import XSegConfig
    from trainers.xseg.train import XSegTrainer

    values = {f.name: getattr(args, f.name) for f in fields(XSegConfig)
              if f.name not in ("facesets", "out")}
    cfg = XSegConfig(facesets=list(args.facesets), out=args.out, **values)
    trainer = XSegTrainer(cfg, resume=args.resume, log=lambda s: print(s, file=sys.stderr))
    print(f"{len(trainer.bank.names)} labelled faces ({trainer.bank.unlabelled} unlabelled "
          "ignored)", file=sys.stderr)
    result = trainer.run(progress=not args.quiet)
    losses = result["losses"] or {}
    print(f"{cfg.out}: iteration {result['iteration']}"
          + (f", bce {losses['bce']:.4f}, dice {losses['dice']:.4f}" if losses else ""))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from trainers.checkpoint import resolve_checkpoint
    from trainers.export import claim_model_output
    from trainers.xseg.export import export_xseg

    claim_model_output(args.output, [resolve_checkpoint(args.checkpoint)], args.overwrite)
    report = export_xseg(args.checkpoint, args.output, args.tolerance)
    print(f"exported {args.checkpoint} -> {report.path} (parity max abs diff "
          f"{report.max_abs_diff:.2e})")
    return 0


def run_apply(args: argparse.Namespace) -> int:
    from trainers.xseg.apply import apply_xseg

    summary = apply_xseg(args.faceset, args.model, args.overwrite, args.device)
    for line in summary.lines():
        print(line)
    return 1 if summary.errors else 0
