"""Head pose for evaluation, fitted on the points that do not move with expression.

`geometry.pose.estimate_pose` fits all 68 points; the 6-point PnP (nose tip, chin, outer eye
corners, mouth corners) is the other common choice. Both include points that expression moves: an
open mouth drops the chin and lower lip, and a rigid fit explains that by turning the head (a
pitch and yaw change of several degrees on a face that did not move). For a pose *difference*
between plate and render that would count expression as pose error twice.

`rigid_pose` separates the two by fitting only the rigid subset: nose bridge and base (27-35), the
eye corners (36, 39, 42, 45), and the top two jaw-line points each side (0, 1, 15, 16: level with
the ears, on the skull, above the jaw's hinge), which neither jaw nor lips nor blinks move,
against the same 3D mean head (`geometry.pose.mean_shape_3d`) and camera (focal length = the larger
image side). The four outer points give the fit depth: without them (nose and eye corners only)
pitch was half again as noisy on the sample plate (frame-to-frame 6.3° vs 4.6°).
Convention: degrees `(pitch, yaw, roll)`, signs as in `engine.geometry.pose`.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.errors import SettingsError
from engine.geometry.pose import mean_shape_3d

RIGID_POINTS = np.array([0, 1, 15, 16, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45])
SIX_POINTS = np.array([30, 8, 36, 45, 48, 54])  # the classic 6-point PnP set


def camera_matrix(image_size: tuple[int, int]) -> np.ndarray:
    w, h = image_size
    f = float(max(w, h))
    return np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], dtype=np.float64)


def _euler(rvec: np.ndarray) -> tuple[float, float, float]:
    rot, _ = cv2.Rodrigues(rvec)
    # R = Rz(roll) Ry(yaw) Rx(pitch); signs flipped to geometry.pose's (chin up, towards image
    # right) convention.
    yaw = np.degrees(np.arcsin(np.clip(-rot[2, 0], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(rot[2, 1], rot[2, 2]))
    roll = np.degrees(np.arctan2(rot[1, 0], rot[0, 0]))
    return (float(-pitch), float(-yaw), float(roll))


def fit_pose(landmarks: np.ndarray, image_size: tuple[int, int],
             points: np.ndarray = RIGID_POINTS) -> tuple[float, float, float]:
    """(pitch, yaw, roll) from PnP on `points` of the 68 against the 3D mean head."""
    lm = np.asarray(landmarks, np.float64)
    if lm.shape != (68, 2) or not np.isfinite(lm).all():
        raise SettingsError(f"landmarks must be finite (68, 2), got shape {lm.shape}")
    cam = camera_matrix(image_size)
    f, (cx, cy) = cam[0, 0], cam[:2, 2]
    # Start frontal at the distance the eye span implies (avoids the mirrored solution).
    iod_px = max(float(np.linalg.norm(lm[45] - lm[36])), 1.0)
    z = f * 90.0 / iod_px
    tvec = np.array([[(lm[30, 0] - cx) * z / f], [(lm[30, 1] - cy) * z / f], [z]])
    rvec = np.zeros((3, 1))
    obj = mean_shape_3d()[points]
    img = lm[points].reshape(-1, 1, 2)
    ok, rvec, tvec = cv2.solvePnP(obj, img, cam, None, rvec, tvec, useExtrinsicGuess=True,
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        raise SettingsError("pose fit failed on these landmarks")
    return _euler(rvec)


def rigid_pose(landmarks: np.ndarray, image_size: tuple[int, int]) -> tuple[float, float, float]:
    """Head pose from the expression-free points (see module doc)."""
    return fit_pose(landmarks, image_size, RIGID_POINTS)


def pose_difference(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """Euclidean distance between two Euler-angle triples, in degrees (the paper's measure)."""
    return float(np.linalg.norm(np.subtract(a, b, dtype=np.float64)))


def project_head(pose: tuple[float, float, float], image_size: tuple[int, int],
                 distance_mm: float = 600.0, shape: np.ndarray | None = None) -> np.ndarray:
    """68 image points of the 3D mean head (or `shape`) at `pose`: the inverse of `fit_pose`,
    for tests and synthetic checks. Centre of the image, `distance_mm` from the camera."""
    pitch, yaw, roll = np.radians(pose)
    # Undo the sign flips of _euler: R = Rz(roll) Ry(-yaw) Rx(-pitch).
    p, y, r = -pitch, -yaw, roll
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    rvec, _ = cv2.Rodrigues(rz @ ry @ rx)
    pts3 = mean_shape_3d() if shape is None else np.asarray(shape, np.float64)
    img, _ = cv2.projectPoints(pts3, rvec, np.array([0.0, 0.0, distance_mm]),
                               camera_matrix(image_size), None)
    return img.reshape(-1, 2)
