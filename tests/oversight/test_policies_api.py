"""The oversight policies API: create (version 1), read with versions, change (a new version,
never an edit), set the default (one per organization); by API key or by an owner or admin in a
browser; every change in the audit log; bad input refused with the error envelope, changing
nothing; another organization's policies are a 404."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from marketplace.models import AuditLog
from oversight import services
from oversight.models import Policy, PolicyVersion
from oversight.selectors import policy_default_for_organization, policy_get_for_organization
from tests.conftest import login_client
from tests.review_requests.api_offers_support import api_client, post_json

pytestmark = pytest.mark.django_db

URL = "/api/v1/oversight-policies"
RULES = [
    {"name": "doubtful", "when": {"confidence_lt": 0.7}, "outcome": "review"},
    {"name": "confident", "when": {"confidence_gte": 0.95}, "outcome": "auto_approve"},
    {"name": "the rest", "outcome": "sample", "audit_rate": 0.1},
]


def put_json(client, path, data):
    return client.put(path, data=json.dumps(data), content_type="application/json")


def _error(response) -> dict:
    assert set(response.json()) == {"error"}
    return response.json()["error"]


def test_create_read_change_and_list(api_key, organization):
    client = api_client(api_key)
    created = post_json(client, URL, {"name": "triage", "rules": RULES, "note": "first"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["version"], body["is_default"]) == ("triage", 1, False)
    assert [rule["name"] for rule in body["rules"]] == ["doubtful", "confident", "the rest"]
    assert body["rules"][2]["audit_rate"] == 0.1
    assert body["versions"][0]["note"] == "first"

    changed = put_json(client, f"{URL}/triage", {"rules": RULES[1:], "note": "no doubt"})
    assert changed.status_code == 200, changed.content
    assert changed.json()["version"] == 2
    assert [v["number"] for v in changed.json()["versions"]] == [2, 1]
    # Version 1 is kept as it was.
    assert len(changed.json()["versions"][1]["rules"]) == 3

    listed = client.get(URL).json()["data"]
    assert [(p["name"], p["version"]) for p in listed] == [("triage", 2)]
    assert client.get(f"{URL}/triage").json()["version"] == 2


def test_set_default_keeps_one_default_per_organization(api_key, organization):
    client = api_client(api_key)
    post_json(client, URL, {"name": "a", "rules": RULES, "is_default": True})
    post_json(client, URL, {"name": "b", "rules": RULES})
    assert policy_default_for_organization(organization=organization).name == "a"
    response = post_json(client, f"{URL}/b/default", {})
    assert response.status_code == 200 and response.json()["is_default"] is True
    assert policy_default_for_organization(organization=organization).name == "b"
    assert Policy.objects.filter(organization=organization, is_default=True).count() == 1
    assert client.get(f"{URL}/a").json()["is_default"] is False


def test_every_change_is_in_the_audit_log(api_key, organization):
    client = api_client(api_key)
    post_json(client, URL, {"name": "triage", "rules": RULES})
    put_json(client, f"{URL}/triage", {"rules": RULES[:1]})
    post_json(client, f"{URL}/triage/default", {})
    entries = AuditLog.objects.filter(organization=organization, object_type="oversight_policy")
    actions = list(entries.order_by("id").values_list("action", flat=True))
    assert actions == [
        "oversight_policy.created",
        "oversight_policy.version_added",
        "oversight_policy.default_set",
    ]
    added = entries.get(action="oversight_policy.version_added")
    assert added.after["version"] == 2 and added.after["rules"][0]["name"] == "doubtful"
    assert "api_key" in added.after


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        ({"name": "Bad Name", "rules": RULES}, "name", "pattern"),
        ({"name": "x", "rules": []}, "rules", "at least 1"),
        ({"name": "x", "rules": [{"name": "a", "outcome": "nope"}]}, "rules[0].outcome", ""),
        (
            {
                "name": "x",
                "rules": [{"name": "a", "outcome": "review", "when": {"confidence_lt": 2}}],
            },
            "rules[0].when.confidence_lt",
            "less than or equal to 1",
        ),
        ({"name": "x", "rules": [RULES[0], RULES[0]]}, "rules", "appears twice"),
        ({"name": "x", "rules": RULES, "extra": 1}, "extra", ""),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(api_key, payload, field, fragment):
    response = post_json(api_client(api_key), URL, payload)
    assert response.status_code == 422, response.content
    error = _error(response)
    assert error["code"] == "validation_error"
    assert error["field"] == field
    assert fragment in error["message"]
    assert not Policy.objects.exists() and not PolicyVersion.objects.exists()


def test_a_taken_name_is_a_conflict(api_key):
    client = api_client(api_key)
    post_json(client, URL, {"name": "triage", "rules": RULES})
    response = post_json(client, URL, {"name": "triage", "rules": RULES})
    assert response.status_code == 409
    assert _error(response)["code"] == "policy_exists"
    assert PolicyVersion.objects.count() == 1


def test_another_organizations_policy_is_a_404(api_key, other_api_key):
    post_json(api_client(api_key), URL, {"name": "triage", "rules": RULES})
    other = api_client(other_api_key)
    assert other.get(f"{URL}/triage").status_code == 404
    assert put_json(other, f"{URL}/triage", {"rules": RULES}).status_code == 404
    assert post_json(other, f"{URL}/triage/default", {}).status_code == 404
    assert other.get(URL).json()["data"] == []


def test_in_a_browser_only_owners_and_admins_write(company_member, plain_member, organization):
    member = login_client(plain_member)
    response = post_json(member, URL, {"name": "triage", "rules": RULES})
    assert response.status_code == 403
    assert not Policy.objects.exists()
    owner = login_client(company_member)
    assert post_json(owner, URL, {"name": "triage", "rules": RULES}).status_code == 201
    # Members read.
    assert member.get(f"{URL}/triage").status_code == 200
    version = PolicyVersion.objects.get()
    assert version.created_by == company_member


def test_without_credentials_it_is_a_401():
    assert post_json(api_client("nope"), URL, {"name": "x", "rules": RULES}).status_code == 401


def test_settings_are_off_by_default_and_audited(api_key, organization):
    client = api_client(api_key)
    assert client.get("/api/v1/oversight-settings").json() == {"auto_approved_webhook": False}
    response = put_json(client, "/api/v1/oversight-settings", {"auto_approved_webhook": True})
    assert response.json() == {"auto_approved_webhook": True}
    assert client.get("/api/v1/oversight-settings").json() == {"auto_approved_webhook": True}
    assert AuditLog.objects.filter(action="oversight_settings.updated").count() == 1


def test_services_are_entry_points(organization):
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        services.policy_create(organization=organization, name="x", rules=RULES)
    assert policy_get_for_organization(organization=organization, name="x") is None


def test_versions_number_on_from_the_latest(organization, company_member):
    policy = services.policy_create(organization=organization, name="x", rules=RULES)
    numbers = [
        services.policy_version_add(policy=policy, rules=RULES[:n], actor=company_member).number
        for n in (1, 2, 3)
    ]
    assert numbers == [2, 3, 4]
    assert policy.current_version().number == 4
    assert len(policy.current_version().rules) == 3
