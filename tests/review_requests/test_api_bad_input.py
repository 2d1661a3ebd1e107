"""Bad characters and numbers at every string position of create, batch, cancel and list: each
answers 422 (404 for an id in the path) naming the JSON path of the offending place, creates
nothing, and never reaches the database (PostgreSQL refuses NUL and lone surrogates, and jsonb
refuses infinity: unchecked, each was a 500 there). Run on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import json
import typing
import unicodedata
import uuid

import pytest
from pydantic import AfterValidator, BeforeValidator

from review_requests import schemas
from review_requests.models import IdempotencyRecord, ReviewRequest
from tests.factories import ReviewRequestFactory
from tests.review_requests.api_offers_support import api_client, body

pytestmark = pytest.mark.django_db

URL = "/api/v1/review-requests"
INFINITE = "__1e999__"  # replaced by a bare 1e999 in the raw JSON (json.dumps cannot write it)
BAD = {
    "nul": "bad\u0000text",
    "lone_surrogate": "bad\ud800text",  # json.dumps writes the escape "\ud800"
    "bell": "bad\u0007text",
    "c1_control": "bad\u0085text",
    "1e999": INFINITE,
}
OK_CHAT = {"role": "user", "content": "fine"}
OK_RUBRIC = {"key": "accuracy", "label": "Accuracy"}

# (name, body builder, JSON path of the bad value, whether the bad value sits in a key).
POSITIONS = [
    ("title", lambda v: body(title=v), "title"),
    ("specialization", lambda v: body(specialization=v), "specialization"),
    ("text body", lambda v: body(content={"type": "text", "body": v}), "content.body"),
    ("markdown body", lambda v: body(content={"type": "markdown", "body": v}), "content.body"),
    (
        "code language",
        lambda v: body(content={"type": "code", "body": "x = 1", "language": v}),
        "content.language",
    ),
    (
        "chat role",
        lambda v: body(content={"type": "chat", "body": [OK_CHAT, {"role": v, "content": "x"}]}),
        "content.body[1].role",
    ),
    (
        "chat content",
        lambda v: body(
            content={"type": "chat", "body": [OK_CHAT, {"role": "assistant", "content": v}]}
        ),
        "content.body[1].content",
    ),
    (
        "json body string",
        lambda v: body(content={"type": "json", "body": {"a": [1, v]}}),
        "content.body.a[1]",
    ),
    ("json body itself", lambda v: body(content={"type": "json", "body": v}), "content.body"),
    ("prompt", lambda v: body(prompt=v), "prompt"),
    ("model", lambda v: body(model=v), "model"),
    ("guidelines", lambda v: body(guidelines=v), "guidelines"),
    ("rubric key", lambda v: body(rubric=[OK_RUBRIC, {"key": v, "label": "L"}]), "rubric[1].key"),
    (
        "rubric label",
        lambda v: body(rubric=[OK_RUBRIC, {"key": "clarity", "label": v}]),
        "rubric[1].label",
    ),
    ("deadline", lambda v: body(deadline=v), "deadline"),
    ("callback_url", lambda v: body(callback_url=v), "callback_url"),
    ("metadata value", lambda v: body(metadata={"a": {"b": v}}), "metadata.a.b"),
    ("metadata list item", lambda v: body(metadata={"tags": ["ok", v]}), "metadata.tags[1]"),
    ("metadata odd key", lambda v: body(metadata={"a b": {"c": v}}), 'metadata["a b"].c'),
]
# A bad key: reported at the object holding it (the key itself is not quotable).
KEY_POSITIONS = [
    ("metadata key", lambda v: body(metadata={v: 1}), "metadata"),
    ("nested metadata key", lambda v: body(metadata={"a": {v: 1}}), "metadata.a"),
    (
        "json body key",
        lambda v: body(content={"type": "json", "body": {"ok": {v: 1}}}),
        "content.body.ok",
    ),
]
NUMBERS = [
    ("max_hours", lambda v: body(max_hours=v), "max_hours"),
    ("max_hourly_rate_cents", lambda v: body(max_hourly_rate_cents=v), "max_hourly_rate_cents"),
    ("reviewers", lambda v: body(reviewers=v), "reviewers"),
    ("rubric scale", lambda v: body(rubric=[{**OK_RUBRIC, "scale": v}]), "rubric[0].scale"),
]


def _raw(data) -> str:
    return json.dumps(data).replace(f'"{INFINITE}"', "1e999")


def _cases():
    for name, build, path in POSITIONS:
        for bad in BAD:
            yield pytest.param(build, BAD[bad], path, id=f"{name}-{bad}")
    for name, build, path in KEY_POSITIONS:
        for bad in BAD:
            if bad != "1e999":  # a number cannot be a key
                yield pytest.param(build, BAD[bad], path, id=f"{name}-{bad}")
    for name, build, path in NUMBERS:
        yield pytest.param(build, INFINITE, path, id=f"{name}-1e999")


def _assert_refused(response, status: int, field: str | None) -> None:
    assert response.status_code == status, response.content
    payload = response.json()
    assert set(payload) == {"error"}
    assert set(payload["error"]) == {"code", "message", "field"}
    assert payload["error"]["field"] == field, payload
    # The message never echoes the bad text back.
    assert not any(c in payload["error"]["message"] for c in "\x00\x07\x85\ud800")
    assert ReviewRequest.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0


@pytest.mark.parametrize(("build", "bad", "path"), list(_cases()))
def test_a_bad_value_in_create_is_422_naming_its_path(api_key, build, bad, path):
    response = api_client(api_key).post(
        URL, data=_raw(build(bad)), content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    _assert_refused(response, 422, path)


@pytest.mark.parametrize(("build", "bad", "path"), list(_cases()))
def test_a_bad_value_in_a_batch_item_is_422_naming_the_item_and_path(api_key, build, bad, path):
    data = {"requests": [body(), build(bad)]}
    response = api_client(api_key).post(
        f"{URL}/batch", data=_raw(data), content_type="application/json"
    )
    _assert_refused(response, 422, f"requests[1].{path}")


@pytest.mark.parametrize("bad", ["bad\u0000key", "bad\u0007key", "bad\nkey"])
@pytest.mark.parametrize("endpoint", [URL, f"{URL}/batch"])
def test_a_bad_idempotency_key_is_422_naming_the_header(api_key, endpoint, bad):
    data = body() if endpoint == URL else {"requests": [body()]}
    response = api_client(api_key).post(
        endpoint, data=json.dumps(data), content_type="application/json", HTTP_IDEMPOTENCY_KEY=bad
    )
    _assert_refused(response, 422, "Idempotency-Key")


@pytest.mark.parametrize("review_request_id", ["a%00b", "%ED%A0%80", "1e999", "%07", "x" * 300])
def test_a_bad_id_in_the_cancel_path_is_404(api_key, review_request_id):
    response = api_client(api_key).post(f"{URL}/{review_request_id}/cancel")
    _assert_refused(response, 404, None)


def _cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


PK = str(uuid.uuid4())


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param(_cursor(["0001-01-01T00:00:00+14:00", PK]), id="before-year-1-in-utc"),
        pytest.param(_cursor(["9999-12-31T23:59:59-14:00", PK]), id="after-year-9999-in-utc"),
        pytest.param(_cursor(["2026-01-01T00:00:00+00:00", 5]), id="id-not-a-string"),
        pytest.param(_cursor([5, PK]), id="time-not-a-string"),
        pytest.param(_cursor(["2026-01-01T00:00:00"]), id="one-item"),
        pytest.param(_cursor({"a": 1}), id="an-object"),
        pytest.param(_cursor(["2026-01-01T00:00:00", PK]), id="naive-time"),
        pytest.param("bad\u0000cursor", id="nul"),
        pytest.param("%%%", id="not-base64"),
    ],
)
def test_a_cursor_that_is_not_one_we_returned_is_422_naming_it(api_key, organization, cursor):
    ReviewRequestFactory(organization=organization)
    response = api_client(api_key).get(URL, {"cursor": cursor})
    assert response.status_code == 422, response.content
    assert response.json()["error"]["field"] == "cursor"


@pytest.mark.parametrize("status", ["\u0000", "queued\u0007"])
def test_a_bad_status_filter_is_422_naming_it(api_key, status):
    response = api_client(api_key).get(URL, {"status": status})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "status"


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"title": "two\nlines"}, "title"),
        ({"title": "tab\there"}, "title"),
        ({"model": "line\r\nbreak"}, "model"),
        ({"rubric": [{"key": "k", "label": "a\nb"}]}, "rubric[0].label"),
    ],
)
def test_single_line_fields_refuse_line_breaks_and_tabs(api_key, overrides, path):
    response = api_client(api_key).post(
        URL, data=json.dumps(body(**overrides)), content_type="application/json"
    )
    _assert_refused(response, 422, path)


def test_text_is_stored_in_nfc_with_lf_line_ends_and_tabs_kept(api_key):
    decomposed = unicodedata.normalize("NFD", "Café Zoë")
    response = api_client(api_key).post(
        URL,
        data=json.dumps(
            body(
                title=decomposed,
                content={"type": "text", "body": f"{decomposed}\r\nline two\rthree\tcol"},
                guidelines="a\r\nb",
                metadata={decomposed: [decomposed]},
            )
        ),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    stored = ReviewRequest.objects.get()
    assert stored.title == "Café Zoë" != decomposed
    assert stored.content["body"] == "Café Zoë\nline two\nthree\tcol"
    assert stored.guidelines == "a\nb"
    assert stored.metadata == {"Café Zoë": ["Café Zoë"]}
    assert response.json()["title"] == "Café Zoë"


def test_two_metadata_keys_equal_once_normalised_are_refused(api_key):
    nfc = "é"
    nfd = unicodedata.normalize("NFD", nfc)
    raw = '{"a": {"' + nfc + '": 1, "' + nfd + '": 2}}'
    data = json.dumps(body(metadata="__M__")).replace('"__M__"', raw)
    response = api_client(api_key).post(URL, data=data, content_type="application/json")
    _assert_refused(response, 422, "metadata.a")


def test_length_limits_count_what_was_sent_as_the_document_says(api_key):
    # 200 "e" + combining acute: 400 code points sent (JSON Schema's maxLength counts those),
    # 200 characters once in NFC. The document says at most 200: refused.
    title = unicodedata.normalize("NFD", "é" * 200)
    assert len(title) == 400
    response = api_client(api_key).post(
        URL, data=json.dumps(body(title=title)), content_type="application/json"
    )
    _assert_refused(response, 422, "title")


def test_a_title_that_nfc_would_lengthen_is_refused(api_key):
    # U+0958 is a composition exclusion: its NFC is two code points, so 150 of them would
    # become 300 and overflow the 200-character column.
    title = "\u0958" * 150
    assert len(unicodedata.normalize("NFC", title)) == 300
    response = api_client(api_key).post(
        URL, data=json.dumps(body(title=title)), content_type="application/json"
    )
    _assert_refused(response, 422, "title")


def test_deeply_nested_json_is_refused_without_a_500(api_key):
    deep = "[" * 5000 + "]" * 5000
    data = json.dumps(body(content={"type": "json", "body": "__D__"})).replace('"__D__"', deep)
    response = api_client(api_key).post(URL, data=data, content_type="application/json")
    _assert_refused(response, 400, None)


# Every string of every input goes through marketplace.schema_types -------------------------


def _bare_strings(annotation, where: str) -> list[str]:
    """Places in a type where `str` appears without the normalising validator."""
    origin = typing.get_origin(annotation)
    if annotation is str:
        return [where]
    if origin is typing.Annotated:
        inner, *extras = typing.get_args(annotation)
        normalised = any(
            isinstance(extra, BeforeValidator | AfterValidator)
            and extra.func.__module__ == "marketplace.schema_types"
            for extra in extras
        )
        return [] if normalised else _bare_strings(inner, where)
    if isinstance(annotation, type) and issubclass(annotation, schemas.BaseModel):
        found = []
        for name, hint in typing.get_type_hints(annotation, include_extras=True).items():
            if name in annotation.model_fields:
                found += _bare_strings(hint, f"{annotation.__name__}.{name}")
        return found
    return [p for arg in typing.get_args(annotation) for p in _bare_strings(arg, where)]


def test_every_input_string_is_normalised():
    from inloop_site.api import api  # noqa: F401 - mounts the routers (review_requests.api)
    from review_requests import api as review_requests_api

    endpoints = [
        review_requests_api.review_request_create,
        review_requests_api.review_request_batch,
        review_requests_api.review_request_list,
    ]
    bare = [schemas.ChatMessageIn]  # validated by hand inside ContentIn
    found = []
    for endpoint in endpoints:
        hints = typing.get_type_hints(endpoint, include_extras=True)
        for name, hint in hints.items():
            if name not in ("request", "return"):
                found += _bare_strings(hint, f"{endpoint.__name__}({name})")
    for model in bare:
        found += _bare_strings(model, model.__name__)
    assert found == []
