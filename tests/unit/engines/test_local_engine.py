"""The local engine: classical matting on scenes with a known answer, every output, and user-supplied ONNX
models of the U²-Net family (built here, tiny, with the `onnx` package: nothing is downloaded)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from bot.assembly import build_engines
from bot.config import Config, ConfigError
from bot.domain.failures import VendorNotConfigured
from bot.domain.grammar import Spec, parse_spec
from bot.engines.base import MAIN_ROLE, CutoutEngine, NoProgress
from bot.engines.local.engine import LocalEngine
from bot.engines.local.matting import cut_subject
from bot.engines.local.model import ModelKind, SegmentationModel
from bot.engines.registry import Engines
from bot.imaging.prepare import PreparedImage
from bot.imaging.threads import ImageWork
from bot.tasks import pipeline
from bot.tasks.pipeline import CutOutcome
from fakes.images import encode, product_photo
from fakes.scenes import scene


def iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    a, t = alpha >= 0.5, truth >= 0.5
    return float((a & t).sum() / (a | t).sum())


@pytest.mark.parametrize("background", ["plain", "graded"])
@pytest.mark.parametrize("subject", ["garment", "product", "person"])
def test_studio_scenes_are_cut_accurately(subject: str, background: str) -> None:
    made = scene(subject, background, (640, 480), seed=2)
    matte = cut_subject(made.image)
    assert matte.alpha.shape == made.alpha.shape
    assert iou(matte.alpha, made.alpha) >= 0.95
    assert matte.plain_background


def test_the_mugs_handle_stays_open() -> None:
    made = scene("product", "plain", (640, 480), seed=1)
    matte = cut_subject(made.image)
    hole = (made.alpha < 0.01) & (np.arange(640)[None, :] > 320)  # background to the right of the body…
    ys, xs = np.nonzero(hole[100:380, 330:500])
    inside = (matte.alpha[100:380, 330:500][ys, xs] < 0.5).mean()
    assert inside > 0.95  # …including the inside of the handle, stays background


def test_a_busy_background_is_measured_and_still_cut_at_best() -> None:
    made = scene("garment", "busy", (640, 480), seed=0)
    matte = cut_subject(made.image)
    assert not matte.plain_background
    assert matte.border_residual > 14
    assert matte.alpha.max() > 0.5  # a best effort, not nothing


async def cut_file(source: Path, spec: Spec, engine: CutoutEngine, out_dir: Path) -> CutOutcome:
    work = ImageWork()
    try:
        return await pipeline.cut_file(source, spec, engine, work, out_dir)
    finally:
        work.close()


def prepared(image: Image.Image, folder: Path) -> PreparedImage:
    path = folder / "p.png"
    path.write_bytes(encode(image, "PNG"))
    return PreparedImage(path, path.stat().st_size, "p.png", "image/png", image.size, image.size)


@pytest.mark.parametrize(
    ("words", "mode", "size"),
    [
        ("apparel", "RGBA", (400, 300)),
        ("portrait white", "RGB", (400, 300)),
        ("apparel mask", "L", (400, 300)),
        ("product 500x500", "RGBA", (500, 500)),
        ("product white 300x200", "RGB", (300, 200)),
    ],
)
async def test_every_output_look(words: str, mode: str, size: tuple[int, int], tmp_path: Path) -> None:
    (part,) = await LocalEngine().cut(
        prepared(product_photo(400, 300), tmp_path), parse_spec(words), NoProgress()
    )
    assert part.role == MAIN_ROLE
    assert part.content is not None
    with Image.open(io.BytesIO(part.content)) as result:
        assert (result.mode, result.size) == (mode, size)
        if mode == "RGBA" and "x" not in words:
            assert result.getpixel((5, 5))[3] == 0 and result.getpixel((200, 150))[3] == 255
        if mode == "RGB":
            assert min(result.getpixel((3, 3))) > 245


async def test_crop_is_cropped_to_the_subject(tmp_path: Path) -> None:
    (part,) = await LocalEngine().cut(
        prepared(product_photo(400, 300), tmp_path), parse_spec("portrait crop"), NoProgress()
    )
    with Image.open(io.BytesIO(part.content or b"")) as result:
        assert 190 <= result.size[0] <= 215 and 200 <= result.size[1] <= 225  # the subject: 200×210


async def test_a_busy_background_is_said_and_classes_are_explained(tmp_path: Path) -> None:
    busy = Image.fromarray(scene("garment", "busy", (400, 300), seed=0).image)
    (part,) = await LocalEngine().cut(prepared(busy, tmp_path), parse_spec("apparel tops"), NoProgress())
    assert part.note is not None
    assert "the background was not plain" in part.note
    assert "does not split garments by class" in part.note


async def test_large_images_are_worked_small_and_restored_to_full_size(tmp_path: Path) -> None:
    made = scene("garment", "graded", (2400, 1800), seed=3)
    source = tmp_path / "big.png"
    Image.fromarray(made.image).save(source)
    outcome = await cut_file(source, parse_spec("apparel mask local"), LocalEngine(), tmp_path / "out")
    with Image.open(outcome.files[0].path) as mask:
        assert mask.size == (2400, 1800)
        assert iou(np.asarray(mask, np.float32) / 255, made.alpha) >= 0.95
    assert outcome.engine == "local engine"


def test_segment_needs_a_clothing_model() -> None:
    engines = Engines({})
    with pytest.raises(VendorNotConfigured) as caught:
        engines.for_spec(parse_spec("segment"))
    assert "CUTOUT_LOCAL_MODEL" in caught.value.message
    assert engines.for_spec(parse_spec("apparel")).name == "local engine"
    assert engines.configured()["segment"] is None


# --- ONNX models -------------------------------------------------------------------------------


def tiny_model(path: Path, *, side: int | None, weights: list[list[float]], bias: list[float]) -> Path:
    """A 1×1 convolution with U²-Net's input and output shapes: its answer is known for any image."""
    channels = len(weights)
    dims: list[int | str] = [1, 3, side, side] if side else ["batch", 3, "height", "width"]
    out_dims: list[int | str] = [1, channels, side, side] if side else ["batch", channels, "height", "width"]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input.1", "w", "b"], ["d0"])],
        "tiny",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("d0", TensorProto.FLOAT, out_dims)],
        [
            helper.make_tensor(
                "w", TensorProto.FLOAT, [channels, 3, 1, 1], [v for row in weights for v in row]
            ),
            helper.make_tensor("b", TensorProto.FLOAT, [channels], bias),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # onnx writes its newest IR version; onnxruntime reads up to an older one
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


GREEN_IS_BACKGROUND = [[0.0, -1.0, 0.0]]  # light grey background: high green; the red subject: low green


async def test_a_general_model_is_loaded_normalised_and_used(tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "u2net.onnx", side=320, weights=GREEN_IS_BACKGROUND, bias=[0.0])
    model = SegmentationModel(path)
    assert (model.kind, model.input_size) == (ModelKind.GENERAL, (320, 320))
    photo = product_photo(640, 480)
    alpha = model.alpha(photo)
    assert alpha.shape == (480, 640)
    truth = np.zeros((480, 640), np.float32)
    truth[72:408, 160:480] = 1.0
    assert iou(alpha, truth) >= 0.9
    (part,) = await LocalEngine(model).cut(
        prepared(photo, tmp_path), parse_spec("apparel mask"), NoProgress()
    )
    with Image.open(io.BytesIO(part.content or b"")) as mask:
        assert iou(np.asarray(mask, np.float32) / 255, truth) >= 0.9


def test_isnet_takes_1024_and_a_declared_size_wins(tmp_path: Path) -> None:
    isnet = SegmentationModel(
        tiny_model(tmp_path / "isnet-general-use.onnx", side=None, weights=GREEN_IS_BACKGROUND, bias=[0.0])
    )
    assert isnet.input_size == (1024, 1024)
    declared = SegmentationModel(
        tiny_model(tmp_path / "u2netp.onnx", side=288, weights=GREEN_IS_BACKGROUND, bias=[0.0])
    )
    assert declared.input_size == (288, 288)


async def test_a_human_model_serves_portrait_only(tmp_path: Path) -> None:
    # This "human" model marks the background, so it is easy to see which mode used it.
    path = tiny_model(tmp_path / "u2net_human_seg.onnx", side=320, weights=[[0.0, 1.0, 0.0]], bias=[0.0])
    engine = LocalEngine(SegmentationModel(path))
    image = prepared(product_photo(400, 300), tmp_path)
    (portrait,) = await engine.cut(image, parse_spec("portrait mask"), NoProgress())
    (apparel,) = await engine.cut(image, parse_spec("apparel mask"), NoProgress())
    with (
        Image.open(io.BytesIO(portrait.content or b"")) as by_model,
        Image.open(io.BytesIO(apparel.content or b"")) as by_matting,
    ):
        assert by_model.getpixel((5, 5)) > 200  # the model's (inverted) answer
        assert by_matting.getpixel((5, 5)) < 50  # the classical answer


async def test_a_clothing_model_gives_one_mask_per_class(tmp_path: Path) -> None:
    # bg = green, upper = red − green, lower = blue − green, full never wins: a red top and a blue bottom.
    weights = [[0.0, 1.0, 0.0], [1.0, -1.0, 0.0], [0.0, -1.0, 1.0], [0.0, 0.0, 0.0]]
    path = tiny_model(
        tmp_path / "u2net_cloth_seg.onnx", side=768, weights=weights, bias=[0.0, 0.0, 0.0, -10.0]
    )
    model = SegmentationModel(path)
    assert model.kind is ModelKind.CLOTH
    outfit = Image.new("RGB", (300, 400), (236, 238, 240))
    outfit.paste((200, 40, 60), (90, 60, 210, 200))
    outfit.paste((40, 60, 200), (90, 200, 210, 340))
    engines = Engines({}, local=LocalEngine(model))
    engine = engines.for_spec(parse_spec("segment"))
    assert engine.name == "local engine"
    source = tmp_path / "outfit.png"
    outfit.save(source)
    outcome = await cut_file(source, parse_spec("segment cutouts"), engine, tmp_path / "o")
    names = sorted(f.name for f in outcome.files)
    assert names == [
        "outfit-cutout-lower.png",
        "outfit-cutout-upper.png",
        "outfit-mask-lower.png",
        "outfit-mask-upper.png",
    ]
    with Image.open(tmp_path / "o" / "outfit-mask-upper.png") as upper:
        assert upper.getpixel((150, 120)) == 255 and upper.getpixel((150, 280)) == 0
    with Image.open(tmp_path / "o" / "outfit-cutout-lower.png") as lower:
        assert lower.getpixel((150, 280))[3] == 255 and lower.getpixel((150, 120))[3] == 0


def test_a_bad_model_file_stops_start_up_naming_the_variable(tmp_path: Path) -> None:
    bogus = tmp_path / "u2net.onnx"
    bogus.write_bytes(b"not onnx")
    with pytest.raises(ConfigError) as caught:
        build_engines(Config.from_env({"CUTOUT_LOCAL_MODEL": str(bogus)}, env_file=None))
    assert str(caught.value).startswith("CUTOUT_LOCAL_MODEL could not be used")
    with pytest.raises(ConfigError, match=r"^CUTOUT_LOCAL_MODEL should be the path"):
        Config.from_env({"CUTOUT_LOCAL_MODEL": str(tmp_path / "missing.onnx")}, env_file=None)
