"""PicWish: clothing segmentation as an asynchronous task (vendor-docs/picwish-clothing-segmentation.txt,
vendor-notes §3).

`POST {PICWISH_BASE_URL}/api/tasks/visual/clothing-segmentation` (multipart, `sync=0`, `image_file` or
`image_url`) returns a `task_id`; `GET …/{task_id}` is polled until `data.state` is 1 (done) or negative
(failed); 0, 2, 3 and 4 are progress. Success needs HTTP 200 *and* body `status` 200. The key goes in
`X-API-KEY`. `class_masks` values are URLs or base64; `clothes_masks` is a ZIP URL. Every request —
create and poll — passes the shared rate limit (2 a second by default); a 429 is retried with backoff.
An answer with more masks than MAX_RESULT_PARTS, or a base64 mask over MAX_INLINE_RESULT_BYTES, is refused
before any of it is decoded.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bot.domain.failures import ErrorKind, VendorTimeout
from bot.domain.grammar import Output, SegmentClasses, Spec
from bot.domain.vendors import PICWISH
from bot.engines.base import PARTS_ROLE, CutProgress, ImageInput, ImageURL, ResultPart
from bot.engines.vendors.answers import JSONObject, as_int, object_at
from bot.engines.vendors.http import VendorClient, VendorHTTP
from bot.engines.vendors.limits import MAX_INLINE_RESULT_BYTES, MAX_RESULT_PARTS, PICWISH_SEGMENT
from bot.engines.vendors.retry import call_with_retries
from bot.imaging.prepare import ImageLimits

NAME = PICWISH
KEY_VAR = "PICWISH_API_KEY"
TASKS_PATH = "/api/tasks/visual/clothing-segmentation"
MAX_POLL_INTERVAL_S = 5.0

CLASS_TYPE = {
    SegmentClasses.CLOTHING: "1",
    SegmentClasses.FASHION: "2",
    SegmentClasses.PERSON: "3",
    SegmentClasses.ALL: "4",
}
# HTTP / body `status` → (what it means, worth retrying)
_STATUS: dict[int, tuple[ErrorKind, bool]] = {
    400: (ErrorKind.BAD_REQUEST, False),
    401: (ErrorKind.KEY_REJECTED, False),
    402: (ErrorKind.NO_CREDITS, False),  # not in PicWish's docs; seen in a public client
    404: (ErrorKind.RESULT_MISSING, False),
    413: (ErrorKind.IMAGE_TOO_LARGE, False),
    429: (ErrorKind.RATE_LIMITED, True),
}
# negative `data.state` → (what it means, PicWish's own words)
_FAILED_STATES: dict[int, tuple[ErrorKind, str]] = {
    -1: (ErrorKind.VENDOR_DOWN, "the task failed"),
    -2: (ErrorKind.VENDOR_DOWN, "storing the result failed"),
    -3: (ErrorKind.INVALID_INPUT, "could not download the image from its URL"),
    -5: (ErrorKind.IMAGE_TOO_LARGE, "the image is too large"),
    -7: (ErrorKind.UNSUPPORTED_IMAGE, "invalid image file"),
    -8: (ErrorKind.VENDOR_DOWN, "processing timed out"),
    -9: (ErrorKind.VENDOR_DOWN, "internal program failure"),
    -10: (ErrorKind.CONTENT_REFUSED, "the image hit the internal content review"),
    -11: (ErrorKind.NO_SUBJECT, "the result was empty"),
    -13: (ErrorKind.VENDOR_DOWN, "the task was cancelled after an exception"),
    -14: (ErrorKind.CONTENT_REFUSED, "the image content is not acceptable"),
    -15: (ErrorKind.VENDOR_DOWN, "insufficient resources"),
    -16: (ErrorKind.CONTENT_REFUSED, "the image hit a third-party content review"),
    -17: (ErrorKind.BAD_REQUEST, "invalid prompt"),
}


def create_fields(spec: Spec) -> dict[str, str]:
    """The text fields of the create request for `spec`."""
    return {
        "sync": "0",
        "class_type": CLASS_TYPE[spec.segment_classes],
        "detail_mode": "2" if spec.ultra else "1",
        "output_type": "3" if spec.parts else "1",
        "quality": "2" if spec.hq else "1",
    }


class PicWishClient(VendorClient):
    name = NAME
    accepts_urls = True

    def __init__(
        self,
        http: VendorHTTP,
        api_key: str,
        *,
        poll_interval_s: float = 1.0,
        poll_deadline_s: float = 120.0,
        max_inline_result_bytes: int = MAX_INLINE_RESULT_BYTES,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = http
        self._headers = {"X-API-KEY": api_key}
        self._poll_interval_s = poll_interval_s
        self._poll_deadline_s = poll_deadline_s
        self._max_inline_result_bytes = max_inline_result_bytes
        self._clock = clock
        self._sleep = sleep

    def limits(self, spec: Spec) -> ImageLimits:
        return PICWISH_SEGMENT

    def alpha_output(self, spec: Spec) -> Output | None:
        return Output.MASK  # the results are masks: they are scaled back to the original size

    async def cut(self, image: ImageInput, spec: Spec, progress: CutProgress) -> list[ResultPart]:
        task_id = await self.create(image, spec)
        await progress.submitted(task_id)
        return await self.resume(task_id, spec, progress)

    async def create(self, image: ImageInput, spec: Spec) -> str:
        # The create request is multipart/form-data whether it carries a file or a URL; httpx sends a
        # body without files url-encoded, so the text fields travel as file-less parts.
        fields: list[tuple[str, tuple[str | None, Any, str | None]]] = [
            (name, (None, value, None)) for name, value in create_fields(spec).items()
        ]

        async def attempt() -> JSONObject:
            with contextlib.ExitStack() as files:
                parts = list(fields)
                if isinstance(image, ImageURL):
                    parts.append(("image_url", (None, image.url, None)))
                else:  # streamed from disk as it is sent
                    handle = files.enter_context(image.path.open("rb"))
                    parts.append(("image_file", (image.filename, handle, image.mimetype)))
                response = await self._http.request("POST", TASKS_PATH, files=parts, headers=self._headers)
            return self._read(response)

        data = await call_with_retries(attempt, self._http.retry, what=f"{NAME} create")
        task_id = data.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise self._http.unusable(
                code="NO_TASK_ID", message="the answer had no task_id", kind=ErrorKind.UNKNOWN
            )
        return task_id

    async def resume(self, vendor_task_id: str, spec: Spec, progress: CutProgress) -> list[ResultPart]:
        """Poll the task until it is done or failed, waiting about 1 s at first and longer each time."""
        deadline = self._clock() + self._poll_deadline_s
        interval = self._poll_interval_s

        async def attempt() -> JSONObject:
            response = await self._http.request(
                "GET", f"{TASKS_PATH}/{vendor_task_id}", headers=self._headers
            )
            return self._read(response)

        while True:
            data = await call_with_retries(attempt, self._http.retry, what=f"{NAME} poll")
            state = as_int(data.get("state"))
            if state == 1:
                return self._parts(data, spec)
            if state is not None and state < 0:
                kind, words = _FAILED_STATES.get(state, (ErrorKind.UNKNOWN, "the task failed"))
                raise self._http.unusable(code=f"STATE_{state}", message=words, kind=kind)
            await progress.progressed(as_int(data.get("progress")))
            if self._clock() + interval > deadline:
                raise VendorTimeout(
                    vendor=NAME,
                    message=f"the task was not done within {self._poll_deadline_s:g} s",
                    key_var=KEY_VAR,
                )
            await self._sleep(interval)
            interval = min(interval * 1.5, MAX_POLL_INTERVAL_S)

    def _parts(self, data: JSONObject, spec: Spec) -> list[ResultPart]:
        masks = object_at(data, "class_masks")
        zip_url = data.get("clothes_masks")
        wants_zip = spec.parts and isinstance(zip_url, str) and bool(zip_url)
        if len(masks) + wants_zip > MAX_RESULT_PARTS:
            raise self._http.unusable(
                code="TOO_MANY_MASKS",
                message=f"{NAME} sent {len(masks)} masks; the bot takes at most "
                f"{MAX_RESULT_PARTS - wants_zip}",
                kind=ErrorKind.RESULT_REFUSED,
            )
        parts: list[ResultPart] = []
        for name, value in masks.items():
            if not isinstance(value, str) or not value:
                continue
            if value.startswith(("https://", "http://")):
                parts.append(ResultPart(str(name), url=value))
            else:
                parts.append(ResultPart(str(name), content=self._decode(str(name), value)))
        if not parts:
            raise self._http.unusable(
                code="NO_MASKS", message="the task had no class masks", kind=ErrorKind.NO_SUBJECT
            )
        if wants_zip:
            parts.append(ResultPart(PARTS_ROLE, url=zip_url))
        return parts

    def _decode(self, name: str, value: str) -> bytes:
        encoded = value.split(",", 1)[1] if value.startswith("data:") else value
        if len(encoded) // 4 * 3 > self._max_inline_result_bytes:  # the decoded size, give or take padding
            raise self._http.unusable(
                code="MASK_TOO_LARGE",
                message=f"the {name} mask was {len(encoded) // 4 * 3 / 1e6:.0f} MB; the bot takes at most "
                f"{self._max_inline_result_bytes / 1e6:.0f} MB in the answer",
                kind=ErrorKind.RESULT_REFUSED,
            )
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise self._http.unusable(
                code="BAD_MASK",
                message=f"the {name} mask was neither a URL nor base64",
                kind=ErrorKind.RESULT_MISSING,
            ) from None

    def _read(self, response: httpx.Response) -> JSONObject:
        """The `data` of an answer whose HTTP status and body `status` are both 200; otherwise raise."""
        status = response.status_code
        body = self._http.json_object(response)
        body_status = as_int(body.get("status"))
        if status == 200 and body_status == 200:
            return object_at(body, "data")
        code_number = body_status if body_status not in (None, 200) else status
        message = str(body.get("message") or "")
        kind, retryable = _STATUS.get(code_number or 0, (ErrorKind.UNKNOWN, False))
        if code_number is not None and code_number >= 500:
            kind, retryable = ErrorKind.VENDOR_DOWN, True
        if kind is ErrorKind.RESULT_MISSING:
            message = message or "the task is unknown (results are kept for one hour)"
        raise self._http.refused(
            response, retryable=retryable, code=f"HTTP_{code_number}", message=message, kind=kind
        )
