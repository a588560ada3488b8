"""Cutting a subject from a plain or gently graded studio background, without learned weights.

1. Background model: a quadratic colour surface (Lab) fitted to a band along the image's border, robustly
   (border pixels far from the fit — a subject touching the edge — are dropped and the fit repeated).
2. Distance of every pixel from that background; a border that does not fit the surface well is measured
   and reported: the background is "not plain".
3. GrabCut (OpenCV), seeded from the distance map: clear background on the border, likely subject where
   the colour is far from the background, likely background elsewhere.
4. Clean-up: components much smaller than the largest are dropped; holes are filled unless they look like
   background (a mug's handle stays open).
5. Soft edge: the binary mask is scaled to the full working size and refined with a guided filter that
   follows the image's own edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from bot.engines.local.masks import fill_holes, guided_filter, keep_main

WORK_SIDE = 480  # GrabCut runs at this long side at most
GRABCUT_ROUNDS = 3
ROI_MARGIN = 0.08  # GrabCut looks only this far (of the image) around the likely subject
BORDER_FRACTION = 0.03
PLAIN_RESIDUAL = (
    14.0  # 90th percentile of the border's distance from the fitted background: above, "not plain"
)
MIN_THRESHOLD = 14.0
_NO_RECT = (0, 0, 0, 0)  # GrabCut seeded from a mask reads no rectangle (OpenCV's default for None)


@dataclass(frozen=True, slots=True)
class Matte:
    alpha: np.ndarray  # float32 in [0, 1], the size of the input
    plain_background: bool
    border_residual: float  # how far the border strays from a smooth background (Lab units, 90th percentile)


@dataclass(frozen=True, slots=True)
class Background:
    """The background model of an image, fitted at the working size (steps 1 and 2)."""

    small: np.ndarray  # the image at the working size, RGB uint8
    distance: np.ndarray  # each pixel's distance from the fitted background (Lab units)
    border: np.ndarray  # the border band the fit was made on
    threshold: float  # a distance above it is likely subject
    residual: float  # the border's 90th-percentile distance from the fit

    @property
    def plain(self) -> bool:
        return self.residual < PLAIN_RESIDUAL


def fit_background(rgb: np.ndarray) -> Background:
    """The background model of an RGB uint8 image (H×W×3), fitted to its border at the working size."""
    height, width = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(height, width))
    small = (
        cv2.resize(
            rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
        )
        if scale < 1
        else rgb
    )
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    border = _border_mask(lab.shape[:2])
    background, kept = _fit_background(lab, border)
    distance = np.linalg.norm(lab - background, axis=2)
    residual = float(np.percentile(distance[border & kept], 90)) if np.any(border & kept) else 0.0
    noise = float(np.median(distance[border & kept])) * 1.4826 if np.any(border & kept) else 0.0
    threshold = max(MIN_THRESHOLD, 4.0 * noise)
    return Background(small, distance, border, threshold, residual)


def cut_subject(rgb: np.ndarray, background: Background | None = None) -> Matte:
    """The subject's alpha for an RGB uint8 image (H×W×3) on a studio-like background."""
    height, width = rgb.shape[:2]
    fit = background or fit_background(rgb)
    small, distance, threshold = fit.small, fit.distance, fit.threshold
    binary = _grabcut(small, distance, fit.border, threshold) if fit.plain else np.zeros(distance.shape, bool)
    if binary.sum() < 0.01 * binary.size:  # a busy background, or nothing stood out: the classic centre prior
        binary = _grabcut_centre(small)
    binary = _clean(binary, distance, threshold)
    mask = cv2.resize(binary.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    alpha = guided_filter(rgb, mask)
    return Matte(alpha=alpha, plain_background=fit.plain, border_residual=fit.residual)


def _border_mask(shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    band = max(2, round(BORDER_FRACTION * min(height, width)))
    border = np.zeros(shape, dtype=bool)
    border[:band, :] = border[-band:, :] = True
    border[:, :band] = border[:, -band:] = True
    return border


def _design(shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    x /= max(1, width - 1)
    y /= max(1, height - 1)
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)


def _fit_background(lab: np.ndarray, border: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A quadratic surface per Lab channel fitted to the border; returns it and the border pixels kept."""
    design = _design(lab.shape[:2])
    kept = border.copy()
    coefficients = None
    for _ in range(3):
        a = design[kept]
        b = lab[kept]
        if len(a) < design.shape[-1]:
            break
        coefficients, *_ = np.linalg.lstsq(a, b, rcond=None)
        fitted = design[border] @ coefficients
        residual = np.linalg.norm(lab[border] - fitted, axis=1)
        spread = max(float(np.median(residual)) * 1.4826, 2.0)
        refined = np.zeros_like(border)
        refined[border] = residual < 3.0 * spread + 4.0
        if refined.sum() < 0.3 * border.sum():
            break
        kept = refined
    if coefficients is None:
        mean = lab[border].mean(axis=0)
        return np.broadcast_to(mean, lab.shape).astype(np.float32), kept
    return (design @ coefficients).astype(np.float32), kept


def _grabcut(rgb: np.ndarray, distance: np.ndarray, border: np.ndarray, threshold: float) -> np.ndarray:
    likely = distance > threshold
    if not likely.any():
        return likely
    seed = np.full(distance.shape, cv2.GC_PR_BGD, dtype=np.uint8)
    seed[likely] = cv2.GC_PR_FGD
    seed[border & ~likely] = cv2.GC_BGD
    seed[(distance > 2.5 * threshold) & ~border] = cv2.GC_FGD
    if not (seed == cv2.GC_BGD).any() or not np.isin(seed, (cv2.GC_FGD, cv2.GC_PR_FGD)).any():
        return likely
    # Only the region around the likely subject is uncertain: GrabCut works there, the rest stays background.
    rows, cols = np.nonzero(likely)
    height, width = likely.shape
    margin_y, margin_x = round(ROI_MARGIN * height), round(ROI_MARGIN * width)
    top, bottom = max(0, rows.min() - margin_y), min(height, rows.max() + 1 + margin_y)
    left, right = max(0, cols.min() - margin_x), min(width, cols.max() + 1 + margin_x)
    region = np.ascontiguousarray(seed[top:bottom, left:right])
    if not (region == cv2.GC_BGD).any() and not (region == cv2.GC_PR_BGD).any():
        return likely
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)[top:bottom, left:right])
    try:
        cv2.grabCut(
            bgr, region, _NO_RECT, background_model, foreground_model, GRABCUT_ROUNDS, cv2.GC_INIT_WITH_MASK
        )
    except cv2.error:
        return likely
    result = np.zeros_like(likely)
    result[top:bottom, left:right] = (region == cv2.GC_FGD) | (region == cv2.GC_PR_FGD)
    return result if result.any() else likely


def _grabcut_centre(rgb: np.ndarray) -> np.ndarray:
    """GrabCut seeded only with "the subject is inside the central part of the frame"."""
    height, width = rgb.shape[:2]
    rect = (round(0.05 * width), round(0.05 * height), round(0.9 * width), round(0.9 * height))
    seed = np.zeros((height, width), np.uint8)
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(
            cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
            seed,
            rect,
            background_model,
            foreground_model,
            GRABCUT_ROUNDS,
            cv2.GC_INIT_WITH_RECT,
        )
    except cv2.error:
        return np.zeros((height, width), bool)
    return np.isin(seed, (cv2.GC_FGD, cv2.GC_PR_FGD))


def _clean(binary: np.ndarray, distance: np.ndarray, threshold: float) -> np.ndarray:
    """Keep the main subject (and parts nearly as large); fill holes that do not look like background."""
    subject = keep_main(binary, 0.1, min_area=0.002)
    return fill_holes(
        subject,
        lambda region, area: float(np.median(distance[region])) > threshold or area < 0.0005 * binary.size,
    )
