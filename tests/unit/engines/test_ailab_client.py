"""The AILabTools client against httpx.MockTransport: wire format, success rule, errors, retries."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bot.domain.failures import ErrorKind, VendorRejected, VendorTimeout, VendorUnavailable
from bot.domain.grammar import parse_spec
from bot.engines.base import MAIN_ROLE, NoProgress
from bot.engines.vendors.ailab import APPAREL_PATH, PORTRAIT_PATH, AILabClient
from bot.engines.vendors.http import VendorHTTP
from bot.engines.vendors.retry import RetryPolicy
from bot.imaging.prepare import PreparedImage
from tests.multipart import parse_multipart
from tests.paths import DATA

KEY = "ailab-test-key-0123456789"
FAST = RetryPolicy(attempts=3, base_delay_s=0.001, max_delay_s=0.01)
FAKE_JPEG = DATA / "uploads" / "fake.jpg"
IMAGE = PreparedImage(FAKE_JPEG, FAKE_JPEG.stat().st_size, "shirt.jpg", "image/jpeg", (800, 600), (800, 600))

Handler = Callable[[httpx.Request], httpx.Response]


def client_with(handler: Handler) -> AILabClient:
    http = httpx.AsyncClient(base_url="https://ailab.test", transport=httpx.MockTransport(handler))
    vendor_http = VendorHTTP(
        http, vendor="AILabTools", key_var="AILAB_API_KEY", retry=FAST, allow_private_urls=True
    )
    return AILabClient(vendor_http, KEY)


def ok_apparel(classes: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "request_id": "r1",
            "log_id": "l1",
            "error_code": 0,
            "error_detail": {"status_code": 200, "code": "", "code_message": "", "message": ""},
            "data": {"elements": [{"image_url": "https://cdn.test/main.png"}, {"class_url": classes or {}}]},
        },
    )


def failure(status: int, code: str, message: str = "", **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        headers=headers,
        json={
            "request_id": "r1",
            "error_code": status,
            "error_detail": {
                "status_code": status,
                "code": code,
                "code_message": message,
                "message": message,
            },
        },
    )


async def test_apparel_with_classes_sends_the_documented_request() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok_apparel(
            {"tops": "https://cdn.test/tops.png", "coat": "https://cdn.test/coat.png", "hat": ""}
        )

    client = client_with(handler)
    parts = await client.cut(IMAGE, parse_spec("apparel tops,coat whiteBK"), NoProgress())
    await client.aclose()
    (request,) = seen
    assert request.method == "POST"
    assert request.url.path == APPAREL_PATH
    assert request.headers["ailabapi-api-key"] == KEY
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    form = parse_multipart(request.headers["content-type"], request.content)
    assert set(form) == {"image", "out_mode", "cloth_class", "return_form"}
    assert form["out_mode"].text == "1"
    assert form["cloth_class"].text == "tops,coat"
    assert form["return_form"].text == "whiteBK"
    assert form["image"].filename == "shirt.jpg"
    assert form["image"].content_type == "image/jpeg"
    assert form["image"].data == IMAGE.read()
    assert [(p.role, p.url) for p in parts] == [
        (MAIN_ROLE, "https://cdn.test/main.png"),
        ("tops", "https://cdn.test/tops.png"),
        ("coat", "https://cdn.test/coat.png"),
    ]


async def test_apparel_without_classes_is_out_mode_0_and_transparent_omits_return_form() -> None:
    forms = []

    def handler(request: httpx.Request) -> httpx.Response:
        forms.append(parse_multipart(request.headers["content-type"], request.content))
        return ok_apparel()

    client = client_with(handler)
    parts = await client.cut(IMAGE, parse_spec("apparel"), NoProgress())
    assert {name: part.text for name, part in forms[0].items() if name != "image"} == {"out_mode": "0"}
    assert [p.role for p in parts] == [MAIN_ROLE]


@pytest.mark.parametrize(
    ("words", "form"),
    [("portrait", None), ("portrait mask", "mask"), ("portrait crop", "crop"), ("portrait white", "whiteBK")],
)
async def test_portrait_request_and_result(words: str, form: str | None) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "error_code": 0,
                "error_detail": {"code": ""},
                "data": {"image_url": "https://cdn.test/p.png"},
            },
        )

    parts = await client_with(handler).cut(IMAGE, parse_spec(words), NoProgress())
    assert seen[0].url.path == PORTRAIT_PATH
    fields = parse_multipart(seen[0].headers["content-type"], seen[0].content)
    assert set(fields) == ({"image", "return_form"} if form else {"image"})
    if form:
        assert fields["return_form"].text == form
    assert [(p.role, p.url) for p in parts] == [(MAIN_ROLE, "https://cdn.test/p.png")]


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (401, "ERROR_APPLICATIONS_NOT_EXISTS", ErrorKind.KEY_REJECTED),
        (401, "ERROR_USER_NOT_EXISTS", ErrorKind.KEY_REJECTED),
        (429, "ERROR_NOT_ENOUGH_CREDITS", ErrorKind.NO_CREDITS),
        (413, "FILE_SIZE_EXCEEDS_LIMIT", ErrorKind.IMAGE_TOO_LARGE),
        (
            422,
            "FILE_RESOLUTION_EXCEEDS_LIMITS",
            ErrorKind.IMAGE_TOO_LARGE,
        ),  # the 2025 status for the same code
        (422, "ERROR_LOW_RESOLUTION", ErrorKind.IMAGE_TOO_SMALL),
        (415, "UNSUPPORTED_FILE_TYPES", ErrorKind.UNSUPPORTED_IMAGE),
        (422, "FILE_CONTENT_NON_COMPLIANCE", ErrorKind.CONTENT_REFUSED),
        (422, "ERROR_NO_RECOGNITION_TARGET_DETECTED", ErrorKind.NO_SUBJECT),
        (400, "MISSING_PARAMETERS", ErrorKind.BAD_REQUEST),
        (418, "SOMETHING_NEW", ErrorKind.UNKNOWN),
    ],
)
async def test_fixed_errors_are_not_retried_and_read_by_code(status: int, code: str, kind: ErrorKind) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return failure(status, code, "vendor says no")

    with pytest.raises(VendorRejected) as caught:
        await client_with(handler).cut(IMAGE, parse_spec("apparel"), NoProgress())
    assert len(calls) == 1
    error = caught.value
    assert (error.vendor, error.code, error.kind, error.http_status) == ("AILabTools", code, kind, status)
    text = error.user_text()
    assert code in text
    assert "vendor says no" in text
    assert KEY not in text


def test_rejected_key_is_called_a_rejected_key_and_names_the_variable() -> None:
    error = VendorRejected(
        vendor="AILabTools",
        code="ERROR_APPLICATIONS_NOT_EXISTS",
        kind=ErrorKind.KEY_REJECTED,
        key_var="AILAB_API_KEY",
    )
    assert "rejected the API key" in error.user_text()
    assert "AILAB_API_KEY" in error.user_text()


async def test_rate_limit_is_retried_honouring_retry_after_then_succeeds() -> None:
    answers = [failure(429, "EXCEEDING_LIMITS", "slow down", **{"Retry-After": "0"}), ok_apparel()]
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return answers.pop(0)

    parts = await client_with(handler).cut(IMAGE, parse_spec("apparel"), NoProgress())
    assert len(calls) == 2
    assert parts[0].url == "https://cdn.test/main.png"


async def test_server_errors_are_retried_up_to_the_cap_then_reported() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return failure(502, "AI_SERVICE_ERROR", "upstream down")

    with pytest.raises(VendorUnavailable) as caught:
        await client_with(handler).cut(IMAGE, parse_spec("portrait"), NoProgress())
    assert len(calls) == FAST.attempts
    assert caught.value.kind is ErrorKind.VENDOR_DOWN
    assert "AI_SERVICE_ERROR" in caught.value.user_text()


async def test_success_needs_error_code_zero_even_with_http_200() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"error_code": 422, "error_code_str": "FILE_DECODING_FAILURE", "error_msg": "bad file"}
        )

    with pytest.raises(VendorRejected) as caught:
        await client_with(handler).cut(IMAGE, parse_spec("apparel"), NoProgress())
    assert caught.value.code == "FILE_DECODING_FAILURE"
    assert caught.value.kind is ErrorKind.UNSUPPORTED_IMAGE


@pytest.mark.parametrize(
    ("status", "error_type", "calls_expected"), [(502, VendorUnavailable, 3), (400, VendorRejected, 1)]
)
async def test_non_json_answers(status: int, error_type: type, calls_expected: int) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(status, text="<html>Bad Gateway</html>")

    with pytest.raises(error_type) as caught:
        await client_with(handler).cut(IMAGE, parse_spec("apparel"), NoProgress())
    assert len(calls) == calls_expected
    assert caught.value.code == f"HTTP_{status}"


async def test_connection_errors_and_timeouts_are_retried() -> None:
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(VendorUnavailable) as caught:
        await client_with(refuse).cut(IMAGE, parse_spec("apparel"), NoProgress())
    assert caught.value.code == "CONNECTION_ERROR"
    assert len(calls) == 3

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(VendorTimeout):
        await client_with(slow).cut(IMAGE, parse_spec("apparel"), NoProgress())


async def test_success_without_a_result_url_is_a_clear_failure() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"error_code": 0, "error_detail": {"code": ""}, "data": {}})

    with pytest.raises(VendorRejected) as caught:
        await client_with(handler).cut(IMAGE, parse_spec("portrait"), NoProgress())
    assert caught.value.kind is ErrorKind.RESULT_MISSING


async def test_result_download_never_carries_the_api_key(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"\x89PNG result", headers={"content-type": "image/png"})

    await client_with(handler).fetch("https://cdn.test/main.png", tmp_path / "out.png")
    assert (tmp_path / "out.png").read_bytes() == b"\x89PNG result"
    assert "ailabapi-api-key" not in seen[0].headers
    assert KEY not in json.dumps(dict(seen[0].headers))


async def test_expired_result_url_is_reported_not_retried(tmp_path: Path) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(404, text="gone")

    with pytest.raises(VendorRejected) as caught:
        await client_with(handler).fetch("https://cdn.test/old.png", tmp_path / "out.png")
    assert caught.value.code == "RESULT_HTTP_404"
    assert len(calls) == 1
    assert not (tmp_path / "out.png").exists()
