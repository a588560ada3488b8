"""Make the bundled sample image and the README's before/after pictures (run once; the files are committed).

python -m bench.make_sample
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from PIL import Image

from bot.domain.grammar import parse_spec
from bot.engines.local.engine import LocalEngine
from bot.tasks.pipeline import cut_file
from fakes.scenes import scene

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "bot" / "samples" / "sample-product.jpg"
RESULT = ROOT / "docs" / "sample-result.png"
PREVIEW = ROOT / "docs" / "sample-input.jpg"


def main() -> None:
    made = scene("product", "graded", (800, 600), seed=7)
    SAMPLE.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(made.image).save(SAMPLE, "JPEG", quality=88)
    with tempfile.TemporaryDirectory() as work:
        engine = LocalEngine()
        try:
            result = asyncio.run(
                cut_file(SAMPLE, parse_spec("product local"), engine, engine.image_work, Path(work))
            )
        finally:
            engine.image_work.close()
        RESULT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.files[0].path, RESULT)
    shutil.copyfile(SAMPLE, PREVIEW)
    print(f"{SAMPLE.relative_to(ROOT)}, {PREVIEW.relative_to(ROOT)}, {RESULT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
