"""The subject's alpha on any photograph: the classical engine where the background is plain, the model
elsewhere (bench/RESULTS.md has the measurements behind each rule).

1. The background is modelled from the image's border (`matting.fit_background`). Where it is plain — a
   studio sweep, a graded backdrop — the classical engine cuts, unless its answer and the model's disagree
   badly (a subject the border model cannot tell apart), when the model's is taken.
2. Elsewhere the model (U²-Net-p at 320×320; for people, on the image and its mirror image) gives a
   subject map. The subject is what scores at least one half, grown into what it touches that scores at
   least `GROW_SCORE` (a dark jacket the model half-believes in); components much smaller than the largest
   are dropped (a passer-by behind a portrait), enclosed holes the model still half-believes in are
   filled, and the map's own soft values are kept along the outline.
3. How sure the model was: the pixels it left between 0.15 and 0.85, against the subject's area. Above
   `UNSURE_SHARE` the cut-out is often wrong somewhere (objects in cluttered rooms, thin parts), and the
   reply says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from bot.engines.local.masks import fill_holes, keep_main
from bot.engines.local.matting import Background, cut_subject, fit_background
from bot.engines.local.model import SegmentationModel

GROW_SCORE = 0.3  # the subject grows into touching pixels scoring at least this
KEEP_SHARE = 0.2  # components under this share of the largest are dropped
HOLE_BELIEF = 0.2  # an enclosed hole whose median score is above this is filled
AGREEMENT = 0.8  # on a plain background, the classical answer is kept when its IoU with the model's is above
UNSURE_SHARE = 0.24  # unsure pixels over subject pixels above which the reply warns
_UNSURE = (0.15, 0.85)
_FAR_PX = 4  # soft values are kept this far (at the model's size) outside the kept subject


@dataclass(frozen=True, slots=True)
class SubjectMatte:
    alpha: np.ndarray  # float32 in [0, 1], the size of the input
    background: Background
    by_model: bool  # whether the model's answer was used (else the classical engine's)
    unsure: float  # the model's unsure pixels against the subject's area (0 for the classical engine)

    @property
    def doubtful(self) -> bool:
        """Whether the reply should say to check this cut-out: the model was unsure, or the classical
        engine worked on a background that was not plain."""
        if self.by_model:
            return self.unsure > UNSURE_SHARE
        return not self.background.plain


def subject_alpha(rgb: np.ndarray, model: SegmentationModel | None, *, flip: bool = False) -> SubjectMatte:
    """The subject's alpha of an RGB uint8 image (H×W×3), by the rules above; the classical engine alone
    when there is no model. `flip`: average the model over the image and its mirror image (pays on people:
    +0.02 IoU on portraits; nothing on objects)."""
    background = fit_background(rgb)
    if model is None:
        return SubjectMatte(cut_subject(rgb, background).alpha, background, by_model=False, unsure=0.0)
    scores = model.scores(Image.fromarray(rgb), flip=flip)
    alpha, unsure = _from_scores(scores, rgb.shape[:2])
    if background.plain:
        classical = cut_subject(rgb, background).alpha
        if _iou(classical, alpha) >= AGREEMENT:
            return SubjectMatte(classical, background, by_model=False, unsure=0.0)
    return SubjectMatte(alpha, background, by_model=True, unsure=unsure)


def _from_scores(scores: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Steps 2 and 3 at the model's size, then the alpha scaled to `shape`; and how unsure the model was."""
    subject = keep_main(grow(scores >= 0.5, scores >= GROW_SCORE), KEEP_SHARE)
    subject = fill_holes(subject, lambda region, _: float(np.median(scores[region])) > HOLE_BELIEF)
    near = cv2.dilate(subject.astype(np.uint8), np.ones((2 * _FAR_PX + 1,) * 2, np.uint8)).astype(bool)
    soft = np.where(subject, np.maximum(scores, 0.5), np.where(near, np.minimum(scores, 0.49), 0.0))
    unsure = float(((scores > _UNSURE[0]) & (scores < _UNSURE[1])).sum()) / max(1, int(subject.sum()))
    height, width = shape
    alpha = cv2.resize(soft.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(alpha, 0.0, 1.0), unsure


def grow(core: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """The components of `reach` that touch `core` (hysteresis, as in Canny's edge linking)."""
    _, labels = cv2.connectedComponents(reach.astype(np.uint8), connectivity=8)
    touched = np.unique(labels[core & reach])
    grown: np.ndarray = np.isin(labels, touched[touched > 0])
    return grown


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x, y = a >= 0.5, b >= 0.5
    union = int((x | y).sum())
    return float((x & y).sum()) / union if union else 1.0
