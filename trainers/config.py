"""Training configuration: one dataclass, a YAML file whose keys mirror the CLI flags, CLI
overrides on top, the resolved config saved beside the checkpoints.

A config may hold `shots:`, a list of per-shot overrides trained one after the other (the TD
batch case): each shot inherits every top-level key and must set its own `out`.
Unknown keys are an error that lists the valid ones.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from engine.errors import SettingsError
from engine.geometry.align import FACE_TYPES
from engine.io.ownership import FolderMark, text_mark


@dataclass(frozen=True)
class TrainConfig:
    # data
    src: str = ""  # src faceset (the identity to render)
    dst: str = ""  # dst faceset (the plate's face)
    out: str = ""  # model folder: checkpoints, previews, logs, resolved config
    face_type: str = "full"
    # model
    arch: str = "df-ud"
    resolution: int = 128
    ae_dims: int | None = None  # None: the variant's default
    e_dims: int | None = None
    d_dims: int | None = None
    mask_dims: int | None = None
    # optimisation
    batch_size: int = 8
    lr: float = 5e-5
    beta1: float = 0.5
    beta2: float = 0.999
    clip_grad: float = 1.0  # max grad norm; 0 = off
    lr_warmup: int = 0  # iterations of linear warm-up
    target_iters: int = 100_000
    masked_training: bool = True
    eyes_mouth_priority: bool = False
    gan_power: float = 0.0
    true_face_power: float = 0.0
    # augmentation
    random_warp: bool = True
    random_flip: bool = True
    hsv_jitter: float = 0.05
    color_transfer: str = "none"  # none | rct: src samples towards dst colours
    uniform_yaw: bool = True
    # run
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    channels_last: bool = True
    compile: bool = False
    cuda_graph: str = "auto"  # auto: the step as one CUDA graph where eligible | off
    compile_mode: str = "default"  # torch.compile mode: default | reduce-overhead | max-autotune
    deterministic: bool = False
    augment: str = "auto"  # auto | cpu | device: where augmentation runs (auto: device on CUDA)
    workers: int | None = None  # CPU-augmentation loader processes; None: chosen from the cores
    threads: int | None = None  # torch threads for a CPU model step; None: the cores free now
    save_every: int = 500
    keep_checkpoints: int = 3
    preview_every: int = 250
    log_every: int = 10
    tensorboard: bool = False
    pretrain: bool = False  # train on one generic faceset (src) as both identities
    init_from: str = ""  # checkpoint, model folder or exported .onnx: weights to fine-tune
    # DeepFaceLab SAEHD/Quick96 model folder (or its NAME_SAEHD_data.dat) whose weights start
    # the run (trainers/interop/saehd_import.py; issue 25)
    init_from_dfl: str = ""
    shots: list[dict[str, Any]] = field(default_factory=list)

    def validate(self) -> TrainConfig:
        if not self.src:
            raise SettingsError("config needs 'src' (a faceset folder)")
        if not self.dst and not self.pretrain:
            raise SettingsError("config needs 'dst' (a faceset folder), or pretrain: true")
        if not self.out:
            raise SettingsError("config needs 'out' (the model folder)")
        if self.face_type not in FACE_TYPES:
            raise SettingsError(f"face_type {self.face_type!r} unknown; use one of "
                                f"{', '.join(FACE_TYPES)}")
        positive = ("batch_size", "target_iters", "save_every", "preview_every", "log_every",
                    "keep_checkpoints")
        for name in positive:
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} must be > 0, got {getattr(self, name)}")
        for f in fields(self):  # nan/inf pass every comparison below; refuse them by name
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise SettingsError(f"{f.name} must be a finite number, got {value}")
        if self.lr <= 0 or not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise SettingsError(f"lr must be > 0 and betas in [0, 1): {self.lr}, "
                                f"{self.beta1}, {self.beta2}")
        for name, allowed in (("device", ("auto", "cpu", "cuda")),
                              ("precision", ("auto", "fp32", "bf16", "fp16")),
                              ("color_transfer", ("none", "rct")),
                              ("augment", ("auto", "cpu", "device")),
                              ("cuda_graph", ("auto", "off")),
                              ("compile_mode", ("default", "reduce-overhead", "max-autotune"))):
            if getattr(self, name) not in allowed:
                raise SettingsError(f"{name} must be one of {', '.join(allowed)}, "
                                    f"got {getattr(self, name)!r}")
        if self.workers is not None and not 0 <= self.workers <= 64:
            raise SettingsError(f"workers must be 0..64 (or unset for automatic), got "
                                f"{self.workers}")
        if self.threads is not None and not 1 <= self.threads <= 256:
            raise SettingsError(f"threads must be 1..256 (or unset for automatic), got "
                                f"{self.threads}")
        if self.init_from and self.init_from_dfl:
            raise SettingsError("give init_from (a Doppel checkpoint) or init_from_dfl (a "
                                "DeepFaceLab model), not both")
        if self.gan_power < 0 or self.true_face_power < 0:
            raise SettingsError("gan_power and true_face_power must be ≥ 0")
        self.model_spec()  # validates arch, resolution and dims
        return self

    def model_spec(self):
        from trainers.models import resolve_spec

        return resolve_spec(self.arch, resolution=self.resolution, ae_dims=self.ae_dims,
                            e_dims=self.e_dims, d_dims=self.d_dims, mask_dims=self.mask_dims)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("shots")
        return d


VALID_KEYS = tuple(f.name for f in fields(TrainConfig))


def _check_keys(data: dict[str, Any], where: str) -> None:
    unknown = sorted(set(data) - set(VALID_KEYS))
    if unknown:
        raise SettingsError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: "
                            f"{', '.join(VALID_KEYS)}")


def _coerce(data: dict[str, Any], where: str) -> dict[str, Any]:
    types = {f.name: f.type for f in fields(TrainConfig)}
    out = {}
    for k, v in data.items():
        t = str(types[k])
        if v is None:
            out[k] = v
        elif t.startswith("int") and not isinstance(v, bool):
            out[k] = _cast(int, v, k, where)
        elif t.startswith("float"):
            out[k] = _cast(float, v, k, where)
        elif t == "bool" and not isinstance(v, bool):
            raise SettingsError(f"{where}: {k} must be true or false, got {v!r}")
        else:
            out[k] = v
    return out


def _cast(kind: type, value: Any, key: str, where: str) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{where}: {key} must be a {kind.__name__}, got {value!r}") from None


def load_configs(path: str | None, overrides: dict[str, Any]) -> list[TrainConfig]:
    """Configs to train, in order: the file's (one, or one per shot) with CLI `overrides` on top.

    Paths in the file are relative to the file's folder.
    """
    data: dict[str, Any] = {}
    base = Path(".")
    if path:
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except FileNotFoundError:
            raise SettingsError(f"{p}: config file not found") from None
        except yaml.YAMLError as exc:
            raise SettingsError(f"{p}: not valid YAML ({exc})".replace("\n", " ")) from None
        if not isinstance(data, dict):
            raise SettingsError(f"{p}: the config must be a mapping of keys to values")
        base = p.parent
    where = str(path or "command line")
    _check_keys(data, where)
    shots = data.pop("shots", None) or [{}]
    configs = []
    for i, shot in enumerate(shots):
        if not isinstance(shot, dict):
            raise SettingsError(f"{where}: shots[{i}] must be a mapping")
        _check_keys(shot, f"{where} shots[{i}]")
        merged = {**data, **shot}
        # Paths in the file are relative to the file; paths on the command line to the
        # working directory, where the user typed them.
        for key in ("src", "dst", "out", "init_from", "init_from_dfl"):
            if merged.get(key) and path and not Path(merged[key]).is_absolute():
                merged[key] = str(base / merged[key])
        merged.update({k: v for k, v in overrides.items() if v is not None})
        cfg = TrainConfig(**_coerce(merged, where))
        configs.append(cfg.validate())
    outs = [c.out for c in configs]
    if len(set(outs)) != len(outs):
        raise SettingsError(f"{where}: several shots write to the same 'out'; give each its own")
    return configs


CONFIG_HEADER = "# doppel train: the resolved configuration of this model folder"
# What makes config.yaml Doppel's (engine.io.ownership); folders from before the header
# started with the first field.
CONFIG_MARK = text_mark("training configuration", CONFIG_HEADER, "src: ")
MODEL_FOLDER = FolderMark("model folder", "config.yaml", CONFIG_MARK)


def save_resolved(cfg: TrainConfig, path: Path) -> None:
    from engine.io import atomic_write_text

    atomic_write_text(path, f"{CONFIG_HEADER} (doppel train -c FILE repeats it)\n"
                      + yaml.safe_dump(cfg.to_dict(), sort_keys=False))
