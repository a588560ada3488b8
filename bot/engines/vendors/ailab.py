"""AILabTools: apparel and portrait background removal (vendor-docs, vendor-notes §1).

`POST {AILAB_BASE_URL}/api/cutout/general/apparel-background-removal` and
`POST {AILAB_BASE_URL}/api/cutout/portrait/portrait-background-removal`, multipart with the file in
part `image`, authenticated by the header `ailabapi-api-key`. A call succeeded when the HTTP status is
200, `error_code` is absent or 0 and `error_detail.code` is empty; otherwise `error_detail.code`
(more precise than the HTTP status, which has changed between doc versions) says what went wrong.
Result URLs live 24 hours and are fetched at once.
"""

from __future__ import annotations

import httpx

from bot.domain.failures import ErrorKind, VendorRejected, kind_of_status
from bot.domain.grammar import Mode, Output, Spec
from bot.domain.vendors import AILAB
from bot.engines.base import MAIN_ROLE, CutProgress, ImageInput, ResultPart
from bot.engines.vendors.answers import JSONObject, list_at, object_at, object_in
from bot.engines.vendors.http import VendorClient, VendorHTTP
from bot.engines.vendors.limits import AILAB_APPAREL, AILAB_PORTRAIT
from bot.engines.vendors.retry import call_with_retries
from bot.imaging.prepare import ImageLimits, PreparedImage

NAME = AILAB
KEY_VAR = "AILAB_API_KEY"
APPAREL_PATH = "/api/cutout/general/apparel-background-removal"
PORTRAIT_PATH = "/api/cutout/portrait/portrait-background-removal"

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


class AILabClient(VendorClient):
    name = NAME
    accepts_urls = False

    def __init__(self, http: VendorHTTP, api_key: str) -> None:
        self._http = http
        self._api_key = api_key

    def limits(self, spec: Spec) -> ImageLimits:
        return AILAB_APPAREL if spec.mode is Mode.APPAREL else AILAB_PORTRAIT

    def alpha_output(self, spec: Spec) -> Output | None:
        return Output.MASK

    async def cut(self, image: ImageInput, spec: Spec, progress: CutProgress) -> list[ResultPart]:
        if not isinstance(image, PreparedImage):
            raise TypeError(f"{NAME} takes image files, not URLs")
        path, fields = request_fields(spec)
        headers = {"ailabapi-api-key": self._api_key}

        async def attempt() -> JSONObject:
            with image.path.open("rb") as handle:  # streamed from disk as it is sent
                files = {"image": (image.filename, handle, image.mimetype)}
                response = await self._http.request("POST", path, data=fields, files=files, headers=headers)
            return self._read(response)

        body = await call_with_retries(attempt, self._http.retry, what=f"{NAME} {spec.mode}")
        return _result_parts(spec, body)

    def _read(self, response: httpx.Response) -> JSONObject:
        body = self._http.json_object(response)
        status = response.status_code
        detail = object_at(body, "error_detail")
        code = str(detail.get("code") or body.get("error_code_str") or "")
        if status == 200 and not code and body.get("error_code") in (None, 0, "0", ""):
            return body
        message = str(detail.get("message") or detail.get("code_message") or body.get("error_msg") or "")
        code = code or f"HTTP_{status}"
        known = _CODES.get(code)
        if known is not None:
            kind, retryable = known
        else:
            kind, retryable = kind_of_status(status)
        raise self._http.refused(response, retryable=retryable, code=code, message=message, kind=kind)


def _result_parts(spec: Spec, body: JSONObject) -> list[ResultPart]:
    data = object_at(body, "data")
    if spec.mode is Mode.PORTRAIT:
        main_url = data.get("image_url")
        class_urls: JSONObject = {}
    else:
        elements = list_at(data, "elements")
        main_url = object_in(elements, 0).get("image_url")
        class_urls = object_at(object_in(elements, 1), "class_url")
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
