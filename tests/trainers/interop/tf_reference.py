"""DeepFaceLab's SAEHD forward pass in numpy, written from the format facts, as the oracle for the
weight conversion: it reads DFL-layout part dicts directly (TF conventions throughout).

Conventions (DFL's leras on TF, in NHWC): conv kernels `H×W×I×O`, zero padding (k-1)//2 each
side, stride 2 for downscales; depth_to_space in TF's DCR order (channel (2·dy + dx)·C + c);
flatten and reshape_4D in channel-major order (DFL transposes NHWC to NCHW first, so models
switch data format freely); dense y = x·W + b; pixel norm over the code vector (eps 1e-6);
LeakyReLU 0.1 after down/upscales, 0.2 in residual blocks, or x·cos x with `-c`.
"""

from __future__ import annotations

import numpy as np


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1) -> np.ndarray:
    """NHWC conv with an HWIO kernel, zero 'SAME' padding of (k-1)//2 (DFL's Conv2D)."""
    k = w.shape[0]
    p = (k - 1) // 2
    x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    n, h, wd, c = x.shape
    oh, ow = (h - k) // stride + 1, (wd - k) // stride + 1
    out = np.zeros((n, oh, ow, w.shape[3]), np.float64)
    for dy in range(k):
        for dx in range(k):
            patch = x[:, dy:dy + stride * oh:stride, dx:dx + stride * ow:stride, :]
            out += patch @ w[dy, dx]
    return out + b.reshape(1, 1, 1, -1)


def depth_to_space(x: np.ndarray) -> np.ndarray:
    """TF's DCR depth_to_space, block 2, NHWC."""
    n, h, w, c = x.shape
    oc = c // 4
    x = x.reshape(n, h, w, 2, 2, oc).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h * 2, w * 2, oc)


def flatten(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)


def reshape_4d(x: np.ndarray, side: int, ch: int) -> np.ndarray:
    return x.reshape(-1, ch, side, side).transpose(0, 2, 3, 1)


class SaehdReference:
    def __init__(self, parts: dict, arch: str, resolution: int):
        fam, _, letters = arch.partition("-")
        self.parts, self.fam, self.letters = parts, fam, letters
        self.low = resolution // (32 if "d" in letters else 16)

    def act(self, x: np.ndarray, slope: float) -> np.ndarray:
        if "c" in self.letters:
            return x * np.cos(x)
        return np.where(x >= 0, x, slope * x)

    def _c(self, part: str, name: str, x: np.ndarray, stride: int = 1) -> np.ndarray:
        d = self.parts[part]
        return conv(x, d[f"{name}/weight:0"], d[f"{name}/bias:0"], stride)

    def _res(self, part: str, name: str, x: np.ndarray) -> np.ndarray:
        y = self.act(self._c(part, f"{name}/conv1", x), 0.2)
        return self.act(x + self._c(part, f"{name}/conv2", y), 0.2)

    def _up(self, part: str, name: str, x: np.ndarray) -> np.ndarray:
        return depth_to_space(self.act(self._c(part, f"{name}/conv1", x), 0.1))

    def encoder(self, x: np.ndarray) -> np.ndarray:
        down = lambda n, v: self.act(self._c("encoder", n, v, stride=2), 0.1)  # noqa: E731
        if "t" in self.letters:
            x = self._res("encoder", "res1", down("down1/conv1", x))
            for i in (2, 3, 4, 5):
                x = down(f"down{i}/conv1", x)
            x = self._res("encoder", "res5", x)
        else:
            for i in range(4):
                x = down(f"down1/downs_{i}/conv1", x)
        x = flatten(x)
        if "u" in self.letters:
            x = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-6)
        return x

    def inter(self, part: str, code: np.ndarray) -> np.ndarray:
        d = self.parts[part]
        x = code @ d["dense1/weight:0"] + d["dense1/bias:0"]
        x = x @ d["dense2/weight:0"] + d["dense2/bias:0"]
        ch = d["dense2/weight:0"].shape[1] // (self.low * self.low)
        x = reshape_4d(x, self.low, ch)
        return x if "t" in self.letters else self._up(part, "upscale1", x)

    def decoder(self, part: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        stages = 4 if "t" in self.letters else 3
        x = z
        for i in range(stages):
            x = self._res(part, f"res{i}", self._up(part, f"upscale{i}", x))
        if "d" in self.letters:
            heads = [self._c(part, n, x) for n in ("out_conv", "out_conv1", "out_conv2",
                                                   "out_conv3")]
            x = depth_to_space(np.concatenate(heads, axis=-1))
        else:
            x = self._c(part, "out_conv", x)
        m = z
        for i in range(stages + (1 if "d" in self.letters else 0)):
            m = self._up(part, f"upscalem{i}", m)
        m = self._c(part, "out_convm", m)
        sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
        return sig(x), sig(m)

    def swap(self, dst_nhwc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """dst face (NHWC) -> (face as src, its mask, the dst decoder's mask), NHWC."""
        code = self.encoder(dst_nhwc.astype(np.float64))
        if self.fam == "df":
            z = self.inter("inter", code)
            face, mask = self.decoder("decoder_src", z)
            _, dst_mask = self.decoder("decoder_dst", z)
        else:
            ab, b = self.inter("inter_AB", code), self.inter("inter_B", code)
            face, mask = self.decoder("decoder", np.concatenate([ab, ab], axis=-1))
            _, dst_mask = self.decoder("decoder", np.concatenate([b, ab], axis=-1))
        return face, mask, dst_mask
