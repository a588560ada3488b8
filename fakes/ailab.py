"""A fake AILabTools that enforces the documented contract and answers with real cut-outs.

Both endpoints of vendor-docs/ailabtools-*: header `ailabapi-api-key`, multipart with a file part
`image` and only the documented text fields and values, the formats, byte and pixel limits of
vendor-notes §4, and errors as non-200 JSON bodies with `error_detail.code`. Results are computed from
the uploaded pixels (background estimated from the border) and served from temporary URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image, UnidentifiedImageError

from fakes.faults import Faults, Hold
from fakes.model import quick_mask_png, render
from fakes.net import LocalServer

APPAREL_PATH = "/api/cutout/general/apparel-background-removal"
PORTRAIT_PATH = "/api/cutout/portrait/portrait-background-removal"
CLOTH_CLASSES = ("tops", "coat", "skirt", "pants", "bag", "shoes", "hat")
QUICK_MASK = (quick_mask_png(), "image/png")


@dataclass(frozen=True)
class EndpointRules:
    fields: frozenset[str]
    return_forms: frozenset[str]
    formats: frozenset[str]
    max_bytes: int
    min_side_exclusive: int
    max_side_exclusive: int


RULES = {
    APPAREL_PATH: EndpointRules(
        frozenset({"image", "out_mode", "cloth_class", "return_form"}),
        frozenset({"whiteBK", "mask"}),
        frozenset({"JPEG", "PNG", "BMP"}),
        5_000_000,
        50,
        3000,
    ),
    PORTRAIT_PATH: EndpointRules(
        frozenset({"image", "return_form"}),
        frozenset({"whiteBK", "mask", "crop"}),
        frozenset({"JPEG", "PNG", "BMP", "WEBP"}),
        3_000_000,
        0,
        2000,
    ),
}


@dataclass
class Received:
    path: str
    fields: dict[str, str]
    filename: str
    image_format: str
    size: tuple[int, int]
    byte_count: int


@dataclass
class Failure:
    status: int
    code: str
    message: str
    retry_after: str | None = None


@dataclass
class FakeAILab:
    api_key: str = "ailab-test-key-0000"
    requests: list[Received] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (status, code) of refused requests
    result_downloads: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)  # answered in order before any real work
    gate: asyncio.Event | None = None  # when set to an unset Event, requests wait for it
    waiting: int = 0  # requests held at the gate now
    faults: Faults = field(default_factory=Faults)
    result_hold: Hold = field(default_factory=Hold)  # holds result downloads
    latency_s: float = 0.0  # every accepted call is answered this long after it arrived (benchmarks)
    quick_results: bool = False  # answer with a small ready-made mask instead of computing one (benchmarks)
    calls_in_flight: int = 0  # accepted calls being answered now, and the most at once (benchmarks)
    most_in_flight: int = 0
    most_at_once: int = 0  # the most cut-out requests answered at once (held at the gate included): what
    # AILabTools' concurrency limit counts. A request whose caller hung up (a killed bot) counts no longer: it
    # is no instance's call any more, and its instance's slot is free for another (the fleet's limit).

    def __post_init__(self) -> None:
        self._answering: dict[int, web.Request] = {}  # by id(): requests are mappings
        self._results: dict[str, tuple[bytes, str]] = {}
        self._ids = itertools.count(1)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(APPAREL_PATH, self._cutout)
        app.router.add_post(PORTRAIT_PATH, self._cutout)
        app.router.add_get("/results/{name}", self._result)
        self._server = LocalServer(app)

    async def start(self) -> FakeAILab:
        await self._server.start()
        return self

    async def stop(self) -> None:
        if self.gate is not None:
            self.gate.set()  # release held requests so the server can close
        self.result_hold.release()
        await self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url

    def fail_next(
        self, status: int, code: str, message: str = "", *, times: int = 1, retry_after: str | None = None
    ) -> None:
        self.failures.extend(Failure(status, code, message, retry_after) for _ in range(times))

    @property
    def at_once(self) -> int:
        """Cut-out requests being answered now whose callers are still connected."""
        self._answering = {key: r for key, r in self._answering.items() if not _caller_gone(r)}
        return len(self._answering)

    async def _cutout(self, request: web.Request) -> web.StreamResponse:
        self._answering[id(request)] = request
        self.most_at_once = max(self.most_at_once, self.at_once)
        try:
            return await self._answer_cutout(request)
        finally:
            self._answering.pop(id(request), None)

    async def _answer_cutout(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        if (fault := await self.faults.apply(request)) is not None:
            return fault
        rules = RULES[request.path]
        if request.headers.get("ailabapi-api-key") != self.api_key:
            return self._refuse(401, "ERROR_APPLICATIONS_NOT_EXISTS", "The application does not exist.")
        if request.content_type != "multipart/form-data":
            return self._refuse(400, "ERROR_PARAMETERS", "Content-Type must be multipart/form-data.")
        form = await request.post()
        unknown = set(form) - rules.fields
        if unknown:
            return self._refuse(400, "UNSUPPORTED_PARAMETER_VALUES", f"Unknown field: {sorted(unknown)[0]}")
        if len(form.getall("image", [])) != 1 or not isinstance(form["image"], web.FileField):
            return self._refuse(400, "MISSING_PARAMETERS", "image is required and must be a file.")
        texts = {k: v for k, v in form.items() if isinstance(v, str)}
        if len(texts) != len(form) - 1:
            return self._refuse(400, "ERROR_PARAMETERS", "Only image may be a file.")
        problem = _check_fields(request.path, texts, rules)
        if problem:
            return self._refuse(400, "ERROR_INVALID_PARAMETER", problem)
        upload: web.FileField = form["image"]  # type: ignore[assignment]
        data = upload.file.read()
        if len(data) > rules.max_bytes:
            return self._refuse(413, "FILE_SIZE_EXCEEDS_LIMIT", "File size exceeds limit.")
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except (UnidentifiedImageError, OSError):
            return self._refuse(422, "FILE_DECODING_FAILURE", "File decoding failed.")
        if image.format not in rules.formats:
            return self._refuse(415, "UNSUPPORTED_FILE_TYPES", f"Unsupported file type: {image.format}.")
        width, height = image.size
        if max(width, height) >= rules.max_side_exclusive:
            return self._refuse(
                413, "FILE_RESOLUTION_EXCEEDS_LIMITS", f"Resolution {width}x{height} too high."
            )
        if min(width, height) <= rules.min_side_exclusive:
            return self._refuse(422, "ERROR_LOW_RESOLUTION", f"Resolution {width}x{height} too low.")
        self.requests.append(
            Received(request.path, texts, upload.filename, image.format, image.size, len(data))
        )
        if self.gate is not None:
            self.waiting += 1
            try:
                if not await _held_until_open(self.gate, request):
                    return web.Response(status=499)  # the caller is gone: nothing more is done for it
            finally:
                self.waiting -= 1
        if self.failures:
            failure = self.failures.pop(0)
            return self._refuse(
                failure.status, failure.code, failure.message, retry_after=failure.retry_after
            )
        if self.latency_s:
            self.calls_in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.calls_in_flight)
            try:
                await asyncio.sleep(self.latency_s - (time.monotonic() - arrived))
            finally:
                self.calls_in_flight -= 1
        form_name = texts.get("return_form")
        if self.quick_results:
            return _success(
                {"image_url": self._store(QUICK_MASK)}
                if request.path == PORTRAIT_PATH
                else {"elements": [{"image_url": self._store(QUICK_MASK)}, {"class_url": {}}]}
            )
        main = self._store(render(image, form_name))
        if request.path == PORTRAIT_PATH:
            return _success({"image_url": main})
        classes = (
            [c for c in texts.get("cloth_class", "").split(",") if c] if texts.get("out_mode") == "1" else []
        )
        class_url = {c: "" for c in CLOTH_CLASSES}
        for index, cloth in enumerate(classes):
            class_url[cloth] = self._store(render(image, form_name, band=(index, len(classes))))
        return _success({"elements": [{"image_url": main}, {"class_url": class_url}]})

    async def _result(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await self.result_hold.wait()
        self.result_downloads.append(name)
        if name not in self._results:
            return web.Response(status=404, text="NoSuchKey")
        data, content_type = self._results[name]
        return web.Response(body=data, content_type=content_type)

    def _store(self, rendered: tuple[bytes, str]) -> str:
        content_type = rendered[1]
        name = f"r{next(self._ids)}.{'jpg' if content_type == 'image/jpeg' else 'png'}"
        self._results[name] = rendered
        return f"{self.url}/results/{name}"

    def _refuse(
        self, status: int, code: str, message: str, *, retry_after: str | None = None
    ) -> web.Response:
        self.rejected.append((status, code))
        headers = {"Retry-After": retry_after} if retry_after else None
        body = {
            "request_id": f"req-{next(self._ids)}",
            "log_id": f"log-{next(self._ids)}",
            "error_code": status,
            "error_code_str": code,
            "error_msg": message,
            "error_detail": {
                "status_code": status,
                "code": code,
                "code_message": message,
                "message": message,
            },
        }
        return web.json_response(body, status=status, headers=headers)


async def _held_until_open(gate: asyncio.Event, request: web.Request) -> bool:
    """Wait for `gate`; False as soon as the caller has hung up (a killed bot's call ends there, as a real
    server stops work on a request whose connection is gone)."""
    while not gate.is_set():
        if _caller_gone(request):
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gate.wait(), 0.05)
    return not _caller_gone(request)


def _caller_gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


def _check_fields(path: str, texts: dict[str, str], rules: EndpointRules) -> str | None:
    form = texts.get("return_form")
    if form is not None and form not in rules.return_forms:
        return f"return_form must be one of {sorted(rules.return_forms)}"
    if path == APPAREL_PATH:
        if texts.get("out_mode", "0") not in ("0", "1"):
            return "out_mode must be 0 or 1"
        if "cloth_class" in texts:
            classes = texts["cloth_class"].split(",")
            if not classes or any(c not in CLOTH_CLASSES for c in classes):
                return "cloth_class must be a comma list of " + ",".join(CLOTH_CLASSES)
    return None


def _success(data: dict[str, Any]) -> web.Response:
    return web.json_response(
        {
            "request_id": "req-ok",
            "log_id": "log-ok",
            "error_code": 0,
            "error_code_str": "",
            "error_msg": "",
            "error_detail": {"status_code": 200, "code": "", "code_message": "", "message": ""},
            "data": data,
        }
    )
