"""The completed request's result view shows the AI output as it reads: markdown rendered as
sanitized HTML, chat as its turns, each with the annotations marked once, in place (their
offsets are into the annotated text, workspace_selectors.text_of); marks that cannot be placed
in the rendering without changing it leave the output as plain text, still marked."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.rendering import markdown_to_safe_html, markdown_to_safe_html_marked
from review_requests.company_selectors import annotated_output
from review_requests.results import consensus
from review_requests.workspace import _review_dict
from review_requests.workspace_selectors import text_of
from tests.conftest import login_client
from tests.factories import AssignmentFactory, ReviewFactory, ReviewRequestFactory

MARKDOWN = (
    "# Dosage\n\n"
    "Give **500 mg** of paracetamol every 2 hours.\n\n"
    "- Never with alcohol\n"
    "- Up to <script>alert(1)</script> 8 tablets a day\n\n"
    "See [the leaflet](javascript:alert(1)).\n"
)
CHAT = [
    {"role": "user", "content": "How much paracetamol can I take?"},
    {"role": "assistant", "content": "Up to 8 tablets a day,\nevery 2 hours."},
]


def _annotation(text: str, quote: str, comment: str, severity: str = "major") -> dict:
    start = text.index(quote)
    return {
        "start": start,
        "end": start + len(quote),
        "quote": quote,
        "comment": comment,
        "severity": severity,
    }


def _marks(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<mark [^>]*data-annotation="(\d+)"[^>]*>(.*?)</mark>', html)


# The renderer ----------------------------------------------------------------------------------


def test_markdown_is_rendered_sanitized_with_each_annotation_marked_in_place():
    content = {"type": "markdown", "body": MARKDOWN}
    annotations = [
        _annotation(MARKDOWN, "every 2 hours", "Every 4 to 6 hours", "critical"),
        _annotation(MARKDOWN, "Never with alcohol", "Fine", "info"),
        _annotation(MARKDOWN, "# Dosage", "Heading ok", "minor"),
    ]
    view = annotated_output(content, annotations)
    assert view.kind == "markdown"
    html = str(view.html)
    assert "<h1>" in html and "<strong>500 mg</strong>" in html and "<li>" in html
    assert "<script>" not in html and 'href="javascript:' not in html
    # The segments are numbered in annotation order; every one is marked, once.
    marks = _marks(html)
    assert ("1", "every 2 hours") in marks
    assert ("2", "Never with alcohol") in marks
    assert ("3", "Dosage") in marks  # the heading's text, not its "# "
    assert sorted({number for number, _ in marks}) == ["1", "2", "3"]
    assert 'class="sev-critical" title="Every 4 to 6 hours"' in html
    # Without the marks, it is exactly the ordinary rendering.
    stripped = re.sub(r"<mark [^>]*>|</mark>", "", html)
    assert stripped == markdown_to_safe_html(MARKDOWN)


def test_a_mark_across_elements_is_one_mark_per_text_piece_and_stays_well_formed():
    text = "Give **500 mg** now.\n\nThen rest."
    start, end = text.index("500"), text.index("Then") + 4
    html = markdown_to_safe_html_marked(text, [(start, end, ' class="sev-major"')])
    assert html == (
        '<p>Give <strong><mark data-span="0" class="sev-major">500 mg</mark></strong>'
        '<mark data-span="0" class="sev-major"> now.</mark></p>\n'
        '<p><mark data-span="0" class="sev-major">Then</mark> rest.</p>\n'
    )


def test_a_mark_that_would_change_the_rendering_gives_none():
    text = "A **bold** word."
    inside_syntax = text.index("**") + 1  # between the two asterisks
    assert markdown_to_safe_html_marked(text, [(inside_syntax, inside_syntax + 5, "")]) is None


def test_markdown_whose_marks_cannot_be_placed_is_shown_as_marked_text():
    body = "A **bold** word."
    start = body.index("**") + 1  # between the two asterisks: a mark there would undo the bold
    view = annotated_output(
        {"type": "markdown", "body": body},
        [{"start": start, "end": start + 5, "comment": "x", "severity": "minor", "quote": "*bold"}],
    )
    assert view.kind == "text"
    assert [s.text for s in view.segments] == ["A *", "*bold", "** word."]


def test_a_mark_inside_emphasis_keeps_the_emphasis():
    view = annotated_output(
        {"type": "markdown", "body": "Use *care* here."},
        [{"start": 5, "end": 8, "comment": "x", "severity": "minor", "quote": "car"}],
    )
    assert view.kind == "markdown"
    assert "<em><mark" in view.html and ">car</mark>e</em>" in view.html


SAFE_TEXT = st.text(alphabet=st.sampled_from(list("ab *_#-1.>`[]()\n&;|\\")), max_size=60)


@settings(max_examples=300, deadline=None)
@given(text=SAFE_TEXT, data=st.data())
def test_marks_never_change_the_rendering(text, data):
    """Whatever the markdown and wherever the spans fall: either None, or marks around text
    whose removal gives the plain rendering back exactly."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6, unique=True)))
    spans = [
        (a, b, f' class="m{i}"')
        for i, (a, b) in enumerate(zip(cuts[::2], cuts[1::2], strict=False))
    ]
    html = markdown_to_safe_html_marked(text, spans)
    if html is not None:
        assert re.sub(r'<mark data-span="\d+"[^>]*>|</mark>', "", html) == markdown_to_safe_html(
            text
        )


