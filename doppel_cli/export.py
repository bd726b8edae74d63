"""`doppel export`: checkpoint -> ONNX, thin over trainers.export (torch is imported only when
this command runs)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a checkpoint file, or a model folder (its latest)")
    p.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    p.add_argument("--src-name", default="src", help="name of the src identity (metadata)")
    p.add_argument("--dst-name", default="dst", help="name of the dst identity (metadata)")
    p.add_argument("--dst-faceset",
                   help="the training dst faceset, for the fit statistics (metadata dst_fit; "
                        "default: the dst the checkpoint was trained on, if still there)")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="max abs torch vs ONNX Runtime difference accepted")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from engine.errors import InputError
    from trainers.checkpoint import resolve_checkpoint
    from trainers.export import export_checkpoint

    if not (args.tolerance >= 0 and args.tolerance < 1):
        raise InputError(f"--tolerance must be within 0..1, got {args.tolerance}")
    if Path(args.output).is_dir():
        raise InputError(f"{args.output}: is a folder; give the .onnx file to write")
    ckpt = resolve_checkpoint(args.checkpoint)
    report = export_checkpoint(ckpt, args.output, args.src_name, args.dst_name, args.tolerance,
                               args.dst_faceset)
    print(f"exported {ckpt} -> {report.path} (parity max abs diff {report.max_abs_diff:.2e})")
    print(f"  {report.fit_note}")
    return 0
