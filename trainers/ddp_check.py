"""A DDP equivalence check usable from tests and by hand: N gloo processes vs one process.

`python -m trainers.ddp_check CONFIG.yaml OUT.pt --world 2` runs one optimiser step in `world`
processes (batch_size each) and writes rank 0's parameters; with `--world 1` it runs the same
step in one process with batch_size × world, so the two files can be compared.
"""

from __future__ import annotations

import argparse
import os
import socket

import torch
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, cfg_kwargs: dict, out: str, steps: int, port: int) -> None:
    from trainers.config import TrainConfig
    from trainers.data import make_loader
    from trainers.train import Trainer

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world))
    if world > 1:
        torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    try:
        cfg = TrainConfig(**cfg_kwargs).validate()
        trainer = Trainer(cfg, rank=rank, world=world, log=lambda s: None)
        loader = iter(make_loader(trainer.dataset, 0, cfg.batch_size, 0, rank, world))
        for _ in range(steps):
            trainer.step(next(loader))
        if rank == 0:
            torch.save({k: v.detach().clone() for k, v in trainer.model.state_dict().items()}, out)
    finally:
        if world > 1:
            torch.distributed.destroy_process_group()


def run(cfg_kwargs: dict, out: str, world: int, steps: int = 1) -> None:
    """One process (world 1) or `world` spawned gloo processes; rank 0 writes its parameters."""
    port = _free_port()
    if world == 1:
        _worker(0, 1, cfg_kwargs, out, steps, port)
    else:
        mp.spawn(_worker, args=(world, cfg_kwargs, out, steps, port), nprocs=world, join=True)


if __name__ == "__main__":  # pragma: no cover
    import yaml

    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("out")
    ap.add_argument("--world", type=int, default=2)
    a = ap.parse_args()
    run(yaml.safe_load(open(a.config)), a.out, a.world)
