"""The local engine: cut-outs in-process, with no network and no download — behind the same interface as the
vendor clients, so the runner does not care which it calls.

apparel, portrait and product: the subject by `bot.engines.local.subject` — the classical engine on a plain
background, a U²-Net-family model elsewhere: the one the operator names (`CUTOUT_LOCAL_MODEL`) for the modes
it is made for, else the shipped U²-Net-p; the classical engine alone when no model could load. apparel then
takes the wearer's skin, face and hair away (`bot.engines.local.garments`). segment needs a clothing model and
says so without one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from bot.domain.grammar import Mode, Output, Spec
from bot.domain.vendors import LOCAL
from bot.engines.base import MAIN_ROLE, CutProgress, ImageInput, ResultPart
from bot.engines.local.garments import garment_alpha
from bot.engines.local.model import ModelKind, SegmentationModel
from bot.engines.local.subject import subject_alpha
from bot.imaging.compose import compose, encode_result, fit_to_target
from bot.imaging.decode import open_image
from bot.imaging.prepare import ImageLimits, PreparedImage
from bot.imaging.threads import ImageWork

NAME = LOCAL
LIMITS = ImageLimits(
    endpoint="the local engine",
    formats=frozenset({"JPEG", "PNG", "BMP", "WEBP", "TIFF"}),
    max_bytes=200_000_000,
    max_side=1024,  # it works on at most this; the result is restored to the original size
    min_side=16,
)
_PEOPLE = frozenset({Mode.APPAREL, Mode.PORTRAIT})  # the model is run on the mirror image too
_MODEL_MODES = {
    ModelKind.GENERAL: frozenset({Mode.APPAREL, Mode.PORTRAIT, Mode.PRODUCT}),
    ModelKind.HUMAN: frozenset({Mode.PORTRAIT}),
    ModelKind.CLOTH: frozenset({Mode.SEGMENT}),
}


class LocalEngine:
    name = NAME
    accepts_urls = False

    def __init__(
        self,
        model: SegmentationModel | None = None,
        *,
        shipped: SegmentationModel | None = None,
        image_work: ImageWork | None = None,
    ) -> None:
        """`model`: the operator's (`CUTOUT_LOCAL_MODEL`); `shipped`: the U²-Net-p installed with the project,
        for the modes `model` is not made for. Neither: the classical engine alone."""
        self._model = model
        self._shipped = shipped
        self.image_work = image_work or ImageWork()

    @property
    def model_name(self) -> str | None:
        return self._model.name if self._model else None

    def subject_model(self, mode: Mode) -> SegmentationModel | None:
        """The model that finds the subject in `mode` (None: the classical engine alone)."""
        if self._model is not None and mode in _MODEL_MODES[self._model.kind]:
            return self._model
        return self._shipped

    def supports(self, spec: Spec) -> bool:
        """Whether this engine can run `spec` (segmentation needs a clothing model)."""
        if spec.mode is Mode.SEGMENT:
            return self._model is not None and self._model.kind is ModelKind.CLOTH
        return True

    def limits(self, spec: Spec) -> ImageLimits:
        return LIMITS

    def alpha_output(self, spec: Spec) -> Output | None:
        return None if spec.mode is Mode.PRODUCT and spec.size is not None else Output.MASK

    async def cut(self, image: ImageInput, spec: Spec, progress: CutProgress) -> list[ResultPart]:
        if not isinstance(image, PreparedImage):
            raise TypeError("the local engine takes image files, not URLs")
        return await self.image_work.run(self._cut, image, spec)

    async def resume(self, vendor_task_id: str, spec: Spec, progress: CutProgress) -> list[ResultPart]:
        raise NotImplementedError("the local engine finishes in one step; there is nothing to resume")

    async def fetch(self, url: str, dest: Path) -> None:
        raise NotImplementedError("the local engine returns its results inline")

    async def aclose(self) -> None:
        return None

    def _cut(self, image: PreparedImage, spec: Spec) -> list[ResultPart]:
        with open_image(image.path, name=image.filename) as opened:  # the documented formats only
            rgb = opened.convert("RGB")
        if spec.mode is Mode.SEGMENT:
            assert self._model is not None
            return [
                ResultPart(name, content=encode_result(Image.fromarray(mask, mode="L")))
                for name, mask in self._model.classes(rgb).items()
            ]
        matte = subject_alpha(np.asarray(rgb), self.subject_model(spec.mode), flip=spec.mode in _PEOPLE)
        alpha = matte.alpha
        notes = []
        if matte.doubtful:
            notes.append(_doubt(matte.by_model, matte.background.residual))
        if spec.mode is Mode.APPAREL:
            garments = garment_alpha(np.asarray(rgb), alpha)
            alpha = garments.alpha
            if not garments.face_found:
                notes.append("no face was found, so hair or skin may remain in the garments' cut-out")
        if spec.mode is Mode.APPAREL and spec.classes:
            notes.append("the local engine does not split garments by class: this is the whole garment")
        mask = Image.fromarray(np.round(alpha * 255).astype(np.uint8), mode="L")
        if spec.mode is Mode.PRODUCT and spec.size is not None:
            result = fit_to_target(
                compose(rgb, mask, Output.TRANSPARENT), spec.size, white=spec.output is Output.WHITE
            )
        else:
            result = compose(rgb, mask, spec.output)
        return [ResultPart(MAIN_ROLE, content=encode_result(result), note="; ".join(notes) or None)]


def _doubt(by_model: bool, residual: float) -> str:
    if by_model:
        return (
            "the background was busy and the local engine was unsure of parts of the subject: "
            "check the cut-out, or use a vendor for this one"
        )
    return (
        f"the background was not plain (its edges vary by {residual:.0f} Lab units): "
        "check the cut-out's edges, or use a vendor for this one"
    )
