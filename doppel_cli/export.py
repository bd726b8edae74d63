"""`doppel export`: checkpoint -> ONNX (trainers.export) or DeepFaceLive's .dfm
(trainers.interop.dfm_export); torch is imported only when this command runs."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a checkpoint file, or a model folder (its latest)")
    p.add_argument("-o", "--output", required=True, help="the .onnx (or .dfm) file to write")
    p.add_argument("--format", default="onnx", choices=("onnx", "dfm"),
                   help="onnx: the engine's model; dfm: DeepFaceLive's model (also runs in "
                        "Doppel, DeepFaceLive, FaceFusion, ...)")
    p.add_argument("--src-name", default="src", help="name of the src identity (metadata)")
    p.add_argument("--dst-name", default="dst", help="name of the dst identity (metadata)")
    p.add_argument("--dst-faceset",
                   help="the training dst faceset, for the fit statistics (metadata dst_fit; "
                        "default: the dst the checkpoint was trained on, if still there)")
    p.add_argument("--src-faceset",
                   help="the training src faceset, for its mouth shapes (metadata src_mouths; "
                        "default: the src the checkpoint was trained on, if still there)")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="max abs torch vs ONNX Runtime difference accepted")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a file at -o that is not a model Doppel exported")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from engine.errors import InputError
    from trainers.checkpoint import resolve_checkpoint
    from trainers.export import claim_model_output, export_checkpoint

    if not (args.tolerance >= 0 and args.tolerance < 1):
        raise InputError(f"--tolerance must be within 0..1, got {args.tolerance}")
    if Path(args.output).is_dir():
        raise InputError(f"{args.output}: is a folder; give the .onnx file to write")
    suffix = Path(args.output).suffix.lower()
    # The engine and DeepFaceLive tell the formats apart by the extension.
    if args.format == "dfm" and suffix != ".dfm":
        raise InputError(f"{args.output}: --format dfm writes a .dfm file; name it *.dfm")
    if args.format == "onnx" and suffix == ".dfm":
        raise InputError(f"{args.output}: a .dfm file holds DeepFaceLive's format; pass "
                         "--format dfm, or name the ONNX export *.onnx")
    ckpt = resolve_checkpoint(args.checkpoint)
    claim_model_output(args.output, [ckpt], args.overwrite)
    if args.format == "dfm":
        from trainers.interop.dfm_export import export_dfm

        report = export_dfm(ckpt, args.output, args.src_name, args.dst_name, args.tolerance)
    else:
        report = export_checkpoint(ckpt, args.output, args.src_name, args.dst_name,
                                   args.tolerance, args.dst_faceset, args.src_faceset)
    print(f"exported {ckpt} -> {report.path} (parity max abs diff {report.max_abs_diff:.2e})")
    if getattr(report, "fit_note", ""):  # a .dfm carries no dst decoder output: no fit check
        print(f"  {report.fit_note}")
    if getattr(report, "mouths_note", ""):
        print(f"  {report.mouths_note}")
    return 0
