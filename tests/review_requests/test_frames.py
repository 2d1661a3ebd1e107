"""The workspace's client frames as pydantic models (review_requests.frames): each refusal keeps
the code, message and field the protocol has always sent, and each accepted frame parses to the
values the services store."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from review_requests import frames
from review_requests.frames import WorkspaceError, frame_parse
from tests.factories import AssignmentFactory, CreditGrantFactory, ReviewRequestFactory
from tests.review_requests.workspace_support import join, receive_until


def _create(**fields) -> dict:
    return {"type": "annotation.create", "client_id": "c1", "start": 0, "end": 3, **fields}


SEVERITY_MESSAGE = "severity must be one of info, minor, major, critical."
VERDICT_MESSAGE = "verdict must be one of approved, rejected, corrected."

# (frame, code, message, field)
REFUSED = [
    # Unknown and missing types.
    ({"type": "dance"}, "unknown_type", "Unknown frame type 'dance'.", None),
    ({"no": "type"}, "unknown_type", "Unknown frame type 'None'.", None),
    ({"type": None}, "unknown_type", "Unknown frame type 'None'.", None),
    ({"type": 5}, "unknown_type", "Unknown frame type '5'.", None),
    ({"type": ["heartbeat"]}, "unknown_type", "Unknown frame type \"['heartbeat']\".", None),
    ({"type": "x" * 100}, "unknown_type", f"Unknown frame type {'x' * 40!r}.", None),
    ({"type": "Heartbeat"}, "unknown_type", "Unknown frame type 'Heartbeat'.", None),
    # annotation.create: whole numbers.
    (_create(start="0"), "invalid", "start must be a whole number.", "start"),
    (_create(start=True), "invalid", "start must be a whole number.", "start"),
    (_create(start=1.0), "invalid", "start must be a whole number.", "start"),
    (_create(start=float("inf")), "invalid", "start must be a whole number.", "start"),
    (_create(start=None), "invalid", "start must be a whole number.", "start"),
    (_create(end=[3]), "invalid", "end must be a whole number.", "end"),
    ({"type": "annotation.create", "end": 3}, "invalid", "start must be a whole number.", "start"),
    ({"type": "annotation.create", "start": 0}, "invalid", "end must be a whole number.", "end"),
    # annotation.create: text.
    (_create(client_id=5), "invalid", "client_id must be text.", "client_id"),
    (
        _create(client_id="x" * 65),
        "invalid",
        "client_id is longer than 64 characters.",
        "client_id",
    ),
    (
        _create(client_id="c\n1"),
        "invalid",
        "client_id contains a line break or tab, which this single-line field does not allow.",
        "client_id",
    ),
    (
        _create(client_id="c\u0000"),
        "invalid",
        "client_id contains a NUL character (\\u0000).",
        "client_id",
    ),
    (_create(comment=["a"]), "invalid", "comment must be text.", "comment"),
    (
        _create(comment="a\u0000b"),
        "invalid",
        "comment contains a NUL character (\\u0000).",
        "comment",
    ),
    (
        _create(comment="\udfff"),
        "invalid",
        "comment contains a lone surrogate (an unpaired \\ud800-\\udfff escape), which is not "
        "text.",
        "comment",
    ),
    (
        _create(comment="bell\u0007"),
        "invalid",
        "comment contains a control character (U+0007).",
        "comment",
    ),
    (
        _create(comment="x" * 4001),
        "invalid",
        "comment is longer than 4000 characters.",
        "comment",
    ),
    # annotation.create: severity.
    (_create(severity="fatal"), "invalid", SEVERITY_MESSAGE, "severity"),
    (_create(severity=None), "invalid", SEVERITY_MESSAGE, "severity"),
    (_create(severity="INFO"), "invalid", SEVERITY_MESSAGE, "severity"),
    (_create(severity=2), "invalid", SEVERITY_MESSAGE, "severity"),
    # The first wrong field, in the contract's order, is the one named.
    (_create(start="0", severity="fatal"), "invalid", "start must be a whole number.", "start"),
    # annotation.update.
    ({"type": "annotation.update", "id": "a"}, "invalid", "Change comment or severity.", "comment"),
    (
        {"type": "annotation.update", "id": "a", "comment": 5},
        "invalid",
        "comment must be text.",
        "comment",
    ),
    (
        {"type": "annotation.update", "id": "a", "severity": "fatal"},
        "invalid",
        SEVERITY_MESSAGE,
        "severity",
    ),
    # draft.update.
    (
        {"type": "draft.update"},
        "invalid",
        "Send at least one of verdict, corrected_output, summary, scores.",
        None,
    ),
    (
        {"type": "draft.update", "ref": "r1"},
        "invalid",
        "Send at least one of verdict, corrected_output, summary, scores.",
        None,
    ),
    ({"type": "draft.update", "verdict": "maybe"}, "invalid", VERDICT_MESSAGE, "verdict"),
    ({"type": "draft.update", "verdict": 1}, "invalid", VERDICT_MESSAGE, "verdict"),
    ({"type": "draft.update", "summary": 5}, "invalid", "summary must be text.", "summary"),
    (
        {"type": "draft.update", "summary": "s\u0000"},
        "invalid",
        "summary contains a NUL character (\\u0000).",
        "summary",
    ),
    (
        {"type": "draft.update", "summary": "x" * 20_001},
        "invalid",
        "summary is longer than 20000 characters.",
        "summary",
    ),
    (
        {"type": "draft.update", "corrected_output": "x" * 60_001},
        "invalid",
        "corrected_output is longer than 60000 characters.",
        "corrected_output",
    ),
    (
        {"type": "draft.update", "corrected_output": {"a": 1}},
        "invalid",
        "corrected_output must be text.",
        "corrected_output",
    ),
    ({"type": "draft.update", "scores": [1]}, "invalid", "scores must be an object.", "scores"),
    ({"type": "draft.update", "scores": None}, "invalid", "scores must be an object.", "scores"),
    ({"type": "draft.update", "scores": "4"}, "invalid", "scores must be an object.", "scores"),
    # chat.message.
    ({"type": "chat.message"}, "invalid", "body must be text.", "body"),
    ({"type": "chat.message", "body": None}, "invalid", "body must be text.", "body"),
    ({"type": "chat.message", "body": 42}, "invalid", "body must be text.", "body"),
    ({"type": "chat.message", "body": ""}, "invalid", "body cannot be empty.", "body"),
    ({"type": "chat.message", "body": " \n\t "}, "invalid", "body cannot be empty.", "body"),
    (
        {"type": "chat.message", "body": "x" * 4001},
        "invalid",
        "body is longer than 4000 characters.",
        "body",
    ),
    (
        {"type": "chat.message", "body": "hi\u0000there"},
        "invalid",
        "body contains a NUL character (\\u0000).",
        "body",
    ),
    (
        {"type": "chat.message", "body": "\u009b"},
        "invalid",
        "body contains a control character (U+009B).",
        "body",
    ),
]


@pytest.mark.parametrize(("frame", "code", "message", "field"), REFUSED)
def test_a_refused_frame_says_what_the_protocol_says(frame, code, message, field):
    with pytest.raises(WorkspaceError) as refused:
        frame_parse(frame)
    assert (refused.value.code, refused.value.message, refused.value.field) == (
        code,
        message,
        field,
    )


# (frame, the fields the service is given)
ACCEPTED = [
    ({"type": "heartbeat"}, {}),
    ({"type": "heartbeat", "ref": "r1", "extra": [1]}, {}),
    ({"type": "submit"}, {}),
    (_create(), {"client_id": "c1", "start": 0, "end": 3}),
    # Left out or null, client_id and comment are empty; severity defaults to info.
    ({"type": "annotation.create", "start": 1, "end": 2}, {"start": 1, "end": 2}),
    (_create(client_id=None, comment=None), {"client_id": "", "start": 0, "end": 3, "comment": ""}),
    (
        _create(severity="critical"),
        {"client_id": "c1", "start": 0, "end": 3, "severity": "critical"},
    ),
    ({"type": "annotation.update", "id": "a", "severity": "major"}, {"severity": "major"}),
    ({"type": "annotation.update", "id": "a", "comment": None}, {"comment": ""}),
    ({"type": "draft.update", "verdict": None}, {"verdict": None}),
    ({"type": "draft.update", "verdict": "corrected"}, {"verdict": "corrected"}),
    ({"type": "draft.update", "summary": None}, {"summary": ""}),
    ({"type": "draft.update", "scores": {"accuracy": 4}}, {"scores": {"accuracy": 4}}),
    ({"type": "draft.update", "scores": {}}, {"scores": {}}),
    (
        {"type": "draft.update", "corrected_output": "a\r\nb", "summary": "ok"},
        {"corrected_output": "a\nb", "summary": "ok"},
    ),
    # Text in NFC with LF line ends, tabs kept.
    ({"type": "chat.message", "body": "Zoe\u0308\r\nline\ttab"}, {"body": "Zoë\nline\ttab"}),
    ({"type": "chat.message", "body": "x" * 4000}, {"body": "x" * 4000}),
]


@pytest.mark.parametrize(("frame", "fields"), ACCEPTED)
def test_an_accepted_frame_gives_the_values_the_client_sent(frame, fields):
    parsed = frame_parse(frame)
    assert parsed.type == frame["type"]
    assert {name: getattr(parsed, name) for name in fields} == fields
    if frame["type"] in ("annotation.update", "draft.update"):
        assert parsed.changes() == fields


def test_severity_and_verdict_come_out_as_plain_strings():
    parsed = frame_parse(_create(severity="major"))
    assert type(parsed.severity) is str
    assert type(frame_parse(_create()).severity) is str
    assert type(frame_parse({"type": "draft.update", "verdict": "approved"}).verdict) is str


def test_every_frame_type_of_the_contract_has_a_model():
    assert {
        "heartbeat",
        "annotation.create",
        "annotation.update",
        "annotation.delete",
        "draft.update",
        "chat.message",
        "submit",
    } == frames.FRAME_TYPES


def test_an_annotation_id_is_passed_on_for_the_lookup_to_judge():
    # Any id that matches no annotation, malformed included, is the service's not_found.
    for annotation_id in ("nope", 42, None, {"a": 1}):
        assert frame_parse({"type": "annotation.delete", "id": annotation_id}).id == annotation_id


# Over the socket: the order of the checks -------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_watcher_sending_an_experts_frame_with_bad_fields_is_forbidden_not_invalid(
    organization, expert, company_member
):
    def setup():
        CreditGrantFactory(organization=organization)
        return AssignmentFactory(
            review_request=ReviewRequestFactory(organization=organization, in_review=True),
            expert__user=expert,
        )

    assignment = await database_sync_to_async(setup)()
    comm, _ = await join(assignment.pk, company_member)
    try:
        for frame in (
            _create(start="0", client_id="x1"),
            {"type": "draft.update"},
            {"type": "chat.message", "body": "", "ref": "r2"},
            {"type": "dance", "ref": "r3"},
        ):
            await comm.send_json_to(frame)
            error = await receive_until(comm, "error")
            expected = {
                "annotation.create": ("forbidden", None),
                "draft.update": ("forbidden", None),
                "chat.message": ("invalid", "body"),
                "dance": ("unknown_type", None),
            }[frame["type"]]
            assert (error["code"], error.get("field")) == expected, error
            for echoed in ("client_id", "ref"):
                if echoed in frame:
                    assert error[echoed] == frame[echoed]
    finally:
        await comm.disconnect()
