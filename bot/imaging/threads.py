"""The threads that do the heavy image steps: decoding, scaling, encoding, cutting and composing.

One small pool is shared by every task. At camera size (12 megapixels) one of these steps holds 100–150 MB
for a moment — the decoded original, the mask at full size, the composed result — so the number running
at once, not the number of tasks, sets how much memory the bot needs (`CUTOUT_IMAGE_THREADS`; the memory
benchmark measures it). Tasks waiting for a thread hold only files on disk.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import os
import platform
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
OWN_MAPPING_FROM_BYTES = 1 << 20  # blocks this large get their own mapping, unmapped when freed


def return_freed_images_to_the_system() -> bool:
    """Have glibc give every block of 1 MB or more its own memory mapping, which goes back to the system
    the moment it is freed. Returns whether the setting was made.

    By default glibc raises its mapping threshold each time a large block is freed (up to 32 MB); after
    the first photo, image buffers come from the heap, whose freed space the process keeps. Measured with
    the memory benchmark: idle after a round of 12-megapixel photos at 178 MB instead of 92 MB, and a peak
    30 MB higher. This is what `MALLOC_MMAP_THRESHOLD_=1048576` does; an operator's own setting wins, and
    other C libraries are left alone."""
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") or platform.system() != "Linux":
        return False
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process runs on
        return bool(libc.mallopt(M_MMAP_THRESHOLD, OWN_MAPPING_FROM_BYTES))
    except (OSError, AttributeError):
        return False


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
