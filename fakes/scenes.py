"""Synthetic studio scenes with a known answer: a subject's exact alpha, composited onto a background.

Subjects: a garment (a T-shirt), a product (a mug whose handle leaves a hole), a person (head, body, arms,
and thin hair-like strands). Backgrounds: plain, graded (gradient, vignette, a faint contact shadow),
textured (paper-like), busy (a cluttered room). Everything is drawn here from a seed: no data is downloaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SUBJECTS = ("garment", "product", "person")
BACKGROUNDS = ("plain", "graded", "textured", "busy")
SUPERSAMPLE = 4


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # H×W×3 uint8
    alpha: np.ndarray  # H×W float32 in [0, 1]: the true cut-out
    subject: str
    background: str


def scene(subject: str, background: str, size: tuple[int, int], seed: int = 0) -> Scene:
    rng = np.random.default_rng(seed)
    width, height = size
    alpha = _subject_alpha(subject, size, rng)
    colour = _subject_colour(subject, width, height, rng)
    ground = _background(background, size, rng, alpha)
    image = alpha[..., None] * colour + (1.0 - alpha[..., None]) * ground
    image += rng.normal(0, 1.2, image.shape)  # sensor noise over everything
    return Scene(np.clip(image, 0, 255).astype(np.uint8), alpha, subject, background)


def _canvas(size: tuple[int, int]) -> tuple[Image.Image, ImageDraw.ImageDraw, float]:
    big = Image.new("L", (size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE), 0)
    return big, ImageDraw.Draw(big), float(SUPERSAMPLE)


def _finish(big: Image.Image, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(big.resize(size, Image.Resampling.BOX), dtype=np.float32) / 255.0


def _subject_alpha(subject: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    width, height = size
    big, draw, s = _canvas(size)
    cx, cy = width / 2 + rng.uniform(-0.04, 0.04) * width, height / 2 + rng.uniform(-0.04, 0.04) * height
    unit = min(width, height)
    if subject == "garment":
        w, h = 0.55 * unit, 0.62 * unit
        top, bottom = cy - h / 2, cy + h / 2
        points = [
            (cx - 0.22 * w, top), (cx - 0.08 * w, top + 0.05 * h), (cx + 0.08 * w, top + 0.05 * h), (cx + 0.22 * w, top),
            (cx + 0.5 * w, top + 0.12 * h), (cx + 0.42 * w, top + 0.32 * h), (cx + 0.3 * w, top + 0.27 * h),
            (cx + 0.3 * w, bottom), (cx - 0.3 * w, bottom), (cx - 0.3 * w, top + 0.27 * h),
            (cx - 0.42 * w, top + 0.32 * h), (cx - 0.5 * w, top + 0.12 * h),
        ]  # fmt: skip
        draw.polygon([(x * s, y * s) for x, y in points], fill=255)
    elif subject == "product":
        w, h = 0.34 * unit, 0.46 * unit
        left, top = cx - w / 2 - 0.06 * unit, cy - h / 2
        draw.rounded_rectangle(
            [left * s, top * s, (left + w) * s, (top + h) * s], radius=0.05 * unit * s, fill=255
        )
        ring = [
            (left + w - 0.04 * unit) * s,
            (cy - 0.12 * unit) * s,
            (left + w + 0.16 * unit) * s,
            (cy + 0.12 * unit) * s,
        ]
        draw.ellipse(ring, fill=255)
        inner = [
            ring[0] + 0.05 * unit * s,
            ring[1] + 0.05 * unit * s,
            ring[2] - 0.05 * unit * s,
            ring[3] - 0.05 * unit * s,
        ]
        draw.ellipse(inner, fill=0)  # the handle's hole shows the background
        draw.rounded_rectangle(
            [left * s, top * s, (left + w) * s, (top + h) * s], radius=0.05 * unit * s, fill=255
        )
    else:
        head_r = 0.09 * unit
        head_c = (cx, cy - 0.27 * unit)
        draw.ellipse(
            [
                (head_c[0] - head_r) * s,
                (head_c[1] - head_r) * s,
                (head_c[0] + head_r) * s,
                (head_c[1] + head_r) * s,
            ],
            fill=255,
        )
        draw.rectangle(
            [
                (cx - 0.035 * unit) * s,
                (head_c[1] + head_r * 0.8) * s,
                (cx + 0.035 * unit) * s,
                (cy - 0.12 * unit) * s,
            ],
            fill=255,
        )
        body = [
            (cx - 0.17 * unit, cy - 0.13 * unit),
            (cx + 0.17 * unit, cy - 0.13 * unit),
            (cx + 0.2 * unit, cy + 0.45 * unit),
            (cx - 0.2 * unit, cy + 0.45 * unit),
        ]
        draw.polygon([(x * s, y * s) for x, y in body], fill=255)
        for side in (-1, 1):
            arm = [(cx + side * 0.15 * unit, cy - 0.12 * unit), (cx + side * 0.27 * unit, cy + 0.2 * unit)]
            draw.line([(x * s, y * s) for x, y in arm], fill=255, width=int(0.07 * unit * s))
        for _ in range(40):  # hair: thin strands out of the head's top
            angle = rng.uniform(math.pi * 1.05, math.pi * 1.95)
            length = head_r * rng.uniform(0.3, 0.8)
            start = (head_c[0] + head_r * 0.9 * math.cos(angle), head_c[1] + head_r * 0.9 * math.sin(angle))
            end = (
                start[0] + length * math.cos(angle + rng.uniform(-0.3, 0.3)),
                start[1] + length * math.sin(angle),
            )
            draw.line(
                [(start[0] * s, start[1] * s), (end[0] * s, end[1] * s)], fill=255, width=max(1, int(0.8 * s))
            )
    return _finish(big, size)


def _subject_colour(subject: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    palettes = {
        "garment": [(40, 70, 150), (170, 40, 50), (30, 110, 70), (200, 150, 40)],
        "product": [(200, 90, 40), (40, 40, 45), (60, 120, 170), (150, 60, 140)],
        "person": [(120, 80, 60), (60, 45, 40), (170, 120, 90), (90, 60, 110)],
    }
    base = np.array(palettes[subject][rng.integers(0, 4)], dtype=np.float32)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    shade = 1.0 + 0.18 * (x / width - 0.5) - 0.12 * (y / height - 0.5)  # studio light from one side
    weave = rng.normal(0, 6, (height, width)).astype(np.float32)  # fabric / surface texture
    return np.clip(base[None, None, :] * shade[..., None] + weave[..., None], 0, 255)


def _background(kind: str, size: tuple[int, int], rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    studio = [(242, 242, 240), (228, 232, 236), (236, 226, 214), (206, 224, 232)]
    base = np.array(studio[rng.integers(0, len(studio))], dtype=np.float32)
    if kind == "plain":
        return np.broadcast_to(base, (height, width, 3)).copy()
    if kind == "graded":
        fall = 0.78 + 0.22 * (1 - y / height)  # the sweep darkens towards the floor
        radius = np.hypot(x / width - 0.5, y / height - 0.5)
        vignette = 1.0 - 0.18 * radius**2
        shadow = (
            np.asarray(
                Image.fromarray((alpha * 255).astype(np.uint8)).filter(
                    ImageFilter.GaussianBlur(0.03 * min(size))
                ),
                np.float32,
            )
            / 255.0
        )
        shadow = np.roll(shadow, int(0.03 * height), axis=0) * 0.12
        return base[None, None, :] * (fall * vignette * (1 - shadow))[..., None]
    if kind == "textured":
        grain = np.asarray(
            Image.fromarray(rng.integers(0, 255, (height, width), dtype=np.uint8)).filter(
                ImageFilter.GaussianBlur(2.0)
            ),
            np.float32,
        )
        return base[None, None, :] + (grain[..., None] - 128.0) * 0.35
    room = Image.new("RGB", size, tuple(int(v) for v in base * 0.8))
    draw = ImageDraw.Draw(room)
    for _ in range(60):
        colour = tuple(int(v) for v in rng.integers(20, 235, 3))
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        x1, y1 = x0 + rng.integers(20, max(21, width // 3)), y0 + rng.integers(20, max(21, height // 3))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)([x0, y0, x1, y1], fill=colour)
    return np.asarray(room, np.float32)


@dataclass(frozen=True)
class DressedPerson:
    """A person on a plain studio background whose parts are known: the garments (a top, trousers, shoes and a
    bag carried at the side) and the wearer (a skin-coloured face and neck, bare arms and hands, dark hair)."""

    image: np.ndarray  # H×W×3 uint8
    person: np.ndarray  # H×W float32: the whole person, bag included
    garments: np.ndarray  # H×W float32: what apparel should keep
    skin: np.ndarray  # H×W bool: bare skin that shows (face, neck, arms, hands)
    hair: np.ndarray  # H×W bool
    bag: np.ndarray  # H×W bool
    shoes: np.ndarray  # H×W bool
    face: tuple[int, int, int, int]  # x, y, width, height of the face


SKIN = (222, 170, 138)
_GARMENT_COLOURS = {
    "top": (40, 70, 150),
    "trousers": (55, 55, 62),
    "shoes": (25, 25, 28),
    "bag": (30, 95, 60),
}


def dressed_person(size: tuple[int, int] = (480, 720), seed: int = 0) -> DressedPerson:
    """A standing person, drawn from `seed`, filling most of a portrait frame."""
    rng = np.random.default_rng(seed)
    width, height = size
    u = min(width, height / 1.5)
    cx = width / 2 + rng.uniform(-0.03, 0.03) * width

    def layer(shapes: list[tuple[str, list[float]]]) -> np.ndarray:
        big, draw, s = _canvas(size)
        for kind, box in shapes:
            scaled = [v * s for v in box]
            if kind == "ellipse":
                draw.ellipse(scaled, fill=255)
            elif kind == "polygon":
                draw.polygon(list(zip(scaled[::2], scaled[1::2], strict=True)), fill=255)
            else:
                draw.rectangle(scaled, fill=255)
        return _finish(big, size)

    head_top, head_w, head_h = 0.10 * height, 0.17 * u, 0.23 * u
    face = (round(cx - head_w / 2), round(head_top), round(head_w), round(head_h))
    shoulders, waist, ankles = head_top + head_h + 0.06 * u, 0.52 * height, 0.88 * height
    hair = layer(
        [
            (
                "ellipse",
                [cx - 0.56 * head_w, head_top - 0.12 * head_h, cx + 0.56 * head_w, head_top + 0.35 * head_h],
            )
        ]
    )
    skin = layer(
        [
            ("ellipse", [cx - head_w / 2, head_top, cx + head_w / 2, head_top + head_h]),
            ("rect", [cx - 0.04 * u, head_top + 0.9 * head_h, cx + 0.04 * u, shoulders + 0.02 * u]),
            ("polygon", [cx - 0.17 * u, shoulders + 0.05 * u, cx - 0.24 * u, waist + 0.05 * u, cx - 0.19 * u, waist + 0.06 * u, cx - 0.13 * u, shoulders + 0.12 * u]),
            ("polygon", [cx + 0.17 * u, shoulders + 0.05 * u, cx + 0.24 * u, waist + 0.05 * u, cx + 0.19 * u, waist + 0.06 * u, cx + 0.13 * u, shoulders + 0.12 * u]),
        ]
    )  # fmt: skip
    top = layer(
        [
            (
                "polygon",
                [
                    cx - 0.18 * u,
                    shoulders,
                    cx + 0.18 * u,
                    shoulders,
                    cx + 0.15 * u,
                    waist,
                    cx - 0.15 * u,
                    waist,
                ],
            )
        ]
    )
    trousers = layer(
        [
            ("polygon", [cx - 0.15 * u, waist, cx - 0.01 * u, waist, cx - 0.02 * u, ankles, cx - 0.12 * u, ankles]),
            ("polygon", [cx + 0.01 * u, waist, cx + 0.15 * u, waist, cx + 0.12 * u, ankles, cx + 0.02 * u, ankles]),
        ]
    )  # fmt: skip
    shoes = layer(
        [
            ("ellipse", [cx - 0.15 * u, ankles - 0.01 * u, cx - 0.01 * u, ankles + 0.05 * u]),
            ("ellipse", [cx + 0.01 * u, ankles - 0.01 * u, cx + 0.15 * u, ankles + 0.05 * u]),
        ]
    )
    bag = layer(
        [
            ("rect", [cx + 0.2 * u, waist - 0.02 * u, cx + 0.36 * u, waist + 0.14 * u]),
            ("polygon", [cx + 0.15 * u, shoulders, cx + 0.17 * u, shoulders, cx + 0.29 * u, waist, cx + 0.27 * u, waist]),
        ]
    )  # the bag and its strap over the shoulder  # fmt: skip
    hair = np.clip(hair - skin * (np.arange(height)[:, None] > head_top + 0.3 * head_h), 0, 1)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    light = 1.0 + 0.12 * (x / width - 0.5) - 0.08 * (y / height - 0.5)
    image = np.broadcast_to(np.array([236.0, 236.0, 233.0]), (height, width, 3)).copy()
    garments = np.zeros((height, width), np.float32)
    for part, alpha in (("trousers", trousers), ("top", top), ("shoes", shoes)):
        image = _over(image, alpha, _GARMENT_COLOURS[part], light, rng)
        garments = np.maximum(garments, alpha)
    image = _over(image, skin, SKIN, light, rng)
    garments = garments * (1 - skin)
    image = _over(image, hair, (62, 42, 30), light, rng)
    garments = garments * (1 - hair)
    image = _over(image, bag, _GARMENT_COLOURS["bag"], light, rng)
    garments = np.maximum(garments, bag)
    person = np.clip(np.maximum.reduce([garments, skin, hair, bag]), 0, 1)
    image += rng.normal(0, 1.2, image.shape)
    return DressedPerson(
        np.clip(image, 0, 255).astype(np.uint8),
        person,
        garments,
        (skin >= 0.5) & (hair < 0.5) & (bag < 0.5),
        (hair >= 0.5) & (bag < 0.5),
        bag >= 0.5,
        (shoes >= 0.5) & (bag < 0.5),
        face,
    )


def _over(
    image: np.ndarray,
    alpha: np.ndarray,
    colour: tuple[int, int, int],
    light: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    texture = rng.normal(0, 4, alpha.shape).astype(np.float32)
    paint = np.array(colour, np.float32)[None, None, :] * light[..., None] + texture[..., None]
    return alpha[..., None] * paint + (1 - alpha[..., None]) * image
