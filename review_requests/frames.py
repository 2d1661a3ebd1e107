"""The frames a client sends to the live workspace (contract/WORKSPACE.md, "Client to server"):
one pydantic model per `type`, combined in a discriminated union and parsed by one TypeAdapter.
The models check what a frame can say on its own (types, lengths, text that PostgreSQL refuses,
the listed values of severity and verdict); rules that need the database (the selection fits
the output, scores fit the rubric, the annotation exists) stay in review_requests.workspace.

A refusal is a WorkspaceError (the protocol's `error` frame) with its `code`, `message` and `field`, the messages the
protocol has always sent ("start must be a whole number.", "body is longer than 4000
characters."). Unknown fields are ignored, as before: a client may send `ref` on any frame."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from marketplace.schema_types import ERROR_TYPE as TEXT_REFUSED
from marketplace.schema_types import Line, Text
from review_requests.models import Annotation, Review

CLIENT_ID_MAX = 64
COMMENT_MAX = 4000
CHAT_MAX = 4000
SUMMARY_MAX = 20_000
CORRECTED_MAX = 60_000
RATIONALE_MAX = 10_000

Severity = Annotation.Severity
Verdict = Review.Verdict


class WorkspaceError(Exception):
    """A refused frame: `code` for programs, `message` for people, `field` when one is wrong.
    Raised here for what a frame says on its own and by the workspace's services for the rest."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def _null_is_empty(value: str | None) -> str:
    return value or ""


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "cannot be empty")
    return value


# Text a frame may leave out or send as null: both mean "" (an empty comment).
ClientId = Annotated[Line | None, Field(max_length=CLIENT_ID_MAX), AfterValidator(_null_is_empty)]
Comment = Annotated[Text | None, Field(max_length=COMMENT_MAX), AfterValidator(_null_is_empty)]
Summary = Annotated[Text | None, Field(max_length=SUMMARY_MAX), AfterValidator(_null_is_empty)]
CorrectedOutput = Annotated[
    Text | None, Field(max_length=CORRECTED_MAX), AfterValidator(_null_is_empty)
]
ChatBody = Annotated[Text, Field(max_length=CHAT_MAX), AfterValidator(_not_blank)]
CandidateId = Annotated[Line, Field(min_length=1, max_length=CLIENT_ID_MAX)]
CriterionKey = Annotated[Line, Field(min_length=1, max_length=50)]
Rationale = Annotated[Text | None, Field(max_length=RATIONALE_MAX), AfterValidator(_null_is_empty)]
Rewrite = Annotated[Text | None, Field(max_length=CORRECTED_MAX), AfterValidator(_null_is_empty)]


class _Frame(BaseModel):
    model_config = ConfigDict(
        extra="ignore", frozen=True, use_enum_values=True, validate_default=True
    )

    def changes(self) -> dict[str, Any]:
        """The fields the client sent (for frames whose fields are each optional)."""
        return {name: getattr(self, name) for name in self.model_fields_set if name != "type"}


class Heartbeat(_Frame):
    type: Literal["heartbeat"]


class AnnotationCreate(_Frame):
    type: Literal["annotation.create"]
    client_id: ClientId = ""
    # On a comparison: the candidate whose text start and end are offsets into.
    candidate: ClientId = ""
    start: StrictInt
    end: StrictInt
    comment: Comment = ""
    severity: Severity = Severity.INFO


# An annotation's id is looked up, not parsed: an id that matches none of this assignment's
# annotations, malformed ones included, is `not_found` (field "id"), as it always was.
AnnotationId = Any


class AnnotationUpdate(_Frame):
    type: Literal["annotation.update"]
    id: AnnotationId = None
    comment: Comment = ""
    severity: Severity = Severity.INFO

    @model_validator(mode="after")
    def _changes_something(self) -> AnnotationUpdate:
        if not {"comment", "severity"} & self.model_fields_set:
            raise PydanticCustomError("nothing_to_change", "Change comment or severity.")
        return self

    def changes(self) -> dict[str, Any]:
        return {k: v for k, v in super().changes().items() if k in ("comment", "severity")}


class AnnotationDelete(_Frame):
    type: Literal["annotation.delete"]
    id: AnnotationId = None


