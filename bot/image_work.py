"""The threads that do the heavy image steps: decoding, scaling, encoding, cutting and composing.

One small pool is shared by every task. At camera size (12 megapixels) one of these steps holds 100–150 MB
for a moment — the decoded original, the mask at full size, the composed result — so the number running
at once, not the number of tasks, sets how much memory the bot needs (`CUTOUT_IMAGE_THREADS`; the memory
benchmark measures it). Tasks waiting for a thread hold only files on disk.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class ImageWork:
    def __init__(self, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError("image work needs at least one thread")
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="image")

    async def run(self, step: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `step` on one of the image threads and wait for it; the event loop stays free meanwhile."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(step, *args, **kwargs))

    def close(self) -> None:
        """Drop steps not yet started; one running finishes on its own (a thread cannot be stopped)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
