"""A DeepFaceLab SAEHD model folder built from a tiny Doppel model's weights (inverse mapping).

Layout (format facts): `NAME_SAEHD_data.dat` = pickle of {'iter', 'options', 'loss_history',
'sample_for_preview', …}; `NAME_SAEHD_<part>.npy` = pickle (protocol 4) of
{'<layer path>/weight:0' | '/bias:0': float32 ndarray} per part.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from tests.trainers.conftest import TINY

DFL_FACE = {"half": "h", "mid-full": "mf", "full": "f", "whole": "wf", "head": "head"}


def saehd_options(arch: str, resolution: int = 64, face_type: str = "full", **extra: Any
                  ) -> dict[str, Any]:
    opts = {"resolution": resolution, "face_type": DFL_FACE.get(face_type, face_type),
            "archi": arch,
            "ae_dims": TINY["ae_dims"], "e_dims": TINY["e_dims"], "d_dims": TINY["d_dims"],
            "d_mask_dims": TINY["mask_dims"], "models_opt_on_gpu": True, "masked_training": True,
            "eyes_mouth_prio": True, "uniform_yaw": False, "blur_out_mask": False,
            "adabelief": True, "lr_dropout": "n", "random_warp": False,
            "random_hsv_power": 0.1, "true_face_power": 0.0, "face_style_power": 0.0,
            "bg_style_power": 0.0, "ct_mode": "rct", "clipgrad": True, "pretrain": False,
            "gan_power": 0.0, "batch_size": 4, "random_src_flip": False,
            "random_dst_flip": True, "autobackup_hour": 0, "write_preview_history": False,
            "target_iter": 0}
    opts.update(extra)
    return opts


def write_saehd_folder(folder: Path, parts: dict[str, dict[str, np.ndarray]],
                       options: dict[str, Any], iteration: int = 4321, name: str = "new",
                       cls: str = "SAEHD") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    data = {"iter": iteration, "options": options,
            "loss_history": [[float(0.5 / (i + 1)), float(0.4 / (i + 1))]
                             for i in range(iteration)],
            "sample_for_preview": [rng.random((2, 8, 8, 3), dtype=np.float32)],
            "choosed_gpu_indexes": None}
    (folder / f"{name}_{cls}_data.dat").write_bytes(pickle.dumps(data))
    for part, d in parts.items():
        (folder / f"{name}_{cls}_{part}.npy").write_bytes(pickle.dumps(d, 4))
    (folder / f"{name}_{cls}_src_dst_opt.npy").write_bytes(pickle.dumps({"ms": 1}, 4))
    return folder