class _Choice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComparisonChoice(_Choice):
    """One criterion of a comparison draft (review_requests.comparison): pairwise `winner` and
    `strength`, or rank `ranking`; which one the request's mode takes is checked by the service.
    Either may be missing while the expert has not chosen yet."""

    winner: CandidateId | None = None
    strength: Literal[0, 1, 2] | None = None
    ranking: list[CandidateId] | None = Field(default=None, min_length=2, max_length=4)
    rationale: Rationale = ""


class ComparisonDraft(_Choice):
    criteria: dict[CriterionKey, ComparisonChoice] = Field(default_factory=dict, max_length=50)
    rewrite: Rewrite = ""


class DraftUpdate(_Frame):
    type: Literal["draft.update"]
    verdict: Verdict | None = None  # null clears the verdict
    corrected_output: CorrectedOutput = ""
    summary: Summary = ""
    # Keys and values are checked against the request's rubric (workspace.validate_scores).
    scores: dict[str, Any] = Field(default_factory=dict)
    # A comparison's choices, replaced whole (review_requests.comparison.draft_check).
    comparison: ComparisonDraft | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> DraftUpdate:
        if self.model_fields_set == {"type"}:
            raise PydanticCustomError(
                "nothing_to_change",
                "Send at least one of verdict, corrected_output, summary, scores.",
            )
        return self


class ChatMessage(_Frame):
    type: Literal["chat.message"]
    body: ChatBody


class Submit(_Frame):
    type: Literal["submit"]


ClientFrame = Annotated[
    Heartbeat
    | AnnotationCreate
    | AnnotationUpdate
    | AnnotationDelete
    | DraftUpdate
    | ChatMessage
    | Submit,
    Field(discriminator="type"),
]
MODELS: dict[str, type[_Frame]] = {
    get_args(model.model_fields["type"].annotation)[0]: model
    for model in get_args(get_args(ClientFrame)[0])
}
FRAME_TYPES = frozenset(MODELS)
_adapter: TypeAdapter[Any] = TypeAdapter(ClientFrame)

# What a field holds, for "<field> must be <it>." when the value has another type or is missing.
_EXPECTED = {
    int: "a whole number",
    str: "text",
    dict[str, Any]: "an object",
    ComparisonDraft | None: "an object",
}
_CHOICES = {"severity": Severity.values, "verdict": Verdict.values}
# A model-level rule names the field the client should look at (None: the frame as a whole).
_FRAME_FIELD = {"annotation.update": "comment", "draft.update": None}


def frame_parse(content: dict[str, Any]) -> ClientFrame:
    """The frame `content` (a decoded JSON object) as its model; raises WorkspaceError (code
    `unknown_type` or `invalid`)."""
    try:
        return _adapter.validate_python(content)
    except ValidationError as exc:
        raise _refusal(content, exc.errors(include_url=False, include_input=False)[0]) from exc


def _refusal(content: dict[str, Any], error: ErrorDetails) -> WorkspaceError:
    kind = error["type"]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        shown = str(content.get("type"))[:40]
        return WorkspaceError("unknown_type", f"Unknown frame type {shown!r}.")
    frame_type, *path = error["loc"]
    if not path:  # a rule of the whole frame (model_validator)
        return WorkspaceError("invalid", error["msg"], _FRAME_FIELD.get(str(frame_type)))
    name = str(path[0])
    if name == "comparison" and len(path) > 1:
        # Inside the comparison object: say where, as a dotted path.
        where = ".".join(str(part) for part in path)
        return WorkspaceError("invalid", f"{where}: {error['msg']}.", where)
    if kind == TEXT_REFUSED:
        message = f"{name} {error['msg']}"
    elif kind in ("string_too_long", "too_long"):
        message = f"{name} is longer than {error['ctx']['max_length']} characters."
    elif kind in ("blank", "string_too_short"):
        message = f"{name} cannot be empty."
    elif kind == "enum":
        message = f"{name} must be one of {', '.join(_CHOICES[name])}."
    else:  # missing, or a value of another type
        annotation = MODELS[str(frame_type)].model_fields[name].annotation
        message = f"{name} must be {_EXPECTED.get(annotation, 'text')}."
    return WorkspaceError("invalid", message, name)
