"""`doppel train`: thin over trainers.train (torch is imported only when this command runs).

Train flags mirror the YAML config keys (dashes for underscores); flags given on the command line
override the file. Multi-GPU / multi-node: launch with torchrun, e.g.
`torchrun --nproc_per_node 2 -m doppel_cli train -c shot.yaml`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from trainers.config import TrainConfig

_HELP = {
    "src": "src faceset folder (the identity to render)",
    "dst": "dst faceset folder (the plate's face)",
    "out": "model folder (checkpoints, previews, logs)",
    "arch": "df, liae, dfhd, liaehd with letters u/d/t/c (e.g. df-ud), or quick96",
    "target_iters": "stop at this iteration",
    "precision": "autocast dtype; auto = bf16 where the CPU/GPU runs it natively",
    "augment": "where augmentation runs: device (batched on the GPU), cpu (loader workers), "
               "auto = device on CUDA",
    "workers": "loader processes; unset = chosen from the cores and augment (printed at start)",
    "compile_mode": "torch.compile mode when compile is on",
    "init_from": "a Doppel checkpoint or model folder, or an exported .onnx/.dfm model (its "
                 "arch, resolution, dims and face type become the defaults), to fine-tune from",
    "init_from_dfl": "DeepFaceLab SAEHD/Quick96 model folder (or its NAME_SAEHD_data.dat) to "
                     "start from; its arch, resolution, dims and face type become the defaults",
}


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", help="YAML config (keys as the flags below)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("config keys (override the file)")
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        if f.name == "shots":
            continue
        kind = {"int": int, "float": float, "bool": _bool}.get(str(f.type).split(" ")[0], str)
        if str(f.type).startswith("int | None"):
            kind = int
        g.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=None,
                       help=f"{_HELP.get(f.name, '')} (default {getattr(defaults, f.name)!r})")
    p.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    from trainers.config import load_configs
    from trainers.train import Trainer, distributed_context

    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
                 if f.name != "shots" and getattr(args, f.name, None) is not None}
    if overrides.get("init_from_dfl"):  # the weights fix the network's shape (issue 25)
        from trainers.interop.saehd_import import dfl_shape_config

        for key, value in dfl_shape_config(overrides["init_from_dfl"]).items():
            overrides.setdefault(key, value)
    from trainers.interop.onnx_import import is_onnx, read_onnx_weights

    if is_onnx(overrides.get("init_from", "")):  # a shipped model's shape
        weights = read_onnx_weights(overrides["init_from"])
        for key, value in {**weights.spec, "face_type": weights.face_type}.items():
            overrides.setdefault(key, value)
    configs = load_configs(args.config, overrides)
    rank, world = distributed_context()
    for i, cfg in enumerate(configs):
        if rank == 0 and len(configs) > 1:
            print(f"shot {i + 1}/{len(configs)}: {cfg.out}", file=sys.stderr)
        trainer = Trainer(cfg, resume=args.resume, rank=rank, world=world)
        result = trainer.run(progress=not args.quiet)
        if rank == 0:
            losses = result["losses"] or {}
            print(f"{cfg.out}: iteration {result['iteration']}"
                  + (f", src {losses['src']:.4f}, dst {losses['dst']:.4f}" if losses else ""))
    return 0
