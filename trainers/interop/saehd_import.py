"""DeepFaceLab SAEHD (and Quick96) models -> Doppel checkpoints.

A DFL model folder holds, per model `NAME` of class `SAEHD`:
    NAME_SAEHD_data.dat        pickled dict: `iter`, `options`, `loss_history`, previews …
    NAME_SAEHD_<part>.npy      pickled dict {variable path: ndarray} per network part:
                               encoder, inter, decoder_src, decoder_dst (DF);
                               encoder, inter_AB, inter_B, decoder (LIAE)
Every pickle is read with the restricted unpickler (`engine.interop.dfl_pickle`): arrays and
plain data only, size-capped; a file naming anything else is refused by name, never executed.

Variable paths follow DFL's layer names (`down1/downs_0/conv1/weight:0`, `dense1/weight:0`,
`upscale0/conv1/bias:0`, `res0/conv2/weight:0`, `out_conv1/…`, `upscalem3/…`, `out_convm/…`),
which `layer_table` lists for a spec, paired with Doppel's module paths (trainers.models: the
same layers, parameter for parameter). The layout conversions, each a function tested on its own:
    conv kernels   TF `H×W×I×O` (HWIO)   -> torch `O×I×H×W`        (`conv_tf_to_torch`)
    dense weights  TF `I×O`              -> torch `O×I`            (`dense_tf_to_torch`)
    upscale convs  DFL's depth-to-space is TF's DCR order (output channel k·C + c fills
                   sub-pixel k = 2·dy + dx of channel c); torch's PixelShuffle reads c·4 + k, so
                   the conv's output channels (and bias) are permuted (`dcr_to_crd`)
    biases         `(O,)` either side; DFL's flatten and reshape before and after the dense
                   layers already use channel-major (NCHW) order, so dense layers need no
                   permutation. The `-d` heads' concatenation (head k, then channel) followed by
                   DFL's DCR depth-to-space equals Doppel's interleave + PixelShuffle: no change.
The inverse (`state_dict_to_tf_parts`) writes DFL-layout dicts back, for tests and for taking a
Doppel model into DFL's tools.

Options map onto `TrainConfig` keys (`config_from_options`); the ones Doppel has no equivalent
for are listed, never silently dropped. DFL's optimiser state (RMSprop/AdaBelief) does not carry
over: training continues with a fresh Adam state.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ModelError, OutputError
from engine.interop.dfl_pickle import safe_load_file
from trainers.models import ModelSpec

MODEL_CLASSES = ("SAEHD", "Quick96")
DATA_MAX_BYTES = 512 * 1024 * 1024  # options + loss history + preview samples
WEIGHTS_MAX_BYTES = 8 * 1024 * 1024 * 1024  # one network part (a 640 px decoder is < 2 GB)
PARTS = {"df": ("encoder", "inter", "decoder_src", "decoder_dst"),
         "liae": ("encoder", "inter_AB", "inter_B", "decoder")}
FACE_TYPES = {"h": "half", "mf": "mid-full", "f": "full", "wf": "whole", "head": "head"}
HISTORY_POINTS = 2000  # DFL keeps one loss pair per iteration; a Doppel checkpoint keeps a curve

# DFL options -> TrainConfig keys, for options that mean the same thing (by value type).
_BOOLS = {"masked_training": "masked_training", "eyes_mouth_prio": "eyes_mouth_priority",
          "eyes_prio": "eyes_mouth_priority", "uniform_yaw": "uniform_yaw",
          "random_warp": "random_warp", "pretrain": "pretrain"}
_FLOATS = {"gan_power": "gan_power", "true_face_power": "true_face_power",
           "random_hsv_power": "hsv_jitter"}
_SHAPE_KEYS = ("resolution", "face_type", "archi", "ae_dims", "e_dims", "d_dims", "d_mask_dims")


# -- layout conversions ------------------------------------------------------------------------
def conv_tf_to_torch(w: np.ndarray) -> np.ndarray:
    """Conv kernel TF `H×W×I×O` -> torch `O×I×H×W`."""
    return np.ascontiguousarray(np.transpose(w, (3, 2, 0, 1)))


def conv_torch_to_tf(w: np.ndarray) -> np.ndarray:
    """Conv kernel torch `O×I×H×W` -> TF `H×W×I×O`."""
    return np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0)))


def dense_tf_to_torch(w: np.ndarray) -> np.ndarray:
    """Dense weight TF `I×O` (y = x·W + b) -> torch `O×I` (y = x·Wᵀ + b)."""
    return np.ascontiguousarray(w.T)


dense_torch_to_tf = dense_tf_to_torch  # the transpose is its own inverse


def dcr_to_crd(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Reorder a depth-to-space conv's output channels (along `axis`, 4·C of them) from TF's DCR
    order (index k·C + c) to PixelShuffle's CRD order (index c·4 + k)."""
    x = np.moveaxis(x, axis, 0)
    c4 = x.shape[0]
    y = x.reshape(4, c4 // 4, *x.shape[1:]).swapaxes(0, 1).reshape(c4, *x.shape[1:])
    return np.ascontiguousarray(np.moveaxis(y, 0, axis))


def crd_to_dcr(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Inverse of `dcr_to_crd`."""
    x = np.moveaxis(x, axis, 0)
    c4 = x.shape[0]
    y = x.reshape(c4 // 4, 4, *x.shape[1:]).swapaxes(0, 1).reshape(c4, *x.shape[1:])
    return np.ascontiguousarray(np.moveaxis(y, 0, axis))


# -- the layer table ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Layer:
    part: str  # DFL part file (encoder, inter_AB, …)
    tf: str  # DFL variable prefix inside that part (`down1/downs_0/conv1`)
    torch: str  # Doppel module path (`encoder.net.0.0`)
    kind: str  # conv | upconv (conv followed by depth-to-space) | dense


def _encoder(spec: ModelSpec) -> list[Layer]:
    if "t" not in spec.letters:
        return [Layer("encoder", f"down1/downs_{i}/conv1", f"encoder.net.{i}.0", "conv")
                for i in range(4)]
    out = [Layer("encoder", "down1/conv1", "encoder.net.0.0", "conv")]
    out += [Layer("encoder", f"res1/{c}", f"encoder.net.1.{c}", "conv") for c in ("conv1", "conv2")]
    out += [Layer("encoder", f"down{i}/conv1", f"encoder.net.{i}.0", "conv") for i in (2, 3, 4, 5)]
    out += [Layer("encoder", f"res5/{c}", f"encoder.net.6.{c}", "conv") for c in ("conv1", "conv2")]
    return out


def _inter(part: str, module: str, spec: ModelSpec) -> list[Layer]:
    out = [Layer(part, "dense1", f"{module}.dense1", "dense"),
           Layer(part, "dense2", f"{module}.dense2", "dense")]
    if "t" not in spec.letters:
        out.append(Layer(part, "upscale1/conv1", f"{module}.up.0", "upconv"))
    return out


def _decoder(part: str, module: str, spec: ModelSpec) -> list[Layer]:
    stages = 4 if "t" in spec.letters else 3
    out = []
    for i in range(stages):
        out.append(Layer(part, f"upscale{i}/conv1", f"{module}.rgb.{2 * i}.0", "upconv"))
        out += [Layer(part, f"res{i}/{c}", f"{module}.rgb.{2 * i + 1}.{c}", "conv")
                for c in ("conv1", "conv2")]
    for i in range(stages + (1 if "d" in spec.letters else 0)):
        out.append(Layer(part, f"upscalem{i}/conv1", f"{module}.mask.{i}.0", "upconv"))
    out.append(Layer(part, "out_conv", f"{module}.rgb_out", "conv"))
    if "d" in spec.letters:
        out += [Layer(part, f"out_conv{k}", f"{module}.rgb_out_sub.{k - 1}", "conv")
                for k in (1, 2, 3)]
    out.append(Layer(part, "out_convm", f"{module}.mask_out", "conv"))
    return out


def layer_table(spec: ModelSpec) -> list[Layer]:
    """Every DFL layer of a SAEHD model of this spec and the Doppel module it maps to."""
    fam = spec.family
    if fam == "df":
        return (_encoder(spec) + _inter("inter", "inter", spec)
                + _decoder("decoder_src", "decoder_src", spec)
                + _decoder("decoder_dst", "decoder_dst", spec))
    if fam == "liae":
        return (_encoder(spec) + _inter("inter_AB", "inter_ab", spec)
                + _inter("inter_B", "inter_b", spec) + _decoder("decoder", "decoder", spec))
    raise ModelError(f"arch {spec.arch!r}: only DeepFaceLab's df and liae families exist in "
                     "SAEHD (Doppel's dfhd/liaehd have no DFL counterpart)")


# -- weights both ways -------------------------------------------------------------------------
def tf_parts_to_state_dict(parts: dict[str, dict[str, Any]], spec: ModelSpec,
                           where: str = "") -> dict[str, np.ndarray]:
    """DFL part dicts -> a Doppel state dict (numpy, float32); every variable is used exactly
    once and every Doppel tensor filled, else ModelError naming the first mismatch."""
    from trainers.models import build_model

    expected = {k: tuple(v.shape) for k, v in build_model(spec).state_dict().items()}
    out: dict[str, np.ndarray] = {}
    used: dict[str, set[str]] = {p: set() for p in parts}
    for layer in layer_table(spec):
        d = parts.get(layer.part)
        if d is None:
            raise ModelError(f"{where}: no '{layer.part}' weights file in the model folder")
        for suffix in ("weight", "bias"):
            key = f"{layer.tf}/{suffix}:0"
            name = f"{layer.torch}.{suffix}"
            if key not in d:
                raise ModelError(f"{where}: {layer.part} lacks {key} (the {spec.arch} layout at "
                                 f"dims {spec.ae_dims}/{spec.e_dims}/{spec.d_dims}/"
                                 f"{spec.mask_dims} needs it); is the model another archi?")
            arr = np.asarray(d[key])
            if not np.issubdtype(arr.dtype, np.floating):
                raise ModelError(f"{where}: {layer.part} {key} is {arr.dtype}, not floats")
            arr = arr.astype(np.float32)
            used[layer.part].add(key)
            if suffix == "bias":
                arr = arr.reshape(-1)
                if layer.kind == "upconv":
                    arr = dcr_to_crd(arr)
            elif layer.kind == "dense":
                arr = dense_tf_to_torch(arr) if arr.ndim == 2 else arr
            else:
                arr = conv_tf_to_torch(arr) if arr.ndim == 4 else arr
                if layer.kind == "upconv":
                    arr = dcr_to_crd(arr)
            if tuple(arr.shape) != expected[name]:
                raise ModelError(f"{where}: {layer.part} {key} has shape {tuple(d[key].shape)}; "
                                 f"the {spec.arch} {spec.resolution} px network at dims "
                                 f"{spec.ae_dims}/{spec.e_dims}/{spec.d_dims}/{spec.mask_dims} "
                                 f"needs {expected[name]} (torch layout)")
            out[name] = arr
    for part, keys in used.items():
        extra = sorted(set(parts[part]) - keys)
        if extra:
            raise ModelError(f"{where}: {part} holds {len(extra)} variable(s) this {spec.arch} "
                             f"layout does not have (e.g. {extra[0]}); is the model another "
                             "archi or a newer DeepFaceLab?")
    missing = sorted(set(expected) - set(out))
    if missing:  # the table and the network disagree: a bug, not bad input
        raise RuntimeError(f"layer table misses {missing[:3]} for {spec.arch}")
    return out


def state_dict_to_tf_parts(state: dict[str, Any], spec: ModelSpec
                           ) -> dict[str, dict[str, np.ndarray]]:
    """A Doppel state dict -> DFL part dicts (float32), the inverse of `tf_parts_to_state_dict`."""
    parts: dict[str, dict[str, np.ndarray]] = {}
    for layer in layer_table(spec):
        d = parts.setdefault(layer.part, {})
        for suffix in ("weight", "bias"):
            value = state[f"{layer.torch}.{suffix}"]
            if hasattr(value, "detach"):  # a torch tensor
                value = value.detach().cpu().numpy()
            arr = np.asarray(value, np.float32)
            if layer.kind == "upconv":
                arr = crd_to_dcr(arr)
            if suffix == "weight":
                arr = dense_torch_to_tf(arr) if layer.kind == "dense" else conv_torch_to_tf(arr)
            d[f"{layer.tf}/{suffix}:0"] = np.ascontiguousarray(arr)
    return parts


# -- model folder, options ----------------------------------------------------------------------
@dataclass(frozen=True)
class DflModelFiles:
    folder: Path
    name: str  # the user's model name (DFL's `NAME`)
    model_class: str  # SAEHD | Quick96
    data: Path

    @property
    def prefix(self) -> str:
        return f"{self.name}_{self.model_class}"

    def part(self, part: str) -> Path:
        return self.folder / f"{self.prefix}_{part}.npy"


def find_dfl_model(model: str | Path) -> DflModelFiles:
    """The SAEHD/Quick96 model of a DFL model folder, or the one whose `NAME_SAEHD_data.dat`
    is given (to pick one of several models in a folder)."""
    path = Path(model)
    folder, only = (path.parent, path) if path.is_file() else (path, None)
    if not folder.is_dir():
        raise ModelError(f"{path}: not found; give DeepFaceLab's model folder (workspace/model) "
                         "or its NAME_SAEHD_data.dat")
    found, others = [], []
    for p in sorted(folder.glob("*_data.dat")):
        m = re.fullmatch(r"(.+)_([A-Za-z0-9]+)_data\.dat", p.name)
        if m and m.group(2) in MODEL_CLASSES:
            found.append(DflModelFiles(folder, m.group(1), m.group(2), p))
        else:
            others.append(p.name)
    if only is not None:
        found = [f for f in found if f.data.resolve() == only.resolve()]
    if not found:
        hint = f" (other DFL models there: {', '.join(others)}; only SAEHD and Quick96 import)" \
            if others else ""
        raise ModelError(f"{path}: no SAEHD or Quick96 model (NAME_SAEHD_data.dat){hint}")
    if len(found) > 1:
        raise ModelError(f"{folder}: holds several models ({', '.join(f.prefix for f in found)}); "
                         "give the NAME_SAEHD_data.dat of the one to import")
    return found[0]


def read_dfl_data(files: DflModelFiles, max_bytes: int = DATA_MAX_BYTES) -> dict[str, Any]:
    data = safe_load_file(files.data, max_bytes)
    if not isinstance(data, dict) or not isinstance(data.get("options"), dict):
        raise ModelError(f"{files.data}: not a DeepFaceLab model data file (no options dict)")
    it = data.get("iter", 0)
    if not isinstance(it, (int, np.integer)) or it < 0:
        raise ModelError(f"{files.data}: iteration {it!r} is not a count")
    return data


def spec_from_options(options: dict[str, Any], model_class: str, where: str
                      ) -> tuple[ModelSpec, str]:
    """(ModelSpec, Doppel face type) of a DFL model from its options."""
    if model_class == "Quick96":  # a fixed SAEHD-layout model: DF-UD 96 px full face
        return ModelSpec("df-ud", 96, 128, 64, 64, 16).validate(), "full"
    missing = [k for k in _SHAPE_KEYS if k not in options]
    if missing:
        raise ModelError(f"{where}: SAEHD options lack {', '.join(missing)} (a DeepFaceLab "
                         "older than 2.0?); it cannot be mapped")
    archi = str(options["archi"]).lower()
    fam, _, letters = archi.partition("-")
    if fam not in ("df", "liae") or any(c not in "udtc" for c in letters) \
            or len(set(letters)) != len(letters):
        raise ModelError(f"{where}: SAEHD archi {options['archi']!r} has no Doppel equivalent "
                         "(df or liae with letters from u, d, t, c)")
    letters = "".join(c for c in "udtc" if c in letters)
    ft = FACE_TYPES.get(str(options["face_type"]))
    if ft is None:
        raise ModelError(f"{where}: face type {options['face_type']!r} has no Doppel "
                         f"equivalent (known: {', '.join(FACE_TYPES)})")
    try:
        spec = ModelSpec(f"{fam}-{letters}" if letters else fam, int(options["resolution"]),
                         int(options["ae_dims"]), int(options["e_dims"]),
                         int(options["d_dims"]), int(options["d_mask_dims"])).validate()
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{where}: options do not make a model ({exc})") from None
    except Exception as exc:  # SettingsError: out of Doppel's range (e.g. 640 px)
        raise ModelError(f"{where}: {exc}") from None
    return spec, ft


def config_from_options(options: dict[str, Any], model_class: str, where: str
                        ) -> tuple[dict[str, Any], list[str]]:
    """TrainConfig keys from DFL options, and `key=value` for each option not mapped."""
    spec, ft = spec_from_options(options, model_class, where)
    cfg: dict[str, Any] = {"arch": spec.arch, "resolution": spec.resolution,
                           "ae_dims": spec.ae_dims, "e_dims": spec.e_dims, "d_dims": spec.d_dims,
                           "mask_dims": spec.mask_dims, "face_type": ft}
    unmapped = []
    for key, value in sorted(options.items()):
        number = isinstance(value, (int, float, np.integer, np.floating))
        if key in _SHAPE_KEYS:
            continue
        if key in _BOOLS and number:
            cfg[_BOOLS[key]] = bool(value)
        elif key in _FLOATS and number:
            cfg[_FLOATS[key]] = float(value)
        elif key == "batch_size" and number and value > 0:
            cfg["batch_size"] = int(value)
        elif key in ("random_src_flip", "random_dst_flip") and number:
            cfg["random_flip"] = bool(cfg.get("random_flip", False) or value)
        elif key == "ct_mode" and value in ("none", "rct"):
            cfg["color_transfer"] = value
        elif key == "clipgrad" and number:
            cfg["clip_grad"] = 1.0 if value else 0.0
        elif key == "target_iter" and number and value > 0:
            cfg["target_iters"] = int(value)
        else:
            unmapped.append(f"{key}={value!r}")
    return cfg, unmapped


# -- the import ---------------------------------------------------------------------------------
@dataclass
class SaehdImport:
    files: DflModelFiles
    spec: ModelSpec
    face_type: str
    iteration: int
    config: dict[str, Any]  # TrainConfig keys
    unmapped: list[str]
    state: dict[str, np.ndarray]  # Doppel state dict (numpy)
    history: list[list[float]] = field(default_factory=list)  # [iteration, src, dst]

    def summary_lines(self) -> list[str]:
        lines = [f"{self.files.prefix}: {self.spec.arch} {self.spec.resolution} px, face type "
                 f"{self.face_type}, dims {self.spec.ae_dims}/{self.spec.e_dims}/"
                 f"{self.spec.d_dims}/{self.spec.mask_dims}, iteration {self.iteration}"]
        if self.unmapped:
            lines.append(f"DFL options without a Doppel equivalent: {', '.join(self.unmapped)}")
        return lines


def _history(loss_history: Any) -> list[list[float]]:
    """DFL's per-iteration [src, dst] losses -> Doppel's [iteration, src, dst], thinned."""
    if not isinstance(loss_history, (list, tuple)) or not loss_history:
        return []
    step = max(1, len(loss_history) // HISTORY_POINTS)
    out = []
    for i in range(0, len(loss_history), step):
        item = loss_history[i]
        try:
            src, dst = float(item[0]), float(item[1])
        except (TypeError, ValueError, IndexError):
            return []  # not the usual shape: keep no curve rather than a wrong one
        out.append([float(i + 1), src, dst])
    return out


def read_saehd(model: str | Path, max_weights_bytes: int = WEIGHTS_MAX_BYTES) -> SaehdImport:
    """Read and convert a DFL SAEHD/Quick96 model (a folder or its data file); writes nothing."""
    files = find_dfl_model(model)
    data = read_dfl_data(files)
    options = data["options"]
    spec, ft = spec_from_options(options, files.model_class, str(files.data))
    config, unmapped = config_from_options(options, files.model_class, str(files.data))
    parts: dict[str, dict[str, Any]] = {}
    for part in PARTS[spec.family]:
        path = files.part(part)
        if not path.is_file():
            raise ModelError(f"{path}: missing; a DFL {spec.family.upper()} model has "
                             f"{', '.join(PARTS[spec.family])} weight files")
        d = safe_load_file(path, max_weights_bytes)
        if not isinstance(d, dict) or not all(isinstance(k, str) for k in d):
            raise ModelError(f"{path}: not a DFL weights dict ({{variable name: array}})")
        parts[part] = d
    state = tf_parts_to_state_dict(parts, spec, str(files.folder))
    return SaehdImport(files, spec, ft, int(data.get("iter", 0)), config, unmapped, state,
                       _history(data.get("loss_history")))


def saehd_checkpoint(imp: SaehdImport) -> dict[str, Any]:
    """A Doppel checkpoint dict (DESIGN.md §4) holding the imported weights: loadable by
    `--init-from`, `--resume` (no optimiser state: the trainer's Adam starts fresh) and
    `doppel export`."""
    import torch

    from trainers.checkpoint import CKPT_SCHEMA
    from trainers.config import TrainConfig
    from trainers.models import build_model

    model = build_model(imp.spec)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in imp.state.items()})
    cfg = TrainConfig(**imp.config)
    return {"schema": CKPT_SCHEMA, "iteration": imp.iteration, "spec": asdict(imp.spec),
            "config": {**cfg.to_dict(), "dfl_model": str(imp.files.data)},
            "model": model.state_dict(), "history": imp.history,
            "torch_rng": torch.get_rng_state()}


def dfl_shape_config(model: str | Path) -> dict[str, Any]:
    """The TrainConfig keys that must match a DFL model's weights (arch, resolution, dims, face
    type), from its options alone (`doppel train --init-from-dfl` fills them in)."""
    files = find_dfl_model(model)
    cfg, _ = config_from_options(read_dfl_data(files)["options"], files.model_class,
                                 str(files.data))
    keys = ("arch", "resolution", "ae_dims", "e_dims", "d_dims", "mask_dims", "face_type")
    return {k: cfg[k] for k in keys}


def import_saehd(model_dir: str | Path, out: str | Path) -> tuple[SaehdImport, Path]:
    """Write a new Doppel model folder at `out`: `checkpoints/ckpt_<DFL iteration>.pt` and
    `config.yaml` (the mapped options). `out` must be new (or empty), outside the DFL folder."""
    from trainers.checkpoint import save_checkpoint
    from trainers.config import TrainConfig, save_resolved

    out = Path(out)
    src = Path(model_dir).resolve()
    src = src.parent if src.is_file() else src
    if out.resolve() == src or src in out.resolve().parents:
        raise OutputError(f"{out}: lies inside the DFL model folder {model_dir}; choose a "
                          "folder elsewhere (an import never writes into its input)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(f"{out}: already exists and is not an empty folder; choose a new one")
    imp = read_saehd(model_dir)  # every check before the first write
    state = saehd_checkpoint(imp)
    # Written beside `out` and renamed into place: a failure leaves nothing behind.
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        path = save_checkpoint(tmp, state, keep=1)
        save_resolved(TrainConfig(**imp.config), tmp / "config.yaml")
        if out.exists():
            out.rmdir()  # checked empty above
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return imp, out / path.relative_to(tmp)
