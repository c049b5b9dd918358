"""Whether a before and an after photo show the same spot: points of one found again in the
other, in the places one viewpoint change (a homography) puts them.

ORB features on reduced, upright grey images; each feature matched to its nearest neighbour
in the other photo, kept when clearly nearer than the second nearest (Lowe's ratio test); then
RANSAC finds the homography most matches agree with. Two views of one place from nearby spots
agree on many points; two places agree on a few, by chance. The cabling added between the two
photos hides some points, which is why the threshold is a count, not a share.

Pure and synchronous: a few tens of milliseconds of CPU per pair (OpenCV releases the GIL).
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from worker.findings.model import SpotMatch

SIDE = 640  # long side of the reduced images, in pixels
FEATURES = 1500
RATIO = 0.8  # Lowe's ratio test
REPROJECTION = 6.0  # pixels at SIDE: how far a point may land from where the homography puts it
_MIN_SCALE, _MAX_SCALE = 0.4, 2.5  # zoom between two views of one spot, as a phone allows


def reduced_grey(image: np.ndarray | Image.Image, side: int = SIDE) -> np.ndarray:
    """The upright image in grey levels at `side` pixels on the long side (never enlarged)."""
    if isinstance(image, Image.Image):
        if max(image.size) > side:
            image = image.copy()
            image.thumbnail((side, side), Image.Resampling.BILINEAR)
        return np.asarray(image.convert("L"))
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    scale = side / max(grey.shape[:2])
    if scale < 1:
        size = (round(grey.shape[1] * scale), round(grey.shape[0] * scale))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(grey)


def compare_views(before: np.ndarray, after: np.ndarray) -> SpotMatch:
    """Compare two reduced grey images (`reduced_grey`)."""
    orb = cv2.ORB.create(nfeatures=FEATURES)
    points_a, described_a = orb.detectAndCompute(before, None)
    points_b, described_b = orb.detectAndCompute(after, None)
    features = (len(points_a), len(points_b))
    if described_a is None or described_b is None or min(features) < 2:
        return SpotMatch(features, 0, 0, 0.0)
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(described_a, described_b, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < 4:
        return SpotMatch(features, len(good), 0, 0.0)
    source = np.array([points_a[m.queryIdx].pt for m in good], np.float32)
    target = np.array([points_b[m.trainIdx].pt for m in good], np.float32)
    matrix, mask = cv2.findHomography(source, target, cv2.RANSAC, REPROJECTION)
    if matrix is None or mask is None or not _plausible(matrix):
        return SpotMatch(features, len(good), 0, 0.0)
    agreeing = source[mask.ravel().astype(bool)]
    return SpotMatch(features, len(good), len(agreeing), _spread(agreeing, before.shape))


def _plausible(matrix: np.ndarray) -> bool:
    """A viewpoint change a person makes: no mirror, no collapse, a moderate zoom."""
    scale = float(np.linalg.det(matrix[:2, :2]))
    return _MIN_SCALE**2 <= scale <= _MAX_SCALE**2


def _spread(points: np.ndarray, shape: tuple[int, ...]) -> float:
    if len(points) < 3:
        return 0.0
    hull = cv2.convexHull(points.reshape(-1, 1, 2))
    return float(cv2.contourArea(hull)) / float(shape[0] * shape[1])
