"""Rules for masks that every path of the local engine shares: keep the main subject, fill the holes that are
not background, and a soft edge that follows the image (He et al.'s guided filter)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

GUIDED_RADIUS_FRACTION = 0.006
GUIDED_EPS = 1e-3

HoleTest = Callable[
    [np.ndarray, int], bool
]  # (the hole's pixels, its area) → whether it is part of the subject


def keep_main(binary: np.ndarray, share: float, *, min_area: float = 0.0) -> np.ndarray:
    """The components at least `share` of the largest one's area (and `min_area` of the image)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    if count <= 1:
        return binary.astype(bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(count, dtype=bool)
    keep[1:] = areas >= max(share * areas.max(), min_area * binary.size)
    kept: np.ndarray = keep[labels]
    return kept


def fill_holes(subject: np.ndarray, is_subject: HoleTest) -> np.ndarray:
    """`subject` with each enclosed hole (one that does not reach the image's edge) filled when `is_subject`
    says it belongs to the subject; the others (a mug's handle) stay open."""
    filled = subject.astype(bool).copy()
    count, holes, stats, _ = cv2.connectedComponentsWithStats((~filled).astype(np.uint8), connectivity=4)
    height, width = filled.shape
    for index in range(1, count):
        x, y, w, h, area = stats[index]
        if x == 0 or y == 0 or x + w == width or y + h == height:
            continue
        region = holes == index
        if is_subject(region, int(area)):
            filled |= region
    return filled


def guided_filter(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`mask` (float, H×W) softened along the image's own edges, with its luminance as the guide."""
    guide = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    radius = max(2, round(GUIDED_RADIUS_FRACTION * max(rgb.shape[:2])))
    size = (2 * radius + 1, 2 * radius + 1)

    def box(values: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(values, -1, size, borderType=cv2.BORDER_REFLECT)

    mask = mask.astype(np.float32)
    mean_i, mean_p = box(guide), box(mask)
    var_i = box(guide * guide) - mean_i * mean_i
    cov_ip = box(guide * mask) - mean_i * mean_p
    a = cov_ip / (var_i + GUIDED_EPS)
    b = mean_p - a * mean_i
    alpha = box(a) * guide + box(b)
    return np.asarray(np.clip(alpha, 0.0, 1.0), dtype=np.float32)