def test_chat_is_its_turns_with_marks_in_the_turn_they_fall_in():
    content = {"type": "chat", "body": CHAT}
    text = text_of(content)
    annotations = [
        _annotation(text, "8 tablets a day,\nevery", "Too many", "critical"),
        _annotation(text, "user", "Who asks", "info"),
    ]
    view = annotated_output(content, annotations)
    assert view.kind == "chat"
    assert [turn.role for turn in view.turns] == ["user", "assistant"]
    user, assistant = view.turns
    assert [(s.text, s.number) for s in user.role_segments] == [("user", 2)]
    assert "".join(s.text for s in user.segments) == CHAT[0]["content"]
    assert [(s.text, s.number) for s in assistant.segments if s.severity] == [
        ("8 tablets a day,\nevery", 1)
    ]
    assert "".join(s.text for s in assistant.segments) == CHAT[1]["content"]


# The page --------------------------------------------------------------------------------------


def _completed(organization, content: dict, annotations: list[dict]):
    rr = ReviewRequestFactory(organization=organization, status="completed", content=content)
    assignment = AssignmentFactory(review_request=rr, held=False, status="submitted")
    review = ReviewFactory(
        assignment=assignment,
        verdict="approved",
        corrected_output="",
        summary="Mostly right.",
        scores={},
        annotations=annotations,
    )
    rr.result = consensus([_review_dict(review)])
    rr.save()
    return rr


def _output_html(page: str) -> str:
    start = page.index('id="rr-output-text"')
    return page[start : page.index("<h3>Annotations", start)]


@pytest.mark.django_db
def test_the_page_shows_markdown_rendered_with_its_marks_once(company_member, organization):
    annotation = _annotation(MARKDOWN, "every 2 hours", "Every 4 to 6 hours", "critical")
    rr = _completed(organization, {"type": "markdown", "body": MARKDOWN}, [annotation])
    page = login_client(company_member).get(f"/company/requests/{rr.pk}/").content.decode()
    output = _output_html(page)
    assert "<strong>500 mg</strong>" in output and "<h1>" in output
    assert "<script>alert" not in page and 'href="javascript:' not in page
    assert page.count('data-annotation="1"') == 1
    assert _marks(output) == [("1", "every 2 hours")]
    assert page.count('id="annotation-1"') == 1
    # The diffs' base, the text the reviewer annotated, rides on the element (not shown).
    assert 'data-source="# Dosage' in output
    assert page.count("Give **500 mg**") == 1


@pytest.mark.django_db
def test_the_page_shows_chat_as_turns_with_its_marks_once(company_member, organization):
    content = {"type": "chat", "body": CHAT}
    annotation = _annotation(text_of(content), "8 tablets a day", "Too many", "critical")
    rr = _completed(organization, content, [annotation])
    page = login_client(company_member).get(f"/company/requests/{rr.pk}/").content.decode()
    output = _output_html(page)
    assert output.count('<li class="chat__msg') == 2
    assert (
        '<li class="chat__msg chat__msg--mine"><span class="chat__meta">assistant</span>' in output
    )
    assert _marks(output) == [("1", "8 tablets a day")]
    assert "user: How much" not in output.split("data-source=")[1].split(">", 1)[1]
