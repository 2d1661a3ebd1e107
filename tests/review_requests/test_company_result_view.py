"""The company's result view (request detail page, server side): verdict in words, the summary as
prose, scores in rubric order with their scale, the corrected output without inserted blank lines,
and the AI output shown once with the annotations marked in it; one section per reviewer plus
the consensus when there are several."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from review_requests.results import consensus
from review_requests.workspace import _review_dict
from tests.conftest import login_client
from tests.factories import AssignmentFactory, ReviewFactory, ReviewRequestFactory

pytestmark = pytest.mark.django_db

AI_OUTPUT = "Findings: no fracture of the left radius.\r\nNo dislocation.\r\nNo cast needed."
CORRECTED = (
    "Findings: a hairline fracture of the left radius.\nNo dislocation.\nA cast for six weeks."
)
RUBRIC = [
    {"key": "safety", "label": "Patient safety", "scale": 5},
    {"key": "accuracy", "label": "Accuracy", "scale": 5},
    {"key": "clarity", "label": "Clarity", "scale": 3},
]
MONOSPACE_TAGS = {"pre", "code", "samp", "kbd", "tt"}
MONOSPACE_CLASSES = {"mono", "output", "diff", "corrected"}


class Page(HTMLParser):
    """The page's text (script and style content kept: a copy in a JSON script counts) and, for
    every piece of text, the open elements around it."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict]] = []
        self.just_opened: str | None = None
        self.pieces: list[tuple[str, list[tuple[str, dict]]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.just_opened = tag
        if tag not in self.VOID:
            self.stack.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        self.just_opened = None
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break

    def handle_data(self, data):
        if self.just_opened in ("pre", "textarea") and data.startswith("\n"):
            data = data[1:]  # as a browser's HTML parser does
        self.just_opened = None
        self.pieces.append((data, list(self.stack)))

    @property
    def text(self) -> str:
        return "".join(data for data, _ in self.pieces)

    def around(self, needle: str) -> list[list[tuple[str, dict]]]:
        return [stack for data, stack in self.pieces if needle in data]

    def element_text(self, **attrs) -> list[str]:
        """The text inside each element that has all of `attrs` (value None: present)."""
        found: dict[int, list[str]] = {}
        for data, stack in self.pieces:
            for _, element in stack:
                if all(
                    name in element and (value is None or element[name] == value)
                    for name, value in attrs.items()
                ):
                    found.setdefault(id(element), []).append(data)
                    break
        return ["".join(parts) for parts in found.values()]


def _complete(organization, reviews: list[dict], **request):
    rr = ReviewRequestFactory(
        organization=organization,
        status="completed",
        rubric=RUBRIC,
        content={"type": "text", "body": AI_OUTPUT},
        **request,
    )
    rows = []
    for number, review in enumerate(reviews, start=1):
        assignment = AssignmentFactory(
            review_request=rr,
            held=False,
            status="submitted",
            billed_seconds=600,
            expert__display_name=f"Reviewer{number}",
        )
        rows.append(ReviewFactory(assignment=assignment, **review))
    rr.result = consensus([_review_dict(row) for row in rows])
    rr.save()
    return rr


def _page(company_member, rr) -> tuple[str, Page]:
    response = login_client(company_member).get(f"/company/requests/{rr.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    return html, Page(html)


ONE_REVIEW = {
    "verdict": "corrected",
    "corrected_output": CORRECTED,
    "summary": "Missed a **hairline fracture**; the rest is right.",
    "scores": {"accuracy": 2, "clarity": 3, "safety": 1},
    "annotations": [
        {"start": 10, "end": 21, "quote": "no fracture", "comment": "Wrong", "severity": "major"}
    ],
}


def test_the_ai_output_is_shown_once_with_the_annotation_in_place(company_member, organization):
    html, page = _page(company_member, _complete(organization, [ONE_REVIEW]))
    normalized = AI_OUTPUT.replace("\r\n", "\n")
    assert page.text.replace("\r\n", "\n").count(normalized) == 1
    assert page.text.count("No cast needed.") == 1
    assert '<mark class="sev-major" title="Wrong" data-annotation="1">no fracture</mark>' in html
    listed = page.element_text(id="annotation-1")
    assert len(listed) == 1 and "Wrong" in listed[0] and "no fracture" in listed[0]
    assert 'id="rr-original-text"' not in html  # no hidden JSON copy of it either


def test_the_ai_output_without_annotations_is_shown_once(company_member, organization):
    review = {**ONE_REVIEW, "annotations": []}
    html, _ = _page(company_member, _complete(organization, [review]))
    assert html.count("No cast needed.") == 1
    assert "No annotations." in html


def test_the_summary_is_prose_rendered_from_markdown(company_member, organization):
    html, page = _page(company_member, _complete(organization, [ONE_REVIEW]))
    stacks = page.around("hairline fracture")
    assert stacks, "summary not on the page"
    summary_stacks = [s for s in stacks if any(el.get("data-field") == "summary" for _, el in s)]
    assert len(summary_stacks) == 1
    for tag, element in summary_stacks[0]:
        assert tag not in MONOSPACE_TAGS
        assert not MONOSPACE_CLASSES & set((element.get("class") or "").split())
    assert summary_stacks[0][-1][0] == "strong"  # the markdown is rendered, not shown raw
    assert "**hairline" not in html


def test_scores_are_in_rubric_order_with_label_and_scale(company_member, organization):
    _, page = _page(company_member, _complete(organization, [ONE_REVIEW]))
    scores = page.element_text(**{"data-field": "scores"})
    assert len(scores) == 1
    rows = re.findall(r"([A-Z][a-z ]+?)\s*(\d+(?:\.\d+)?) / (\d+)", scores[0])
    assert rows == [("Patient safety", "1", "5"), ("Accuracy", "2", "5"), ("Clarity", "3", "3")]


def test_the_corrected_output_keeps_its_lines_without_blank_lines(company_member, organization):
    _, page = _page(company_member, _complete(organization, [ONE_REVIEW]))
    plain = page.element_text(**{"data-corrected": None})
    assert len(plain) == 1
    assert plain[0].split("\n") == CORRECTED.split("\n")
    assert "\n\n" not in plain[0] and "\r" not in plain[0]
    assert page.element_text(**{"data-field": "verdict"}) == ["Corrected"]


def test_several_reviewers_get_one_section_each_and_the_consensus(company_member, organization):
    second = {
        **ONE_REVIEW,
        "verdict": "approved",
        "corrected_output": None,
        "summary": "Looks right to me.",
        "scores": {"accuracy": 4, "clarity": 2, "safety": 4},
        "annotations": [
            {"start": 0, "end": 8, "quote": "Findings", "comment": "Fine", "severity": "info"}
        ],
    }
    rr = _complete(organization, [ONE_REVIEW, second], reviewers=2)
    html, page = _page(company_member, rr)
    sections = re.findall(r"<section [^>]*data-result-section", html)
    assert len(sections) == 3
    titles = re.findall(r'<h3 id="(?:consensus|review-[0-9a-f-]+)-h">([^<]+)</h3>', html)
    assert titles[0] == "Consensus"
    assert len(titles) == 3
    assert [t.split()[:3] for t in titles[1:]] == [
        ["Review", "by", "Reviewer1"],
        ["Review", "by", "Reviewer2"],
    ]
    verdicts = page.element_text(**{"data-field": "verdict"})
    assert sorted(verdicts) == ["Approved", "Corrected", "Corrected"]  # tie: the stricter wins
    scores = page.element_text(**{"data-field": "scores"})
    assert len(scores) == 3
    assert all(s.index("Patient safety") < s.index("Accuracy") < s.index("Clarity") for s in scores)
    assert "Accuracy3 / 5" in scores[0]  # the consensus is the mean
    # The AI output still once, both reviewers' annotations marked in it and listed.
    assert page.text.count("No cast needed.") == 1
    assert len(page.element_text(id="annotation-1")) == 1
    assert len(page.element_text(id="annotation-2")) == 1
