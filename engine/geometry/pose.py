"""Head pose (pitch, yaw, roll) from 68 landmarks via solvePnP against a 3D mean shape.

Convention: camera frame x right, y down, z into the scene; the 3D model uses the same axes with
the face looking down -z at the camera, so a frontal face has pose (0, 0, 0). Angles in degrees:
pitch > 0 chin up, yaw > 0 face turned towards image right (the subject's left), roll > 0
clockwise in the image. A weak-perspective camera with focal length = image width is assumed
(the plate's real lens is rarely known; pose is used for sorting and template choice, not metrics).

The 3D shape is our own: x, y from the canonical mean face (geometry.align.mean_face), scaled to an
inter-ocular distance of 90 mm, and per-landmark depths (mm behind the nose tip) from average
adult anthropometry — ears/jaw corners deepest, nose tip at 0.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from engine.geometry.align import mean_face

# Depth in mm behind the nose tip for each of the 68 points.
_DEPTH = np.array(
    [95, 88, 78, 66, 54, 42, 32, 26, 24, 26, 32, 42, 54, 66, 78, 88, 95]  # jaw 0-16
    + [40, 32, 26, 22, 20, 20, 22, 26, 32, 40]  # brows 17-26
    + [20, 14, 8, 0, 16, 12, 10, 12, 16]  # nose bridge 27-30, base 31-35
    + [32, 26, 25, 26, 26, 27, 26, 25, 26, 32, 27, 26]  # eyes 36-47
    + [28, 20, 15, 13, 15, 20, 28, 21, 16, 15, 16, 21]  # outer lips 48-59
    + [26, 17, 16, 17, 26, 18, 17, 18],  # inner lips 60-67
    dtype=np.float64,
)


@lru_cache(maxsize=1)
def mean_shape_3d() -> np.ndarray:
    """`(68, 3)` float64 mean head shape in mm (x right, y down, z away from the camera).

    Example:
        >>> head = mean_shape_3d()
        >>> head.shape, head.dtype
        ((68, 3), dtype('float64'))
        >>> head[30].tolist()  # the nose tip is the origin
        [0.0, 0.0, 0.0]
        >>> round(float(np.linalg.norm(head[45] - head[36])), 6)  # outer eye corners, mm
        90.0
        >>> head[[30, 0], 2].tolist()  # depth behind the nose tip: nose, jaw end by the ear
        [0.0, 95.0]
    """
    xy = mean_face().copy()
    iod = np.linalg.norm(xy[45] - xy[36])
    xy = (xy - xy[30]) * (90.0 / iod)
    return np.column_stack([xy, _DEPTH])


def estimate_pose(landmarks: np.ndarray,
                  image_size: tuple[int, int]) -> tuple[float, float, float]:
    """(pitch, yaw, roll) in degrees of a face with these 68 landmarks in a (w, h) image.

    Example:
        The 3D mean shape 600 mm in front of the assumed camera (focal length = image width)
        looking straight at it, then turned 20° towards image right, then rolled 10° clockwise:

        >>> def project(p, w=640, h=480, dist=600.0):  # pinhole camera, f = w
        ...     return np.stack([w * p[:, 0] / (p[:, 2] + dist) + w / 2,
        ...                      w * p[:, 1] / (p[:, 2] + dist) + h / 2], axis=1)
        >>> head = mean_shape_3d()
        >>> frontal = project(head)  # (68, 2) image pixels
        >>> bool(np.allclose(estimate_pose(frontal, (640, 480)), 0.0, atol=1e-3))
        True
        >>> c, s = np.cos(np.radians(20)), np.sin(np.radians(20))
        >>> turned = head @ np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])  # nose points to +x
        >>> pitch, yaw, roll = estimate_pose(project(turned), (640, 480))
        >>> round(yaw, 2)
        20.0
        >>> c, s = np.cos(np.radians(10)), np.sin(np.radians(10))
        >>> rolled = (frontal - [320, 240]) @ np.array([[c, -s], [s, c]]).T + [320, 240]
        >>> round(estimate_pose(rolled, (640, 480))[2], 2)
        10.0
    """
    w, h = image_size
    f = float(max(w, h))
    camera = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], dtype=np.float64)
    pts = np.asarray(landmarks, dtype=np.float64).reshape(68, 1, 2)
    # Start from a frontal head at the distance its eye span implies: without a guess the
    # iterative solver can settle in the mirrored (face-away) solution.
    lm = pts.reshape(68, 2)
    iod_px = max(float(np.linalg.norm(lm[45] - lm[36])), 1.0)
    z = f * 90.0 / iod_px
    tvec = np.array([[(lm[30, 0] - w / 2) * z / f], [(lm[30, 1] - h / 2) * z / f], [z]])
    rvec = np.zeros((3, 1))
    ok, rvec, _ = cv2.solvePnP(mean_shape_3d(), pts, camera, None, rvec, tvec,
                               useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return (0.0, 0.0, 0.0)
    rot, _ = cv2.Rodrigues(rvec)
    # Decompose R = Rz(roll) @ Ry(yaw) @ Rx(pitch).
    yaw = np.degrees(np.arcsin(np.clip(-rot[2, 0], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(rot[2, 1], rot[2, 2]))
    roll = np.degrees(np.arctan2(rot[1, 0], rot[0, 0]))
    # With y down, a rotation about x that lifts the chin is negative; flip to "chin up > 0".
    # Likewise yaw sign so that turning towards image right is positive.
    return (float(-pitch), float(-yaw), float(roll))
