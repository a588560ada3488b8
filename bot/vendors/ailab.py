"""AILabTools: apparel and portrait background removal (vendor-docs, vendor-notes §1).

`POST {AILAB_BASE_URL}/api/cutout/general/apparel-background-removal` and
`POST {AILAB_BASE_URL}/api/cutout/portrait/portrait-background-removal`, multipart with the file in
part `image`, authenticated by the header `ailabapi-api-key`. A call succeeded when the HTTP status is
200, `error_code` is absent or 0 and `error_detail.code` is empty; otherwise `error_detail.code`
(more precise than the HTTP status, which has changed between doc versions) says what went wrong.
Result URLs live 24 hours and are fetched at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from bot.downloads import DownloadError, download_to_file
from bot.grammar import Mode, Output, Spec
from bot.imaging import ImageLimits, PreparedImage
from bot.vendors.base import MAIN_ROLE, ResultPart
from bot.vendors.errors import ErrorKind, VendorError, VendorRejected, VendorTimeout, VendorUnavailable
from bot.vendors.limits import AILAB_APPAREL, AILAB_PORTRAIT
from bot.vendors.retry import RetryPolicy, call_with_retries

NAME = "AILabTools"
KEY_VAR = "AILAB_API_KEY"
APPAREL_PATH = "/api/cutout/general/apparel-background-removal"
PORTRAIT_PATH = "/api/cutout/portrait/portrait-background-removal"
RESULT_MAX_BYTES = 50 * 1024 * 1024

_RETURN_FORM = {Output.WHITE: "whiteBK", Output.MASK: "mask", Output.CROP: "crop"}

# error_detail.code → (what it means, worth retrying)
_CODES: dict[str, tuple[ErrorKind, bool]] = {
    "ERROR_USER_NOT_EXISTS": (ErrorKind.KEY_REJECTED, False),
    "ERROR_APPLICATIONS_NOT_EXISTS": (ErrorKind.KEY_REJECTED, False),
    "ERROR_USER_LOCKED": (ErrorKind.ACCOUNT_PROBLEM, False),
    "ERROR_AI_NOT_EXISTS": (ErrorKind.ACCOUNT_PROBLEM, False),
    "ERROR_NOT_ENOUGH_CREDITS": (ErrorKind.NO_CREDITS, False),
    "EXCEEDING_LIMITS": (ErrorKind.RATE_LIMITED, True),
    "AI_SERVICE_FLOW_RESTRICTION": (ErrorKind.RATE_LIMITED, True),
    "FILE_SIZE_EXCEEDS_LIMIT": (ErrorKind.IMAGE_TOO_LARGE, False),
    "ERROR_REQUEST_BODY_TOO_LARGE": (ErrorKind.IMAGE_TOO_LARGE, False),
    "FILE_RESOLUTION_EXCEEDS_LIMITS": (ErrorKind.IMAGE_TOO_LARGE, False),
    "ERROR_HIGH_RESOLUTION": (ErrorKind.IMAGE_TOO_LARGE, False),
    "ERROR_LOW_RESOLUTION": (ErrorKind.IMAGE_TOO_SMALL, False),
    "UNSUPPORTED_FILE_TYPES": (ErrorKind.UNSUPPORTED_IMAGE, False),
    "FILE_DECODING_FAILURE": (ErrorKind.UNSUPPORTED_IMAGE, False),
    "ERROR_PARAMETERS": (ErrorKind.BAD_REQUEST, False),
    "MISSING_PARAMETERS": (ErrorKind.BAD_REQUEST, False),
    "ERROR_INVALID_PARAMETER": (ErrorKind.BAD_REQUEST, False),
    "PARAMETERS_CANNOT_EMPTY": (ErrorKind.BAD_REQUEST, False),
    "UNSUPPORTED_PARAMETER_VALUES": (ErrorKind.BAD_REQUEST, False),
    "FILE_CONTENT_NON_COMPLIANCE": (ErrorKind.CONTENT_REFUSED, False),
    "ERROR_CONTENT_NON_COMPLIANCE": (ErrorKind.CONTENT_REFUSED, False),
    "ERROR_NO_RECOGNITION_TARGET_DETECTED": (ErrorKind.NO_SUBJECT, False),
    "PROCESSING_FAILURE": (ErrorKind.VENDOR_DOWN, True),
    "UNKNOWN_ERROR": (ErrorKind.VENDOR_DOWN, True),
    "SERVICE_INTERNAL_ERROR": (ErrorKind.VENDOR_DOWN, True),
    "AI_SERVICE_ERROR": (ErrorKind.VENDOR_DOWN, True),
    "ERROR_GATEWAY": (ErrorKind.VENDOR_DOWN, True),
    "FILE_SERVICE_ERROR": (ErrorKind.VENDOR_DOWN, True),
    "ERROR_INSUFFICIENT_RESOURCES": (ErrorKind.VENDOR_DOWN, True),
    "AI_SERVICE_TIMEOUT": (ErrorKind.VENDOR_DOWN, True),
}


def request_fields(spec: Spec) -> tuple[str, dict[str, str]]:
    """The endpoint path and the text parts of the multipart body for `spec`."""
    fields: dict[str, str] = {}
    if spec.mode is Mode.APPAREL:
        fields["out_mode"] = "1" if spec.classes else "0"
        if spec.classes:
            fields["cloth_class"] = ",".join(spec.classes)
        path = APPAREL_PATH
    elif spec.mode is Mode.PORTRAIT:
        path = PORTRAIT_PATH
    else:
        raise ValueError(f"{NAME} does not do {spec.mode}")
    if spec.output in _RETURN_FORM:
        fields["return_form"] = _RETURN_FORM[spec.output]
    return path, fields


class AILabClient:
    name = NAME

    def __init__(self, http: httpx.AsyncClient, api_key: str, *, retry: RetryPolicy | None = None) -> None:
        self._http = http
        self._api_key = api_key
        self._retry = retry or RetryPolicy()

    def limits(self, spec: Spec) -> ImageLimits:
        return AILAB_APPAREL if spec.mode is Mode.APPAREL else AILAB_PORTRAIT

    async def cut(self, image: PreparedImage, spec: Spec) -> list[ResultPart]:
        path, fields = request_fields(spec)
        body = await call_with_retries(
            lambda: self._post(path, fields, image), self._retry, what=f"{NAME} {spec.mode}"
        )
        return _result_parts(spec, body)

    async def fetch(self, url: str, dest: Path) -> None:
        async def attempt() -> None:
            try:
                await download_to_file(self._http, url, dest, max_bytes=RESULT_MAX_BYTES)
            except DownloadError as error:
                raise _download_failure(error) from None

        await call_with_retries(attempt, self._retry, what=f"{NAME} result download")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, fields: dict[str, str], image: PreparedImage) -> dict[str, Any]:
        try:
            response = await self._http.post(
                path,
                data=fields,
                files={"image": (image.filename, image.data, image.mimetype)},
                headers={"ailabapi-api-key": self._api_key},
            )
        except httpx.TimeoutException:
            raise VendorTimeout(vendor=NAME, key_var=KEY_VAR) from None
        except httpx.TransportError as error:
            raise VendorUnavailable(
                vendor=NAME,
                code="CONNECTION_ERROR",
                message=f"could not reach {NAME} ({type(error).__name__})",
                kind=ErrorKind.VENDOR_DOWN,
                key_var=KEY_VAR,
            ) from None
        return _read_response(response)


def _read_response(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        retryable = response.status_code == 429 or response.status_code >= 500 or response.status_code == 200
        raise (VendorUnavailable if retryable else VendorRejected)(
            vendor=NAME,
            code=f"HTTP_{response.status_code}",
            message="the answer was not the JSON the API documents",
            kind=ErrorKind.VENDOR_DOWN if retryable else ErrorKind.UNKNOWN,
            http_status=response.status_code,
            key_var=KEY_VAR,
        )
    detail = body.get("error_detail") if isinstance(body.get("error_detail"), dict) else {}
    code = str(detail.get("code") or body.get("error_code_str") or "")
    error_code = body.get("error_code")
    if response.status_code == 200 and not code and error_code in (None, 0, "0", ""):
        return body
    message = str(detail.get("message") or detail.get("code_message") or body.get("error_msg") or "")
    raise _error(response.status_code, code or f"HTTP_{response.status_code}", message, response.headers)


def _error(status: int, code: str, message: str, headers: httpx.Headers) -> VendorError:
    known = _CODES.get(code)
    if known is not None:
        kind, retryable = known
    else:
        retryable = status == 429 or status >= 500
        kind = (
            ErrorKind.RATE_LIMITED
            if status == 429
            else ErrorKind.VENDOR_DOWN
            if status >= 500
            else ErrorKind.UNKNOWN
        )
    fields: dict[str, Any] = {
        "vendor": NAME,
        "code": code,
        "message": message,
        "kind": kind,
        "http_status": status,
        "key_var": KEY_VAR,
    }
    if retryable:
        return VendorUnavailable(retry_after=_retry_after(headers), **fields)
    return VendorRejected(**fields)


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _result_parts(spec: Spec, body: dict[str, Any]) -> list[ResultPart]:
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    if spec.mode is Mode.PORTRAIT:
        main_url = data.get("image_url")
        class_urls: dict[str, Any] = {}
    else:
        elements = data.get("elements") if isinstance(data.get("elements"), list) else []
        first = elements[0] if elements and isinstance(elements[0], dict) else {}
        second = elements[1] if len(elements) > 1 and isinstance(elements[1], dict) else {}
        main_url = first.get("image_url")
        class_urls = second.get("class_url") if isinstance(second.get("class_url"), dict) else {}
    if not isinstance(main_url, str) or not main_url:
        raise VendorRejected(
            vendor=NAME,
            code="NO_RESULT_URL",
            message="the answer had no result image URL",
            kind=ErrorKind.RESULT_MISSING,
            key_var=KEY_VAR,
        )
    parts = [ResultPart(MAIN_ROLE, url=main_url)]
    for cloth in spec.classes:
        url = class_urls.get(cloth)
        if isinstance(url, str) and url:
            parts.append(ResultPart(cloth, url=url))
    return parts


def _download_failure(error: DownloadError) -> VendorError:
    fields: dict[str, Any] = {"vendor": NAME, "key_var": KEY_VAR, "kind": ErrorKind.RESULT_MISSING}
    if error.reason == DownloadError.TIMEOUT:
        return VendorTimeout(vendor=NAME, message="the result download timed out", key_var=KEY_VAR)
    if error.reason == DownloadError.CONNECTION:
        return VendorUnavailable(
            code="RESULT_CONNECTION_ERROR", message="could not fetch the result", **fields
        )
    if error.reason == DownloadError.TOO_LARGE:
        return VendorRejected(
            code="RESULT_TOO_LARGE", message="the result file was larger than we accept", **fields
        )
    status = error.status or 0
    code = f"RESULT_HTTP_{status}"
    if status == 429 or status >= 500:
        return VendorUnavailable(code=code, message="the result server failed", http_status=status, **fields)
    return VendorRejected(
        code=code, message="the result URL did not give the file (expired?)", http_status=status, **fields
    )
