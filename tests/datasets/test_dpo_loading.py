"""A generated DPO export is what a training script reads: every line fits a strict schema
(pydantic, no extra or missing key), the file reads back with the `json` module, and Hugging Face
`datasets`' JSON loader (what TRL's DPOTrainer takes) loads it into typed columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Literal

import pytest
from django.core.files.storage import default_storage
from pydantic import BaseModel, ConfigDict, Field

from datasets import services, writer
from datasets.schemas import ExportFiltersIn
from review_requests.models import ReviewRequest
from tests.datasets.conftest import corrected_request
from tests.datasets.test_formats import comparison_content, comparison_result
from tests.factories import ReviewRequestFactory

pytestmark = pytest.mark.django_db


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    key: str
    label: str
    preference: Literal["chosen", "rejected", "tie"]


class DpoLine(BaseModel):
    """inloop.dpo.v1, as docs/contract/exports.md defines it."""

    model_config = ConfigDict(extra="forbid", strict=True)
    id: str
    prompt: str
    chosen: str = Field(min_length=1)
    rejected: str = Field(min_length=1)
    margin: float = Field(gt=0, le=1)
    criteria: list[Criterion] = Field(min_length=1)
    source: Literal["comparison", "correction"]
    chosen_id: str
    rejected_id: str
    chosen_model: str
    rejected_model: str
    review_request_id: str
    specialization: str


@pytest.fixture
def dpo_file(organization, tmp_path):
    """A DPO export over corrections and comparisons (pairwise and rank), as the worker writes
    it; the comparison results are built directly in the shape spec #18 defines."""
    for n in range(3):
        corrected_request(organization, corrected=f"Fixed answer {n}.", prompt=f"Question {n}?")
    ReviewRequestFactory(
        organization=organization,
        status=ReviewRequest.Status.COMPLETED,
        prompt="Which is better?",
        content=comparison_content("a", "b"),
        result=comparison_result(
            ["b", "a"], {"a": 0.2, "b": 0.8}, {"accuracy": (["b", "a"], {"a": 0.1, "b": 0.9})}
        ),
    )
    ReviewRequestFactory(
        organization=organization,
        status=ReviewRequest.Status.COMPLETED,
        prompt="Rank these.",
        content=comparison_content("x", "y", "z"),
        result=comparison_result(
            ["z", "x", "y"], {"x": 0.3, "y": 0.2, "z": 0.5}, {"overall": (["z", "x", "y"], {"x": 0.3, "y": 0.2, "z": 0.5})}
        ),
    )  # fmt: skip
    export = services.export_create(
        organization=organization, format="dpo", filters=ExportFiltersIn()
    )
    assert writer.export_write(export_id=export.pk) == "completed"
    export.refresh_from_db()
    path = tmp_path / "dpo.jsonl"
    with default_storage.open(export.file.name, "rb") as source:
        path.write_bytes(source.read())
    return export, path


def test_every_line_fits_the_strict_schema_and_reads_back_with_json(dpo_file):
    export, path = dpo_file
    lines = [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]
    parsed = [DpoLine.model_validate(line) for line in lines]
    assert len(parsed) == export.rows == 3 + 1 + 2
    assert {line.source for line in parsed} == {"comparison", "correction"}
    pairwise = next(line for line in parsed if line.prompt == "Which is better?")
    assert (pairwise.chosen, pairwise.rejected, pairwise.margin) == ("answer b", "answer a", 0.6)
    assert [c.model_dump() for c in pairwise.criteria] == [
        {"key": "accuracy", "label": "Accuracy", "preference": "chosen"}
    ]


LOADER = """
import json, sys
from datasets import load_dataset  # Hugging Face's: this process does not have the project on its path

table = load_dataset("json", data_files=sys.argv[1], split="train")
print(json.dumps({
    "rows": table.num_rows,
    "features": {name: repr(feature) for name, feature in table.features.items()},
    "first": table[0],
}))
"""


def test_hugging_face_datasets_loads_it_as_typed_columns(dpo_file, tmp_path):
    """In a process of its own, as a training script runs: our app is named `datasets` too, and
    on the project's path it would shadow Hugging Face's package of that name. Nothing is
    fetched (the JSON builder ships with the package; offline, with a cache of the test's own)."""
    export, path = dpo_file
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    done = subprocess.run(
        [sys.executable, "-P", "-c", LOADER, str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["rows"] == export.rows
    features = loaded["features"]
    assert set(features) == set(DpoLine.model_fields)
    for name in ("prompt", "chosen", "rejected", "source"):
        assert "string" in features[name], features[name]
    assert "float64" in features["margin"]
    assert "preference" in features["criteria"]
    assert loaded["first"]["chosen"] == "Fixed answer 0."
