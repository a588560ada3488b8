"""What the fake vendors compute: a real cut-out from the pixels, with the background taken from the border."""

from __future__ import annotations

import io

from PIL import Image, ImageChops, ImageFilter


def subject_mask(image: Image.Image) -> Image.Image:
    """A soft mask of what differs from the colour of the image's border."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    border = [rgb.getpixel((x, 0)) for x in range(0, width, max(1, width // 50))]
    border += [rgb.getpixel((0, y)) for y in range(0, height, max(1, height // 50))]
    background = tuple(sorted(channel)[len(channel) // 2] for channel in zip(*border, strict=True))
    difference = ImageChops.difference(rgb, Image.new("RGB", rgb.size, background)).convert("L")
    return difference.point(lambda v: 255 if v > 40 else 0).filter(ImageFilter.GaussianBlur(1))


def render(
    image: Image.Image, return_form: str | None, *, band: tuple[int, int] | None = None
) -> tuple[bytes, str]:
    mask = subject_mask(image)
    if band is not None:  # a per-class file: the subject within one horizontal band
        index, count = band
        height = image.size[1]
        keep = Image.new("L", image.size, 0)
        keep.paste(255, (0, height * index // count, image.size[0], height * (index + 1) // count))
        mask = ImageChops.multiply(mask, keep)
    buffer = io.BytesIO()
    if return_form == "mask":
        mask.save(buffer, "PNG")
        return buffer.getvalue(), "image/png"
    if return_form == "whiteBK":
        white = Image.new("RGB", image.size, (255, 255, 255))
        white.paste(image.convert("RGB"), mask=mask)
        white.save(buffer, "JPEG", quality=90)
        return buffer.getvalue(), "image/jpeg"
    cutout = image.convert("RGBA")
    cutout.putalpha(mask)
    if return_form == "crop" and mask.getbbox():
        cutout = cutout.crop(mask.getbbox())
    cutout.save(buffer, "PNG")
    return buffer.getvalue(), "image/png"


def fit_to_target(
    cutout: Image.Image, target: tuple[int, int], background: tuple[int, ...] | None
) -> Image.Image:
    """Aidge's target size: the subject cropped, scaled to fit and centred on a canvas of exactly `target`."""
    box = cutout.getchannel("A").getbbox() or (0, 0, *cutout.size)
    subject = cutout.crop(box)
    scale = min(target[0] / subject.size[0], target[1] / subject.size[1])
    size = (max(1, round(subject.size[0] * scale)), max(1, round(subject.size[1] * scale)))
    subject = subject.resize(size, Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", target, (255, 255, 255, 255) if background else (0, 0, 0, 0))
    canvas.alpha_composite(subject, ((target[0] - subject.size[0]) // 2, (target[1] - subject.size[1]) // 2))
    return canvas.convert("RGB") if background else canvas


# PicWish class_type → the classes its answer has (the API page's lists)
SEGMENT_CLASSES = {
    "1": ("clothes", "tops", "bottoms", "dress", "acc"),
    "2": ("clothes", "tops", "bottoms", "dress", "bag", "shoes", "acc"),
    "3": ("hair", "face", "head", "body"),
    "4": (
        "hair",
        "face",
        "head",
        "clothes",
        "tops",
        "bottoms",
        "dress",
        "bag",
        "shoes",
        "acc",
        "body",
        "others",
    ),
}
# Where each class sits within the subject, as a vertical band (top, bottom); absent classes are empty masks.
_BANDS = {
    "clothes": (0.0, 1.0),
    "tops": (0.0, 0.5),
    "bottoms": (0.5, 1.0),
    "hair": (0.0, 0.15),
    "face": (0.15, 0.3),
    "head": (0.0, 0.3),
    "body": (0.0, 1.0),
}


def class_masks(image: Image.Image, class_type: str) -> dict[str, Image.Image]:
    """One grayscale mask per class of `class_type`: bands of the subject, empty for classes not present."""
    subject = subject_mask(image).point(lambda v: 255 if v >= 128 else 0)
    box = subject.getbbox() or (0, 0, *image.size)
    top, height = box[1], box[3] - box[1]
    masks = {}
    for name in SEGMENT_CLASSES[class_type]:
        keep = Image.new("L", image.size, 0)
        if name in _BANDS:
            start, end = _BANDS[name]
            keep.paste(255, (0, top + int(height * start), image.size[0], top + int(height * end)))
        masks[name] = ImageChops.multiply(subject, keep)
    return masks


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def quick_mask_png() -> bytes:
    """A small mask with a subject in the middle: a cheap, valid vendor answer for benchmarks."""
    mask = Image.new("L", (64, 48), 0)
    mask.paste(255, (16, 8, 48, 40))
    return png(mask)
