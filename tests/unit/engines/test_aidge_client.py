"""The Aidge client against httpx.MockTransport: v2 signing, body, both envelopes, which codes are retried."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx
import pytest

from bot.domain.failures import ErrorKind, VendorRejected, VendorUnavailable
from bot.domain.grammar import parse_spec
from bot.engines.base import MAIN_ROLE, ImageURL, NoProgress
from bot.engines.vendors.aidge import AidgeClient, request_body, sign
from bot.engines.vendors.http import VendorHTTP
from bot.engines.vendors.retry import RetryPolicy
from bot.imaging.prepare import PreparedImage
from tests.paths import DATA

SECRET = "aidge-unit-secret"
FAST = RetryPolicy(attempts=3, base_delay_s=0.001, max_delay_s=0.01)
FAKE_PNG = DATA / "uploads" / "fake.png"
IMAGE = PreparedImage(FAKE_PNG, FAKE_PNG.stat().st_size, "box.png", "image/png", (500, 400), (500, 400))
NOW = 1_719_383_457.0


def test_signature_matches_the_worked_example_in_vendor_notes() -> None:
    assert sign("S4etzZ73nF08vOXVhk3wZjIaLSHw0123", "1719383457000") == (
        "A1F9D033A3739AA414B7FE0FFC44805488A986F81C223F4B264F941DE85C42A8"
    )


def client_with(handler: Callable[[httpx.Request], httpx.Response], *, trial: bool = False) -> AidgeClient:
    http = httpx.AsyncClient(base_url="https://api.aidge.test/rest", transport=httpx.MockTransport(handler))
    vendor_http = VendorHTTP(
        http,
        vendor="Aidge",
        key_var="AIDGE_APP_KEY and AIDGE_APP_SECRET",
        retry=FAST,
        allow_private_urls=True,
    )
    return AidgeClient(vendor_http, "512345", SECRET, trial=trial, clock=lambda: NOW)


def ok(url: str = "https://oss.test/r.png") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "data": {"imageUrl": url, "width": 500, "height": 400},
            "success": True,
            "resCode": 200,
            "resMessage": "success",
            "code": "0",
        },
    )


async def test_request_is_signed_in_the_query_with_a_json_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok()

    parts = await client_with(handler).cut(IMAGE, parse_spec("product white"), NoProgress())
    (request,) = seen
    assert request.method == "POST"
    assert request.url.path == "/rest/ai/image/cut/out"
    query = dict(request.url.params)
    assert query == {
        "partner_id": "aidge",
        "sign_method": "sha256",
        "sign_ver": "v2",
        "app_key": "512345",
        "timestamp": "1719383457000",
        "sign": sign(SECRET, "1719383457000"),
    }
    assert request.headers["content-type"] == "application/json"
    assert "x-iop-trial" not in request.headers
    body = json.loads(request.content)
    assert body == {
        "backGroundType": "WHITE_BACKGROUND",
        "imageBase64": base64.b64encode(IMAGE.read()).decode(),
    }
    assert SECRET not in str(request.url)
    assert [(p.role, p.url) for p in parts] == [(MAIN_ROLE, "https://oss.test/r.png")]


async def test_trial_header_is_sent_only_when_asked() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok()

    await client_with(handler, trial=True).cut(IMAGE, parse_spec("product"), NoProgress())
    assert seen[0].headers["x-iop-trial"] == "true"


def test_body_for_target_size_and_url() -> None:
    assert request_body(parse_spec("product 800x600"), ImageURL("https://cdn.test/a.jpg")) == {
        "backGroundType": "TRANSPARENT",
        "imageUrl": "https://cdn.test/a.jpg",
        "targetWidth": 800,
        "targetHeight": 600,
    }


async def test_alibaba_cloud_envelope_is_read_too() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"Success": True, "Code": "Success", "Data": {"ImageUrl": "https://oss.test/p.png"}}
        )

    parts = await client_with(handler).cut(IMAGE, parse_spec("product"), NoProgress())
    assert parts[0].url == "https://oss.test/p.png"


async def test_rate_limit_501_is_retried() -> None:
    answers = [
        httpx.Response(200, json={"success": False, "resCode": 501, "resMessage": "rate limit exceed"}),
        ok(),
    ]
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(dict(request.url.params)["sign"])
        return answers.pop(0)

    await client_with(handler).cut(IMAGE, parse_spec("product"), NoProgress())
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("res_code", "kind"),
    [
        (700, ErrorKind.INVALID_INPUT),
        (1000, ErrorKind.CONTENT_REFUSED),
        (1001, ErrorKind.CONTENT_REFUSED),
        (1002, ErrorKind.CONTENT_REFUSED),
    ],
)
async def test_fixed_result_codes_are_not_retried(res_code: int, kind: ErrorKind) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(
            200, json={"success": False, "resCode": res_code, "resMessage": "invalid input: imageUrl"}
        )

    with pytest.raises(VendorRejected) as caught:
        await client_with(handler).cut(IMAGE, parse_spec("product"), NoProgress())
    assert len(calls) == 1
    assert (caught.value.code, caught.value.kind) == (str(res_code), kind)
    assert "invalid input: imageUrl" in caught.value.user_text()


async def test_success_needs_both_success_true_and_res_code_200() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"success": True, "resCode": 700, "resMessage": "odd", "data": {"imageUrl": "x"}}
        )

    with pytest.raises(VendorRejected):
        await client_with(handler).cut(IMAGE, parse_spec("product"), NoProgress())


async def test_gateway_signature_error_is_a_rejected_key() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"type": "ISV", "code": "IncompleteSignature", "message": "bad sign"})

    with pytest.raises(VendorRejected) as caught:
        await client_with(handler).cut(IMAGE, parse_spec("product"), NoProgress())
    assert caught.value.kind is ErrorKind.KEY_REJECTED
    assert "AIDGE_APP_KEY and AIDGE_APP_SECRET" in caught.value.user_text()
    assert SECRET not in caught.value.user_text()


async def test_exhausted_resources_are_called_no_credits() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "type": "ISV",
                "code": "Forbidden",
                "message": "Sorry, your calling resources have been exhausted",
            },
        )

    with pytest.raises(VendorRejected) as caught:
        await client_with(handler).cut(IMAGE, parse_spec("product"), NoProgress())
    assert caught.value.kind is ErrorKind.NO_CREDITS


async def test_server_errors_without_json_are_retried_then_reported() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, text="busy")

    with pytest.raises(VendorUnavailable):
        await client_with(handler).cut(IMAGE, parse_spec("product"), NoProgress())
    assert len(calls) == FAST.attempts


def test_only_results_without_a_target_size_are_restored() -> None:
    client = client_with(lambda request: ok())
    assert client.alpha_output(parse_spec("product white")) is not None
    assert client.alpha_output(parse_spec("product white 800x800")) is None
