"""`doppel enhancer train|export`: the FaceEnhancer, a per-identity ×2 detail network for one swap
model (docs/enhancer.md), thin over trainers.enhancer (torch is imported only when run).

    doppel extract SRC_FOOTAGE -o SRC_FACES --size 192       the src faces at 2× the model's 96
    doppel enhancer train --model swap.onnx --faceset SRC_FACES -o ENH_DIR   (--resume)
    doppel enhancer export ENH_DIR -o enhancer.onnx          then render with --enhancer
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from doppel_cli.train import _bool


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="enhancer_command", required=True, metavar="ACTION")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    tr = sub.add_parser("train", formatter_class=fmt,
                        help="train an enhancer for one swap model from its src faceset")
    tr.add_argument("--model", required=True,
                    help="the exported swap model (.onnx) the enhancer is for")
    tr.add_argument("--faceset", required=True,
                    help="src faceset extracted at ≥ 2× the model's resolution (--size)")
    tr.add_argument("-o", "--out", required=True, help="model folder (checkpoints, previews)")
    tr.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    from trainers.enhancer.config import EnhancerConfig

    defaults = EnhancerConfig()
    for f in fields(EnhancerConfig):
        if f.name in ("model", "faceset", "out"):
            continue
        value = getattr(defaults, f.name)
        kind = type(value)
        tr.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=value,
                        type=_bool if kind is bool else kind)
    tr.set_defaults(run=run_train)

    ex = sub.add_parser("export", formatter_class=fmt, help="export an enhancer to ONNX")
    ex.add_argument("checkpoint", help="an enhancer checkpoint, or its model folder (the latest)")
    ex.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    ex.add_argument("--tolerance", type=float, default=1e-4,
                    help="max abs torch vs ONNX Runtime difference accepted")
    ex.add_argument("--overwrite", action="store_true",
                    help="replace a file at -o that is not a model Doppel exported")
    ex.set_defaults(run=run_export)


def run_train(args: argparse.Namespace) -> int:
    from trainers.enhancer.config import EnhancerConfig
    from trainers.enhancer.train import EnhancerTrainer

    values = {f.name: getattr(args, f.name) for f in fields(EnhancerConfig)
              if f.name not in ("model", "faceset", "out")}
    cfg = EnhancerConfig(model=args.model, faceset=args.faceset, out=args.out, **values)
    trainer = EnhancerTrainer(cfg, resume=args.resume, log=lambda s: print(s, file=sys.stderr))
    print(f"{len(trainer.bank.names)} pairs (reconstruction, src face at "
          f"{2 * trainer.spec.resolution} px)", file=sys.stderr)
    result = trainer.run(progress=not args.quiet)
    losses = result["losses"] or {}
    print(f"{cfg.out}: iteration {result['iteration']}"
          + (f", l1 {losses['l1']:.4f}, grad {losses['grad']:.4f}" if losses else ""))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from trainers.checkpoint import resolve_checkpoint
    from trainers.enhancer.export import export_enhancer
    from trainers.export import claim_model_output

    claim_model_output(args.output, [resolve_checkpoint(args.checkpoint)], args.overwrite)
    report = export_enhancer(args.checkpoint, args.output, args.tolerance)
    print(f"exported {args.checkpoint} -> {report.path} (parity max abs diff "
          f"{report.max_abs_diff:.2e}; for swap model {report.metadata['swap_model']})")
    return 0
