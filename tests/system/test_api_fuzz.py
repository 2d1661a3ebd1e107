"""schemathesis against the running product: every operation of /api/v1/openapi.json, every
check (`--checks all`), every phase (examples, coverage, fuzzing, stateful through the document's
links), with the seeded company's API key. The run must find no 5xx, no status the document does
not declare, no response that breaks its schema or content type, nothing invalid accepted.

Two kinds of finding are expected and named below: `negative_data_rejection` (ST201) on an
invalid body over 1 MiB, which is refused with 413 for its size (a rejection, missing from the
check's list of rejection statuses); and `positive_data_acceptance` (ST202) reports a
request that fits the JSON Schema but is refused with 422 by a rule JSON Schema cannot state
(a deadline in the future, a cursor this API issued, a specialization that exists, rubric keys
unique, metadata under 16 KiB, a body that matches its content type). Each is accepted only as
a 422 with the envelope naming one of those fields; anything else fails the test.

Bounded in time for a 2-core machine (FUZZ_MAX_SECONDS, default 150 s of generation)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
MAX_SECONDS = int(os.environ.get("FUZZ_MAX_SECONDS", "150"))
# Rules checked by the server that the OpenAPI document cannot express (see the docstring).
RULES_BEYOND_JSON_SCHEMA = {
    "deadline",  # must be in the future
    "cursor",  # must be a next_cursor this API returned
    "specialization",  # must exist in the taxonomy
    "rubric",  # keys unique
    "metadata",  # at most 16 KiB as compact JSON
    "content.body",  # a string for text/markdown/code (non-blank), a list for chat
    "content.language",  # only for code
    "title",  # not blank
    "from",  # on or before `to`, at most 366 days apart
    "filters.completed_before",  # later than completed_after
    "filters.specialization",  # must exist in the taxonomy
    "rules",  # audit_rate only with outcome sample; no review parameters for auto_approve
}
# What every text field refuses (marketplace/textnorm.py, API.md's text rules): a JSON Schema
# string cannot say "no control characters, no lone surrogates, in NFC" without a pattern on
# every field, so a generated string with one is refused beyond the document, on any field.
TEXT_REFUSAL = re.compile(
    r": (contains (a NUL character|a lone surrogate|a line break or tab|a control character)"
    r"|grows in Unicode NFC)"
)
CASE = re.compile(r"^\d+\. Test Case ID: ", re.MULTILINE)
ITEM = re.compile(r"^- (ST\d+) ([^\n]+)$", re.MULTILINE)
BODY = re.compile(r"^\[(\d{3})\][^\n]*\n\n\s+`(\{.*?\})`$", re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def fuzzed_system(tmp_path_factory):
    from tests.system.conftest import run_system

    # The fuzzer sends thousands of requests a minute: the rate limit would answer most of them
    # 429 (declared, so not a failure, but nothing behind it would be tested).
    extra = {"API_RATE_LIMIT_PER_MINUTE": "1000000"}
    with run_system(tmp_path_factory.mktemp("fuzz"), extra_env=extra) as instance:
        yield instance


def _findings(junit: Path) -> list[tuple[str, str, str]]:
    """(operation, check code, the failure's text) for every failure and error reported."""
    found = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        for outcome in [*case.iter("failure"), *case.iter("error")]:
            # One failure element lists every unique test case of the operation: "1. Test
            # Case ID: ...", "2. Test Case ID: ...", each with its check and response.
            for text in CASE.split(outcome.text or ""):
                if not text.strip():
                    continue
                codes = ITEM.findall(text) or [(outcome.tag, outcome.get("message", ""))]
                for code, _title in codes:
                    found.append((case.get("name"), code, text))
    return found


def _expected(code: str, text: str) -> bool:
    responses = BODY.findall(text)
    if not responses:
        return False
    if code == "ST201":
        # "Invalid data accepted", where the answer was 413: a generated body over 1 MiB is
        # refused for its size before its content is read, which is a rejection (the check's
        # own list of rejection statuses simply lacks 413).
        return all(status == "413" for status, _ in responses)
    if code != "ST202":
        return False
    for status, body in responses:
        error = json.loads(body)["error"]
        field = (error.get("field") or "").split("].", 1)[-1]
        if status == "422" and TEXT_REFUSAL.search(error.get("message", "")):
            continue
        if status != "422" or field.split("[")[0] not in RULES_BEYOND_JSON_SCHEMA:
            return False
    return True


def test_schemathesis_finds_no_server_error_and_no_undocumented_response(fuzzed_system, tmp_path):
    system = fuzzed_system
    report = tmp_path / "junit.xml"
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{system.url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {system.seed['company']['api_key']}",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        str(MAX_SECONDS),
        "--workers",
        "1",
        "--seed",
        "1",
        "--request-timeout",
        "20",
        "--continue-on-failure",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "SCHEMATHESIS_TELEMETRY": "false",
        "SCHEMATHESIS_HOOKS": "tests.system.fuzz_hooks",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=MAX_SECONDS + 300,
        check=False,
        env=env,
        cwd=tmp_path,  # its .schemathesis cache stays out of the checkout
    )
    assert report.exists(), result.stdout[-5000:] + result.stderr[-5000:]
    unexpected = [
        (operation, code, text[:3000])
        for operation, code, text in _findings(report)
        if not _expected(code, text)
    ]
    assert unexpected == [], result.stdout[-20000:]
    assert "Test cases:" in result.stdout  # it ran to its summary
