"""Pinhole camera. World: x east, y north, z up. Camera: x right, y down, z forward.

``heading_deg`` is a compass heading (0 north, clockwise); ``pitch_deg`` > 0 looks up; no roll.
Pixel centres are at integer coordinates: ``cx = (width - 1) / 2``, ``cy = (height - 1) / 2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def pitch_matrix(pitch_deg: float) -> np.ndarray:
    """Rotation from the level camera frame to the pitched one (about the camera x axis)."""
    p = math.radians(pitch_deg)
    c, s = math.cos(p), math.sin(p)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])


@dataclass(frozen=True)
class Camera:
    x: float
    y: float
    z: float  # height above the ground, metres
    heading_deg: float
    pitch_deg: float = 0.0
    width: int = 640
    height: int = 480
    fov_deg: float = 90.0  # horizontal

    @property
    def f(self) -> float:
        return (self.width / 2) / math.tan(math.radians(self.fov_deg) / 2)

    @property
    def K(self) -> np.ndarray:
        f = self.f
        return np.array([[f, 0, (self.width - 1) / 2], [0, f, (self.height - 1) / 2], [0, 0, 1.0]])

    @property
    def center(self) -> np.ndarray:
        return np.array([self.x, self.y, self.z], np.float64)

    @property
    def R0(self) -> np.ndarray:
        """World -> level camera rotation (rows: right, down, forward)."""
        h = math.radians(self.heading_deg)
        return np.array(
            [[math.cos(h), -math.sin(h), 0.0], [0.0, 0.0, -1.0], [math.sin(h), math.cos(h), 0.0]]
        )

    @property
    def R(self) -> np.ndarray:
        """World -> camera rotation."""
        return pitch_matrix(self.pitch_deg) @ self.R0

    @property
    def t(self) -> np.ndarray:
        """Translation of ``X_cam = R @ X_world + t``."""
        return -self.R @ self.center

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, np.float64) - self.center) @ self.R.T

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points [N, 3] -> pixels [N, 2] (NaN for points at or behind the camera)."""
        pc = self.to_camera(np.atleast_2d(points))
        z = pc[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = (pc @ self.K.T)[:, :2] / z[:, None]
        uv[z <= 1e-9] = np.nan
        return uv
