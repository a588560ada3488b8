"""A fake PicWish clothing-segmentation API: strict on its fields, slow like a task queue, and strict on QPS.

`POST /api/tasks/visual/clothing-segmentation` needs `X-API-KEY`, exactly one of `image_file` and
`image_url`, and in-range `sync`/`class_type`/`detail_mode`/`output_type`/`quality`; it answers a
`task_id`. Each `GET …/{task_id}` moves the task one step along `states` (0 queued, 2 preparing,
4 processing, then 1 done — or `fail_with`, a negative state). More than `qps` requests in any second
answer 429. Masks are served as URLs or as base64 (`masks_as`); `output_type` 2/3 adds a ZIP URL.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import io
import itertools
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from PIL import Image, UnidentifiedImageError

from fakes.faults import Faults, Hold
from fakes.model import class_masks, png, quick_mask_png
from fakes.net import LocalServer

TASKS_PATH = "/api/tasks/visual/clothing-segmentation"
RANGES = {
    "sync": ("0",),
    "class_type": ("1", "2", "3", "4"),
    "detail_mode": ("1", "2"),
    "output_type": ("1", "2", "3"),
    "quality": ("1", "2"),
}


@dataclass
class Created:
    fields: dict[str, str]
    image_size: tuple[int, int]
    from_url: bool


@dataclass
class _Task:
    image: Image.Image
    fields: dict[str, str]
    polls: int = 0


@dataclass
class FakePicWish:
    api_key: str = "picwish-test-key-0000"
    qps: float = 2.0
    masks_as: str = "url"  # or "base64"
    states: tuple[int, ...] = (0, 2, 4, 1)
    fail_with: int | None = None  # a negative state to end in instead of 1
    created: list[Created] = field(default_factory=list)
    polls: list[str] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    throttled: int = 0  # 429s answered
    faults: Faults = field(default_factory=Faults)  # applied to create and poll requests alike
    poll_hold: Hold = field(default_factory=Hold)
    latency_s: float = 0.0  # every answered request takes this long (benchmarks)
    quick_results: bool = False  # small ready-made masks instead of computed ones (benchmarks)

    def __post_init__(self) -> None:
        self._tasks: dict[str, _Task] = {}
        self._results: dict[str, tuple[bytes, str]] = {}
        self._recent: collections.deque[float] = collections.deque()
        self._ids = itertools.count(1)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(TASKS_PATH, self._create)
        app.router.add_get(TASKS_PATH + "/{task_id}", self._poll)
        app.router.add_get("/results/{name}", self._result)
        self._server = LocalServer(app)

    async def start(self) -> FakePicWish:
        await self._server.start()
        return self

    async def stop(self) -> None:
        self.poll_hold.release()
        await self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url

    def _gate(self, request: web.Request) -> web.Response | None:
        if request.headers.get("X-API-KEY") != self.api_key:
            return self._refuse(401, "Unauthorized: invalid or missing X-API-KEY")
        now = time.monotonic()
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        if len(self._recent) >= self.qps:
            self.throttled += 1
            return self._refuse(429, "Too Many Requests")
        self._recent.append(now)
        return None

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._gate(request)) is not None:
            return refused
        if (fault := await self.faults.apply(request)) is not None:
            return fault
        if request.content_type != "multipart/form-data":
            return self._refuse(400, "multipart/form-data is required")
        form = await request.post()
        unknown = set(form) - {"image_file", "image_url", *RANGES}
        if unknown:
            return self._refuse(400, f"unknown parameter {sorted(unknown)[0]}")
        has_file = isinstance(form.get("image_file"), web.FileField)
        has_url = bool(form.get("image_url"))
        if has_file == has_url:
            return self._refuse(400, "give exactly one of image_file and image_url")
        fields = {k: v for k, v in form.items() if isinstance(v, str) and k != "image_url"}
        for name, allowed in RANGES.items():
            if fields.get(name, allowed[0]) not in allowed:
                return self._refuse(400, f"{name} must be one of {','.join(allowed)}")
        if has_file:
            data = form["image_file"].file.read()  # type: ignore[union-attr]
        else:
            try:
                async with aiohttp.ClientSession() as session, session.get(str(form["image_url"])) as reply:
                    data = await reply.read() if reply.status == 200 else b""
            except aiohttp.ClientError:
                data = b""
        if len(data) > 20 * 1024 * 1024:
            return self._refuse(413, "file too large")
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except (UnidentifiedImageError, OSError):
            return self._refuse(400, "invalid image")
        if max(image.size) > 4096:
            return self._refuse(400, f"resolution {image.size[0]}x{image.size[1]} is over 4096x4096")
        task_id = f"task-{next(self._ids)}"
        self._tasks[task_id] = _Task(image.convert("RGB"), fields)
        self.created.append(Created(fields, image.size, has_url))
        return web.json_response({"status": 200, "message": "success", "data": {"task_id": task_id}})

    async def _poll(self, request: web.Request) -> web.StreamResponse:
        await self.poll_hold.wait()
        if (refused := self._gate(request)) is not None:
            return refused
        if (fault := await self.faults.apply(request)) is not None:
            return fault
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        task_id = request.match_info["task_id"]
        self.polls.append(task_id)
        task = self._tasks.get(task_id)
        if task is None:
            return self._refuse(404, "task not found")
        states = self.states if self.fail_with is None else (*self.states[:-1], self.fail_with)
        state = states[min(task.polls, len(states) - 1)]
        task.polls += 1
        data: dict[str, Any] = {
            "task_id": task_id,
            "created_at": "1719383457",
            "state": state,
            "progress": 100 if state == 1 else min(99, 30 * task.polls),
            "output_type": int(task.fields.get("output_type", "1")),
        }
        if state == 1:
            data["completed_at"] = str(int(time.time()))
            data["class_masks"] = await asyncio.to_thread(self._masks, task)
            if task.fields.get("output_type", "1") in ("2", "3"):
                data["clothes_masks"] = self._keep(self._zip(task), "application/zip", "zip")
        return web.json_response({"status": 200, "message": "success", "data": data})

    def _masks(self, task: _Task) -> dict[str, str]:
        if self.quick_results:
            return {"clothes": self._keep(quick_mask_png(), "image/png", "png")}
        out = {}
        for name, mask in class_masks(task.image, task.fields.get("class_type", "1")).items():
            data = png(mask)
            out[name] = (
                base64.b64encode(data).decode()
                if self.masks_as == "base64"
                else self._keep(data, "image/png", "png")
            )
        return out

    def _zip(self, task: _Task) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, mask in class_masks(task.image, "1").items():
                archive.writestr(f"{name}/0.png", png(mask))
        return buffer.getvalue()

    def _keep(self, data: bytes, content_type: str, extension: str) -> str:
        name = f"m{next(self._ids)}.{extension}"
        self._results[name] = (data, content_type)
        return f"{self._server.url}/results/{name}"

    async def _result(self, request: web.Request) -> web.Response:
        found = self._results.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404, text="NoSuchKey")
        return web.Response(body=found[0], content_type=found[1])

    def _refuse(self, status: int, message: str) -> web.Response:
        self.rejected.append((status, message))
        return web.json_response({"status": status, "message": message}, status=status)
