"""The PicWish client against httpx.MockTransport: create, task id first, polling, masks, failures."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import pytest

from bot.domain.failures import ErrorKind, VendorRejected, VendorTimeout
from bot.domain.grammar import parse_spec
from bot.engines.base import PARTS_ROLE, ImageURL
from bot.engines.vendors.http import VendorHTTP
from bot.engines.vendors.picwish import TASKS_PATH, PicWishClient, create_fields
from bot.engines.vendors.retry import RetryPolicy
from bot.imaging.prepare import PreparedImage
from tests.multipart import parse_multipart
from tests.paths import DATA

KEY = "picwish-unit-key"
FAST = RetryPolicy(attempts=3, base_delay_s=0.001, max_delay_s=0.01)
FAKE_JPEG = DATA / "uploads" / "fake.jpg"
IMAGE = PreparedImage(FAKE_JPEG, FAKE_JPEG.stat().st_size, "look.jpg", "image/jpeg", (600, 800), (600, 800))


class Recorder:
    def __init__(self) -> None:
        self.task_ids: list[str] = []
        self.percents: list[int | None] = []

    async def submitted(self, vendor_task_id: str) -> None:
        self.task_ids.append(vendor_task_id)

    async def progressed(self, percent: int | None) -> None:
        self.percents.append(percent)


def client_with(
    handler: Callable[[httpx.Request], httpx.Response], *, deadline: float = 5.0, **settings: int
) -> PicWishClient:
    http = httpx.AsyncClient(base_url="https://picwish.test", transport=httpx.MockTransport(handler))
    vendor_http = VendorHTTP(
        http, vendor="PicWish", key_var="PICWISH_API_KEY", retry=FAST, allow_private_urls=True
    )
    return PicWishClient(vendor_http, KEY, poll_interval_s=0.001, poll_deadline_s=deadline, **settings)


def answer(data: dict, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"status": status, "message": "success", "data": data})


def scripted(states: list[dict]) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return answer({"task_id": "t-1"})
        return answer({"task_id": "t-1", **states.pop(0)})

    return handler, seen


@pytest.mark.parametrize(
    ("words", "fields"),
    [
        ("segment", {"sync": "0", "class_type": "1", "detail_mode": "1", "output_type": "1", "quality": "1"}),
        (
            "segment fashion ultra hq",
            {"sync": "0", "class_type": "2", "detail_mode": "2", "output_type": "1", "quality": "2"},
        ),
        (
            "segment person parts",
            {"sync": "0", "class_type": "3", "detail_mode": "1", "output_type": "3", "quality": "1"},
        ),
        (
            "segment all cutouts",
            {"sync": "0", "class_type": "4", "detail_mode": "1", "output_type": "1", "quality": "1"},
        ),
    ],
)
def test_create_fields_follow_the_spec(words: str, fields: dict[str, str]) -> None:
    assert create_fields(parse_spec(words)) == fields


async def test_creates_reports_the_task_id_then_polls_until_done() -> None:
    mask = base64.b64encode(b"\x89PNG mask").decode()
    handler, seen = scripted(
        [
            {"state": 0, "progress": 0},
            {"state": 2, "progress": 10},
            {"state": 4, "progress": 60},
            {
                "state": 1,
                "progress": 100,
                "class_masks": {"tops": "https://oss.test/tops.png", "acc": "", "bottoms": mask},
            },
        ]
    )
    recorder = Recorder()
    parts = await client_with(handler).cut(IMAGE, parse_spec("segment"), recorder)
    create, *polls = seen
    assert create.method == "POST"
    assert create.url.path == TASKS_PATH
    assert create.headers["X-API-KEY"] == KEY
    form = parse_multipart(create.headers["content-type"], create.content)
    assert form["image_file"].data == IMAGE.read()
    assert "image_url" not in form
    assert [p.url.path for p in polls] == [f"{TASKS_PATH}/t-1"] * 4
    assert all(p.headers["X-API-KEY"] == KEY for p in polls)
    assert recorder.task_ids == ["t-1"]
    assert recorder.percents == [0, 10, 60]
    assert {(p.role, p.url, p.content) for p in parts} == {
        ("tops", "https://oss.test/tops.png", None),
        ("bottoms", None, b"\x89PNG mask"),
    }


async def test_url_image_is_sent_as_image_url() -> None:
    handler, seen = scripted([{"state": 1, "class_masks": {"clothes": "https://oss.test/c.png"}}])
    await client_with(handler).cut(ImageURL("https://cdn.test/look.jpg"), parse_spec("segment"), Recorder())
    form = parse_multipart(seen[0].headers["content-type"], seen[0].content)
    assert form["image_url"].text == "https://cdn.test/look.jpg"
    assert "image_file" not in form


async def test_parts_adds_the_zip_of_subdivided_masks() -> None:
    handler, _ = scripted(
        [
            {
                "state": 1,
                "class_masks": {"clothes": "https://oss.test/c.png"},
                "clothes_masks": "https://oss.test/m.zip",
            }
        ]
    )
    parts = await client_with(handler).cut(IMAGE, parse_spec("segment parts"), Recorder())
    assert (PARTS_ROLE, "https://oss.test/m.zip") in {(p.role, p.url) for p in parts}


async def test_resume_polls_without_creating_again() -> None:
    handler, seen = scripted(
        [{"state": 4}, {"state": 1, "class_masks": {"clothes": "https://oss.test/c.png"}}]
    )
    await client_with(handler).resume("t-1", parse_spec("segment"), Recorder())
    assert [r.method for r in seen] == ["GET", "GET"]


@pytest.mark.parametrize(
    ("state", "kind"),
    [
        (-7, ErrorKind.UNSUPPORTED_IMAGE),
        (-5, ErrorKind.IMAGE_TOO_LARGE),
        (-10, ErrorKind.CONTENT_REFUSED),
        (-8, ErrorKind.VENDOR_DOWN),
        (-99, ErrorKind.UNKNOWN),
    ],
)
async def test_negative_state_fails_the_task_with_its_code(state: int, kind: ErrorKind) -> None:
    handler, seen = scripted([{"state": 2}, {"state": state}])
    with pytest.raises(VendorRejected) as caught:
        await client_with(handler).cut(IMAGE, parse_spec("segment"), Recorder())
    assert (caught.value.code, caught.value.kind) == (f"STATE_{state}", kind)
    assert len(seen) == 3  # create, two polls: a failed task is not created again


async def test_polling_stops_at_the_deadline() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return answer({"task_id": "t-1"} if request.method == "POST" else {"state": 4})

    with pytest.raises(VendorTimeout) as caught:
        await client_with(handler, deadline=0.05).cut(IMAGE, parse_spec("segment"), Recorder())
    assert "not done within" in caught.value.user_text()


async def test_429_is_retried_and_401_is_a_rejected_key() -> None:
    answers = [
        httpx.Response(429, json={"status": 429, "message": "Too Many Requests"}),
        answer({"task_id": "t-9"}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    client = client_with(handler)
    assert await client.create(IMAGE, parse_spec("segment")) == "t-9"

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"status": 401, "message": "Unauthorized"})

    with pytest.raises(VendorRejected) as caught:
        await client_with(refuse).create(IMAGE, parse_spec("segment"))
    assert caught.value.kind is ErrorKind.KEY_REJECTED
    assert "PICWISH_API_KEY" in caught.value.user_text()


async def test_body_status_must_be_200_too() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": 400, "message": "class_type out of range"})

    with pytest.raises(VendorRejected) as caught:
        await client_with(handler).create(IMAGE, parse_spec("segment"))
    assert caught.value.code == "HTTP_400"
    assert "class_type out of range" in caught.value.user_text()


async def test_a_status_too_large_for_a_number_is_an_error_of_the_answer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:  # Python's json reads 1e999 as infinity
        return httpx.Response(
            200, content=b'{"status": 1e999, "data": {}}', headers={"content-type": "application/json"}
        )

    with pytest.raises(VendorRejected) as caught:  # not an OverflowError from int(inf)
        await client_with(handler).create(IMAGE, parse_spec("segment"))
    assert caught.value.code == "HTTP_200"


async def test_unknown_task_after_an_hour_is_explained() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"status": 404, "message": ""})

    with pytest.raises(VendorRejected) as caught:
        await client_with(handler).resume("old", parse_spec("segment"), Recorder())
    assert "kept for one hour" in caught.value.user_text()


async def test_more_masks_than_the_bot_takes_are_refused_before_any_is_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.engines.vendors import picwish

    masks = {f"class{n}": base64.b64encode(b"\x89PNG mask").decode() for n in range(500)}
    handler, _ = scripted([{"state": 1, "class_masks": masks}])
    decoded: list[str] = []
    monkeypatch.setattr(picwish.base64, "b64decode", lambda *a, **k: decoded.append("x") or b"")
    with pytest.raises(VendorRejected) as caught:
        await client_with(handler).cut(IMAGE, parse_spec("segment all"), Recorder())
    assert caught.value.code == "TOO_MANY_MASKS"
    assert "PicWish sent 500 masks; the bot takes at most 32" in caught.value.user_text()
    assert decoded == []


async def test_as_many_masks_as_the_cap_are_taken() -> None:
    masks = {f"class{n}": f"https://oss.test/{n}.png" for n in range(32)}
    handler, _ = scripted([{"state": 1, "class_masks": masks}])
    parts = await client_with(handler).cut(IMAGE, parse_spec("segment all"), Recorder())
    assert len(parts) == 32


async def test_masks_and_the_parts_zip_count_together() -> None:
    masks = {f"class{n}": f"https://oss.test/{n}.png" for n in range(32)}
    handler, _ = scripted([{"state": 1, "class_masks": masks, "clothes_masks": "https://oss.test/m.zip"}])
    with pytest.raises(VendorRejected) as caught:
        await client_with(handler).cut(IMAGE, parse_spec("segment all parts"), Recorder())
    assert "PicWish sent 32 masks; the bot takes at most 31" in caught.value.user_text()


async def test_a_base64_mask_over_the_byte_cap_is_refused() -> None:
    small = base64.b64encode(bytes(2_000)).decode()
    large = base64.b64encode(bytes(6_000)).decode()
    handler, _ = scripted([{"state": 1, "class_masks": {"tops": small}}])
    client = client_with(handler, max_inline_result_bytes=3_000)
    parts = await client.cut(IMAGE, parse_spec("segment"), Recorder())
    assert parts[0].content == bytes(2_000)
    handler, _ = scripted([{"state": 1, "class_masks": {"tops": small, "coat": large}}])
    with pytest.raises(VendorRejected) as caught:
        await client_with(handler, max_inline_result_bytes=3_000).cut(
            IMAGE, parse_spec("segment"), Recorder()
        )
    assert caught.value.code == "MASK_TOO_LARGE"
    assert "the coat mask" in caught.value.user_text()
