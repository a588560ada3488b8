"""Aidge: product background removal (vendor-docs/aidge-image-background-removal.txt, vendor-notes §2).

`POST {AIDGE_BASE_URL}/ai/image/cut/out?partner_id=aidge&sign_method=sha256&sign_ver=v2&app_key=…&timestamp=…&sign=…`
with a JSON body. `sign` is the upper-case hex HMAC-SHA256 keyed with the app secret over
`secret + timestamp` (milliseconds): it covers neither path nor body. `x-iop-trial: true` charges the
trial quota. Success is `success == true` and `resCode == 200`; the Alibaba Cloud envelope
(`Success`, `Code`) is read as well, and the gateway's own errors (`code`, `message`) too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import httpx

from bot.domain.failures import ErrorKind, kind_of_status
from bot.domain.grammar import Output, Spec
from bot.domain.vendors import AIDGE
from bot.engines.base import MAIN_ROLE, CutProgress, ImageInput, ImageURL, ResultPart
from bot.engines.vendors.answers import JSONObject, as_int, object_at
from bot.engines.vendors.http import VendorClient, VendorHTTP
from bot.engines.vendors.limits import AIDGE_CUTOUT
from bot.engines.vendors.retry import call_with_retries
from bot.imaging.prepare import ImageLimits

NAME = AIDGE
KEY_VAR = "AIDGE_APP_KEY and AIDGE_APP_SECRET"
API_PATH = "/ai/image/cut/out"

# resCode → (what it means, worth retrying)
_RES_CODES: dict[int, tuple[ErrorKind, bool]] = {
    500: (ErrorKind.VENDOR_DOWN, True),
    501: (ErrorKind.RATE_LIMITED, True),
    700: (ErrorKind.INVALID_INPUT, False),
    801: (ErrorKind.VENDOR_DOWN, False),  # "model failed … contact us": not a passing fault
    1000: (ErrorKind.CONTENT_REFUSED, False),
    1001: (ErrorKind.CONTENT_REFUSED, False),
    1002: (ErrorKind.CONTENT_REFUSED, False),
}
# Named codes of the Alibaba Cloud envelope (`Code`) and of the gateway (`code`).
_NAMED_CODES: dict[str, tuple[ErrorKind, bool]] = {
    "InvalidParameter": (ErrorKind.INVALID_INPUT, False),
    "InputContentBlocked": (ErrorKind.CONTENT_REFUSED, False),
    "OutputContentBlocked": (ErrorKind.CONTENT_REFUSED, False),
    "CallerTypeNotSupported": (ErrorKind.ACCOUNT_PROBLEM, False),
    "UserStatusInvalid": (ErrorKind.ACCOUNT_PROBLEM, False),
    "ServiceNotOpened": (ErrorKind.ACCOUNT_PROBLEM, False),
    "ServiceStatusInvalid": (ErrorKind.ACCOUNT_PROBLEM, False),
    "FreeQuotaExhausted": (ErrorKind.NO_CREDITS, False),
    "PriorityUnavailable": (ErrorKind.RATE_LIMITED, True),
    "DownstreamUnavailable": (ErrorKind.VENDOR_DOWN, True),
    "UsageParseFail": (ErrorKind.VENDOR_DOWN, False),
    "IncompleteSignature": (ErrorKind.KEY_REJECTED, False),
    "InvalidSignature": (ErrorKind.KEY_REJECTED, False),
    "InvalidApiKey": (ErrorKind.KEY_REJECTED, False),
    "AppKeyNotExist": (ErrorKind.KEY_REJECTED, False),
}


def sign(secret: str, timestamp_ms: str) -> str:
    """The v2 signature: HMAC-SHA256(key=secret, msg=secret + timestamp), upper-case hex."""
    return hmac.new(secret.encode(), (secret + timestamp_ms).encode(), hashlib.sha256).hexdigest().upper()


def request_body(spec: Spec, image: ImageInput) -> dict[str, Any]:
    body: dict[str, Any] = {
        "backGroundType": "WHITE_BACKGROUND" if spec.output is Output.WHITE else "TRANSPARENT"
    }
    if isinstance(image, ImageURL):
        body["imageUrl"] = image.url
    else:
        body["imageBase64"] = base64.b64encode(image.read()).decode("ascii")
    if spec.size is not None:
        body["targetWidth"], body["targetHeight"] = spec.size
    return body


class AidgeClient(VendorClient):
    name = NAME
    accepts_urls = True

    def __init__(
        self,
        http: VendorHTTP,
        app_key: str,
        app_secret: str,
        *,
        trial: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._app_key = app_key
        self._app_secret = app_secret
        self._trial = trial
        self._clock = clock

    def limits(self, spec: Spec) -> ImageLimits:
        return AIDGE_CUTOUT

    def alpha_output(self, spec: Spec) -> Output | None:
        # A target size is a size the user asked for: that result is never restored.
        return Output.TRANSPARENT if spec.size is None else None

    def signed_query(self) -> dict[str, str]:
        timestamp = str(int(self._clock() * 1000))
        return {
            "partner_id": "aidge",
            "sign_method": "sha256",
            "sign_ver": "v2",
            "app_key": self._app_key,
            "timestamp": timestamp,
            "sign": sign(self._app_secret, timestamp),
        }

    async def cut(self, image: ImageInput, spec: Spec, progress: CutProgress) -> list[ResultPart]:
        headers = {"x-iop-trial": "true"} if self._trial else {}

        async def attempt() -> JSONObject:
            # The image travels base64 inside the JSON: read it only for the call, not while queued
            response = await self._http.request(
                "POST", API_PATH, params=self.signed_query(), json=request_body(spec, image), headers=headers
            )
            return self._read(response)

        data = await call_with_retries(attempt, self._http.retry, what=f"{NAME} product")
        url = data.get("imageUrl") or data.get("ImageUrl")
        if not isinstance(url, str) or not url:
            raise self._http.unusable(
                code="NO_RESULT_URL",
                message="the answer had no result image URL",
                kind=ErrorKind.RESULT_MISSING,
            )
        return [ResultPart(MAIN_ROLE, url=url)]

    def _read(self, response: httpx.Response) -> JSONObject:
        """The `data` of a successful answer; otherwise raise the error it describes."""
        status = response.status_code
        body = self._http.json_object(response)
        if "resCode" in body or "success" in body:  # the documented envelope
            res_code = as_int(body.get("resCode"))
            if status == 200 and body.get("success") is True and res_code == 200:
                return object_at(body, "data")
            code = str(res_code if res_code is not None else f"HTTP_{status}")
            message = str(body.get("resMessage") or "")
            kind, retryable = _RES_CODES.get(res_code or 0, _by_status(status, message))
        elif "Code" in body or "Success" in body:  # the Alibaba Cloud envelope
            code = str(body.get("Code") or f"HTTP_{status}")
            if status == 200 and body.get("Success") is True and code in ("Success", "200"):
                return object_at(body, "Data")
            message = str(body.get("Message") or "")
            kind, retryable = _NAMED_CODES.get(code, _by_status(status, message))
        else:  # the gateway's own error, e.g. a bad signature
            code = str(body.get("code") or f"HTTP_{status}")
            message = str(body.get("message") or "")
            kind, retryable = _NAMED_CODES.get(code, _by_status(status, message))
        raise self._http.refused(response, retryable=retryable, code=code, message=message, kind=kind)


def _by_status(status: int, message: str) -> tuple[ErrorKind, bool]:
    kind, retryable = kind_of_status(status)
    if kind is not ErrorKind.UNKNOWN:
        return kind, retryable
    if "exhausted" in message.lower():  # "Sorry, your calling resources have been exhausted"
        return ErrorKind.NO_CREDITS, False
    if status in (401, 403):
        return ErrorKind.KEY_REJECTED, False
    return ErrorKind.UNKNOWN, False
