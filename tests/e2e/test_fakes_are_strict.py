"""The fake vendors refuse what the real ones refuse, so the end-to-end tests can catch a wrong request."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from bot.engines.vendors.aidge import sign
from fakes.aidge import API_PATH, FakeAidge
from fakes.ailab import APPAREL_PATH, FakeAILab
from fakes.images import jpeg_bytes
from fakes.net import wait_for
from fakes.picwish import TASKS_PATH, FakePicWish
from tests.e2e.harness import running_bot


@pytest.fixture
async def aidge():
    fake = await FakeAidge().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def picwish():
    fake = await FakePicWish(qps=100).start()
    yield fake
    await fake.stop()


def signed(fake: FakeAidge, *, timestamp: int | None = None, secret: str | None = None) -> dict[str, str]:
    stamp = str(int(time.time() * 1000) if timestamp is None else timestamp)
    return {
        "partner_id": "aidge",
        "sign_method": "sha256",
        "sign_ver": "v2",
        "app_key": fake.app_key,
        "timestamp": stamp,
        "sign": sign(secret or fake.app_secret, stamp),
    }


async def post_aidge(fake: FakeAidge, params: dict[str, str], **kwargs: object) -> dict:
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        response = await http.post(API_PATH.removeprefix("/rest"), params=params, **kwargs)  # type: ignore[arg-type]
        return response.json()


async def test_aidge_refuses_a_wrong_signature(aidge: FakeAidge) -> None:
    body = await post_aidge(
        aidge, signed(aidge, secret="not-the-secret"), json={"backGroundType": "TRANSPARENT"}
    )
    assert body["code"] == "IncompleteSignature"


async def test_aidge_refuses_a_stale_timestamp(aidge: FakeAidge) -> None:
    stale = int((time.time() - 3600) * 1000)
    body = await post_aidge(aidge, signed(aidge, timestamp=stale), json={"backGroundType": "TRANSPARENT"})
    assert body["code"] == "InvalidTimestamp"


async def test_aidge_refuses_a_body_that_is_not_json(aidge: FakeAidge) -> None:
    body = await post_aidge(
        aidge,
        signed(aidge),
        content=b"backGroundType=TRANSPARENT",
        headers={"Content-Type": "application/json"},
    )
    assert (body["success"], body["resCode"]) == (False, 700)


async def test_aidge_refuses_a_missing_background_type(aidge: FakeAidge) -> None:
    body = await post_aidge(aidge, signed(aidge), json={"imageUrl": "https://example.invalid/a.jpg"})
    assert body["resCode"] == 700
    assert "backGroundType" in body["resMessage"]


async def test_aidge_refuses_an_image_under_100_pixels(aidge: FakeAidge) -> None:
    import base64

    body = await post_aidge(
        aidge,
        signed(aidge),
        json={"backGroundType": "TRANSPARENT", "imageBase64": base64.b64encode(jpeg_bytes(80, 80)).decode()},
    )
    assert body["resCode"] == 700


async def post_picwish(fake: FakePicWish, *, key: str | None = None, **kwargs: object) -> httpx.Response:
    headers = {"X-API-KEY": key if key is not None else fake.api_key}
    async with httpx.AsyncClient(base_url=fake.url) as http:
        return await http.post(TASKS_PATH, headers=headers, **kwargs)  # type: ignore[arg-type]


IMAGE_FILE = {"image_file": ("a.jpg", jpeg_bytes(), "image/jpeg")}


async def test_picwish_refuses_a_missing_key(picwish: FakePicWish) -> None:
    response = await post_picwish(picwish, key="", files=IMAGE_FILE, data={"sync": "0"})
    assert (response.status_code, response.json()["status"]) == (401, 401)


async def test_picwish_refuses_neither_image_source(picwish: FakePicWish) -> None:
    response = await post_picwish(picwish, files={"sync": (None, "0")})
    assert response.status_code == 400
    assert "exactly one" in response.json()["message"]


async def test_picwish_refuses_both_image_sources(picwish: FakePicWish) -> None:
    response = await post_picwish(
        picwish, files=IMAGE_FILE, data={"sync": "0", "image_url": "https://example.invalid/a.jpg"}
    )
    assert response.status_code == 400
    assert "exactly one" in response.json()["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("class_type", "5"), ("detail_mode", "3"), ("output_type", "0"), ("quality", "9"), ("sync", "2")],
)
async def test_picwish_refuses_out_of_range_fields(picwish: FakePicWish, field: str, value: str) -> None:
    response = await post_picwish(picwish, files=IMAGE_FILE, data={"sync": "0", field: value})
    assert response.status_code == 400
    assert field in response.json()["message"]


async def test_picwish_answers_429_past_its_rate(tmp_path: Path) -> None:
    fake = await FakePicWish(qps=2).start()
    try:
        statuses = [
            (await post_picwish(fake, files=IMAGE_FILE, data={"sync": "0"})).status_code for _ in range(3)
        ]
    finally:
        await fake.stop()
    assert statuses == [200, 200, 429]


async def test_ailab_refuses_a_wrong_key_and_unknown_fields() -> None:
    fake = await FakeAILab().start()
    try:
        async with httpx.AsyncClient(base_url=fake.url) as http:
            wrong_key = await http.post(
                APPAREL_PATH,
                headers={"ailabapi-api-key": "nope"},
                files={"image": ("a.jpg", jpeg_bytes(), "image/jpeg")},
            )
            unknown = await http.post(
                APPAREL_PATH,
                headers={"ailabapi-api-key": fake.api_key},
                files={"image": ("a.jpg", jpeg_bytes(), "image/jpeg")},
                data={"returnForm": "mask"},
            )
    finally:
        await fake.stop()
    assert (wrong_key.status_code, wrong_key.json()["error_detail"]["code"]) == (
        401,
        "ERROR_APPLICATIONS_NOT_EXISTS",
    )
    assert (unknown.status_code, unknown.json()["error_detail"]["code"]) == (
        400,
        "UNSUPPORTED_PARAMETER_VALUES",
    )


async def test_a_wrong_aidge_secret_is_called_a_rejected_key_in_the_thread(tmp_path: Path) -> None:
    async with running_bot(
        tmp_path, AIDGE_APP_SECRET="not-the-right-secret", CUTOUT_ROUTES="product=aidge"
    ) as harness:
        slack = harness.slack
        event = await harness.drop_image([slack.host_file("box.jpg", jpeg_bytes())], text="product")
        (failure,) = await wait_for(lambda: slack.messages, what="the failure")
        assert failure.thread_ts == event["ts"]
        assert "Aidge rejected the API key" in failure.text
        assert "AIDGE_APP_KEY and AIDGE_APP_SECRET" in failure.text
        assert "`IncompleteSignature`" in failure.text
        assert "not-the-right-secret" not in failure.text
        assert harness.aidge.rejected == ["IncompleteSignature"]  # not retried
