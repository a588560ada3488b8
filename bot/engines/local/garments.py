"""Garments without the wearer: the person's alpha less the skin, the face and the hair the engine can see.

1. The face: OpenCV's bundled Haar cascades (frontal, then profile) on the upper part of the person's box,
   at most `FACE_SIDE` long; the largest face that lies on the person is taken.
2. Skin: a colour model in YCrCb learnt from that face's cheeks (a robust mean and covariance of Cr and Cb),
   or a generic one when no face was found. A pixel is skin when it is close to the model (Mahalanobis
   distance), reddish rather than grey (Cr above Cb: white and grey clothes are never skin) and lit about
   as the face is (without a face: not near black).
3. The head: the person above the chin, within a box around the face (hair, face, ears) — a hat or
   sunglasses there go with it.
4. Skin and head are opened (specks in a print are not skin), widened over their mixed outline and taken
   out of the person; bags, shoes and everything else the person wears or carries stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

FACE_SIDE = 480  # faces are looked for on the person's upper part scaled to at most this long
FACE_REGION = 0.6  # …which is this share of the person's box from its top (a head bent low included)
SKIN_DISTANCE = 9.0  # squared Mahalanobis distance under which a colour is the face's skin
HEAD_WIDTH = 0.6  # the head box reaches this many face widths either side of the face
CHIN = 1.15  # …and down to this many face heights below the face's top
GENERIC_SKIN = (np.array([150.0, 112.0]), np.array([[60.0, -20.0], [-20.0, 40.0]]))  # Cr, Cb: mean, cov
GENERIC_LUMA = 50.0  # without a face, darker than this (Y) is not taken for skin (dark hair, brown leather)

Face = tuple[int, int, int, int]  # x, y, width, height in the image's pixels


@dataclass(frozen=True, slots=True)
class GarmentMatte:
    alpha: np.ndarray  # float32 in [0, 1], the size of the input
    face_found: bool


def garment_alpha(rgb: np.ndarray, person: np.ndarray) -> GarmentMatte:
    """The garments' alpha, given an RGB uint8 image and its person's alpha (both H×W)."""
    face = find_face(rgb, person >= 0.5)
    return GarmentMatte(without_wearer(rgb, person, face), face_found=face is not None)


def without_wearer(rgb: np.ndarray, person: np.ndarray, face: Face | None) -> np.ndarray:
    """The person's alpha less the skin (learnt from `face`, else the generic model) and the head (steps 2–4)."""
    on_person = person >= 0.5
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    remove = _skin(ycc, face) & on_person
    if face is not None:
        remove |= _head(on_person.shape, face) & on_person
    radius = max(1, round(0.004 * max(on_person.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    opened = cv2.morphologyEx(remove.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    widened = cv2.dilate(opened, kernel) > 0  # with the mixed pixels along the skin's outline
    return np.where(widened, 0.0, person).astype(np.float32)


def find_face(rgb: np.ndarray, on_person: np.ndarray) -> Face | None:
    """The largest face (frontal, else in profile) lying mostly on the person, in the image's pixels. It is
    looked for only in the upper part of the person's box, at most `FACE_SIDE` pixels long."""
    rows, cols = np.nonzero(on_person)
    if rows.size == 0:
        return None
    top, left, right = int(rows.min()), int(cols.min()), int(cols.max()) + 1
    bottom = top + max(1, round(FACE_REGION * (int(rows.max()) + 1 - top)))
    region = rgb[top:bottom, left:right]
    height, width = region.shape[:2]
    scale = min(1.0, FACE_SIDE / max(height, width))
    if scale < 1:
        region = cv2.resize(
            region, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
        )
    grey = cv2.equalizeHist(cv2.cvtColor(region, cv2.COLOR_RGB2GRAY))
    smallest = max(12, round(0.04 * max(grey.shape)))
    best: Face | None = None
    for cascade in (_cascade("haarcascade_frontalface_default.xml"), _cascade("haarcascade_profileface.xml")):
        for x, y, w, h in cascade.detectMultiScale(grey, 1.15, 4, minSize=(smallest, smallest)):
            fx, fy = left + round(float(x) / scale), top + round(float(y) / scale)
            fw, fh = round(float(w) / scale), round(float(h) / scale)
            if fw == 0 or fh == 0 or on_person[fy : fy + fh, fx : fx + fw].mean() < 0.5:
                continue
            if best is None or fw * fh > best[2] * best[3]:
                best = (fx, fy, fw, fh)
        if best is not None:
            return best
    return None


@cache
def _cascade(name: str) -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / name  # type: ignore[attr-defined]  # in the opencv-python wheel
    classifier = cv2.CascadeClassifier(str(path))
    if classifier.empty():
        raise RuntimeError(f"OpenCV's {name} could not be loaded from {path}")
    return classifier


def _skin(ycc: np.ndarray, face: Face | None) -> np.ndarray:
    luma: float | None = None
    if face is not None:
        x, y, w, h = face
        cheeks = ycc[y + int(0.45 * h) : y + int(0.8 * h), x + int(0.25 * w) : x + int(0.75 * w)].reshape(
            -1, 3
        )
        centre = np.median(cheeks, axis=0)
        off = np.abs(cheeks - centre)
        typical = (off[:, 1] <= np.percentile(off[:, 1], 70)) & (off[:, 2] <= np.percentile(off[:, 2], 70))
        cheeks = cheeks[typical]
        mean3 = cheeks.mean(axis=0)
        mean, cov = mean3[1:], np.cov(cheeks[:, 1:].T) + np.eye(2) * 2.0
        luma = float(mean3[0])
    else:
        mean, cov = GENERIC_SKIN
    offset = ycc[..., 1:] - mean
    distance = np.einsum("...i,ij,...j->...", offset, np.linalg.inv(cov), offset)
    skin = distance < SKIN_DISTANCE
    skin &= (ycc[..., 1] - ycc[..., 2]) >= max(8.0, 0.5 * float(mean[0] - mean[1]))  # reddish, not grey
    if luma is not None:
        skin &= (ycc[..., 0] > 0.35 * luma) & (ycc[..., 0] < 1.5 * luma + 20)
    else:
        skin &= ycc[..., 0] > GENERIC_LUMA
    result: np.ndarray = skin
    return result


def _head(shape: tuple[int, ...], face: Face) -> np.ndarray:
    x, y, w, h = face
    head = np.zeros(shape[:2], dtype=bool)
    left, right = max(0, x - round(HEAD_WIDTH * w)), x + w + round(HEAD_WIDTH * w)
    head[: y + round(CHIN * h), left:right] = True
    return head
