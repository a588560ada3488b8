"""A fake Aidge gateway that checks the v2 signature and the documented body, and answers with real cut-outs.

`POST /rest/ai/image/cut/out` with `partner_id=aidge&sign_method=sha256&sign_ver=v2&app_key&timestamp&sign`
in the query: the signature must be HMAC-SHA256(secret, secret + timestamp) in upper-case hex, the
timestamp (ms) within `max_skew_s` of now. Gateway faults answer `{"type":"ISV","code":…}`. The body
must be a JSON object with `backGroundType`, and `imageBase64` or `imageUrl` (100–3000 px a side);
`targetWidth`/`targetHeight` 100–3000. Business faults answer `success: false` with a `resCode`.
The answer uses the documented camelCase envelope, or the Alibaba Cloud PascalCase one on request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from PIL import Image, UnidentifiedImageError

from fakes.faults import Faults
from fakes.model import fit_to_target, render
from fakes.net import LocalServer

API_PATH = "/rest/ai/image/cut/out"
BODY_FIELDS = frozenset({"imageUrl", "imageBase64", "backGroundType", "targetWidth", "targetHeight"})


@dataclass
class AidgeReceived:
    body_fields: dict[str, Any]  # the body without the image
    image_size: tuple[int, int]
    from_url: bool
    trial: str | None


@dataclass
class FakeAidge:
    app_key: str = "512345"
    app_secret: str = "aidge-test-secret-0000"  # a fake's  # noqa: S105
    max_skew_s: float = 900.0
    envelope: str = "camel"  # or "pascal"
    requests: list[AidgeReceived] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # the codes of refused requests
    res_code_failures: list[tuple[int, str]] = field(default_factory=list)  # answered in order
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        self._results: dict[str, bytes] = {}
        self._ids = itertools.count(1)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(API_PATH, self._cut_out)
        app.router.add_get("/results/{name}", self._result)
        self._server = LocalServer(app)

    async def start(self) -> FakeAidge:
        await self._server.start()
        return self

    async def stop(self) -> None:
        await self._server.stop()

    @property
    def base_url(self) -> str:
        """What AIDGE_BASE_URL is set to: the gateway root, to which the API name is appended."""
        return f"{self._server.url}/rest"

    async def _cut_out(self, request: web.Request) -> web.StreamResponse:
        if (fault := await self.faults.apply(request)) is not None:
            return fault
        problem = self._check_signature(request.query)
        if problem is not None:
            return self._gateway_error(*problem)
        if request.content_type != "application/json":
            return self._business_error(700, "invalid input: Content-Type must be application/json")
        try:
            body = json.loads(await request.text())
        except ValueError:
            return self._business_error(700, "invalid input: the body is not JSON")
        if not isinstance(body, dict):
            return self._business_error(700, "invalid input: the body is not a JSON object")
        unknown = set(body) - BODY_FIELDS
        if unknown:
            return self._business_error(700, f"invalid input: unknown parameter {sorted(unknown)[0]}")
        background = body.get("backGroundType")
        if background not in ("WHITE_BACKGROUND", "TRANSPARENT"):
            return self._business_error(700, "invalid input: backGroundType")
        target = _target(body)
        if target == "bad":
            return self._business_error(700, "invalid input: targetWidth/targetHeight must be 100-3000")
        image = await self._image(body)
        if isinstance(image, str):
            return self._business_error(700, f"invalid input: {image}")
        width, height = image.size
        if not (100 <= width <= 3000 and 100 <= height <= 3000):
            return self._business_error(
                700, f"invalid input: image size {width}x{height} is outside 100-3000"
            )
        received = {k: v for k, v in body.items() if k not in ("imageBase64",)}
        self.requests.append(
            AidgeReceived(received, image.size, "imageBase64" not in body, request.headers.get("x-iop-trial"))
        )
        if self.res_code_failures:
            return self._business_error(*self.res_code_failures.pop(0))
        white = background == "WHITE_BACKGROUND"
        if target is None:
            data, _ = render(image, "whiteBK" if white else None)
            result_size = image.size
        else:
            transparent = Image.open(io.BytesIO(render(image, None)[0]))
            fitted = fit_to_target(transparent, target, (255, 255, 255) if white else None)
            buffer = io.BytesIO()
            fitted.save(buffer, "JPEG" if white else "PNG")
            data, result_size = buffer.getvalue(), target
        name = f"r{next(self._ids)}.{'jpg' if white else 'png'}"
        self._results[name] = data
        url = f"{self._server.url}/results/{name}?Expires=2719383457&Signature=abc%3D"
        return self._success(url, result_size)

    def _check_signature(self, query: Any) -> tuple[str, str] | None:
        for name, value in (("partner_id", "aidge"), ("sign_method", "sha256"), ("sign_ver", "v2")):
            if query.get(name) != value:
                return "MissingParameter", f"{name} must be {value}"
        if query.get("app_key") != self.app_key:
            return "InvalidApiKey", "The app_key does not exist"
        timestamp = query.get("timestamp", "")
        if not timestamp.isdigit() or abs(int(timestamp) / 1000 - time.time()) > self.max_skew_s:
            return "InvalidTimestamp", "The timestamp is missing or out of range"
        expected = hmac.new(self.app_secret.encode(), (self.app_secret + timestamp).encode(), hashlib.sha256)
        if not hmac.compare_digest(query.get("sign", ""), expected.hexdigest().upper()):
            return "IncompleteSignature", "The request signature does not conform to platform standards"
        return None

    async def _image(self, body: dict[str, Any]) -> Image.Image | str:
        if body.get("imageBase64"):
            try:
                data = base64.b64decode(body["imageBase64"], validate=True)
            except (binascii.Error, ValueError, TypeError):
                return "imageBase64 is not base64"
        elif body.get("imageUrl"):
            try:
                async with aiohttp.ClientSession() as session, session.get(body["imageUrl"]) as reply:
                    if reply.status != 200:
                        return f"imageUrl answered HTTP {reply.status}"
                    data = await reply.read()
            except aiohttp.ClientError:
                return "imageUrl could not be fetched"
        else:
            return "imageUrl or imageBase64 is required"
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except (UnidentifiedImageError, OSError):
            return "the image could not be decoded"
        return image

    async def _result(self, request: web.Request) -> web.Response:
        data = self._results.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404, text="NoSuchKey")
        return web.Response(
            body=data, content_type="image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"
        )

    def _gateway_error(self, code: str, message: str) -> web.Response:
        self.rejected.append(code)
        return web.json_response({"type": "ISV", "code": code, "message": message, "request_id": "gw-1"})

    def _business_error(self, res_code: int, message: str) -> web.Response:
        self.rejected.append(str(res_code))
        if self.envelope == "pascal":
            return web.json_response(
                {
                    "Success": False,
                    "Code": "InvalidParameter" if res_code == 700 else str(res_code),
                    "Message": message,
                    "RequestId": "r1",
                }
            )
        return web.json_response(
            {
                "success": False,
                "resCode": res_code,
                "resMessage": message,
                "code": "0",
                "requestId": "r1",
                "_trace_id_": "t1",
            }
        )

    def _success(self, url: str, size: tuple[int, int]) -> web.Response:
        if self.envelope == "pascal":
            body: dict[str, Any] = {
                "Success": True,
                "Code": "Success",
                "Message": "success",
                "RequestId": "r1",
                "Data": {"ImageUrl": url, "Width": size[0], "Height": size[1]},
            }
        else:
            body = {
                "data": {"score": 0.88, "imageUrl": url, "usage": 1, "width": size[0], "height": size[1]},
                "requestId": "r1",
                "success": True,
                "resCode": 200,
                "resMessage": "success",
                "code": "0",
                "request_id": "r2",
                "_trace_id_": "t1",
            }
        return web.json_response(body)


def _target(body: dict[str, Any]) -> tuple[int, int] | str | None:
    if "targetWidth" not in body and "targetHeight" not in body:
        return None
    try:
        width, height = int(body.get("targetWidth", 0)), int(body.get("targetHeight", 0))
    except (TypeError, ValueError):
        return "bad"
    if not (100 <= width <= 3000 and 100 <= height <= 3000):
        return "bad"
    return (width, height)
