"""The OpenAPI document, and a schemathesis run against a live daphne serving the project: no
server error and no status code the schema does not document, on every operation."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


@pytest.mark.django_db
def test_openapi_document_names_every_error_response(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        ("post", "/api/v1/review-requests"): {"201", "400", "401", "409", "413", "422", "429"},
        ("get", "/api/v1/review-requests"): {"200", "401", "422", "429"},
        ("post", "/api/v1/review-requests/batch"): {"201", "400", "401", "409", "413", "422"},
        ("get", "/api/v1/review-requests/{review_request_id}"): {"200", "401", "404"},
        ("post", "/api/v1/review-requests/{review_request_id}/cancel"): {"200", "404", "409"},
        ("get", "/api/v1/me/offers"): {"200", "401", "403"},
        ("post", "/api/v1/offers/{offer_id}/accept"): {"200", "404", "409", "410"},
        ("post", "/api/v1/offers/{offer_id}/decline"): {"200", "404"},
    }
    for (method, path), statuses in expected.items():
        documented = set(paths[path][method]["responses"])
        assert statuses <= documented, (method, path, documented)
    create = paths["/api/v1/review-requests"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])


@pytest.mark.django_db
def test_docs_page_renders(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.content


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="inloop_site.settings",
        DEBUG="0",
        SECRET_KEY="schemathesis-run-secret-key-0123456789abcdefghij",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        SQLITE_PATH=str(tmp_path / "schemathesis.sqlite3"),
        API_RATE_LIMIT_PER_MINUTE="100000",
        LOG_LEVEL="ERROR",
        # No Valkey is started for the API alone: live events go nowhere (logged), and never
        # into the embedded Valkey of a `make run` on this machine.
        VALKEY_PORT=str(_free_port()),
    )
    return env


SEED = """
from marketplace import services
from marketplace.models import User
user = User.objects.create_user(email="st@example.test", password="x-Long-password-1", account_type="company")
org = services.organization_create(owner=user, name="Schemathesis")
_, raw = services.api_key_create_for_seed(organization=org, name="schemathesis")
print(raw)
"""


def test_schemathesis_finds_no_server_error_and_no_undocumented_status(tmp_path):
    cli = shutil.which("schemathesis", path=str(Path(PYTHON).parent)) or shutil.which("st")
    if cli is None:
        pytest.skip("schemathesis is not installed")
    env = _server_env(tmp_path)
    manage = [PYTHON, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "createcachetable"], env=env, check=True, cwd=ROOT)
    key = (
        subprocess.run(
            [*manage, "shell", "-c", SEED],
            env=env,
            check=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    port = _free_port()
    server = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "inloop_site.asgi:application",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        # A file, not a pipe: nobody reads daphne's log while schemathesis runs, and a full pipe
        # blocks daphne on its next log line (the run then times out).
        stderr=(tmp_path / "daphne.log").open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/v1/openapi.json", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.3)
        result = subprocess.run(
            [
                cli,
                "run",
                f"{base}/api/v1/openapi.json",
                "--checks",
                "not_a_server_error,status_code_conformance",
                "--header",
                f"Authorization: Bearer {key}",
                "--max-examples",
                "8",
                # One worker: with two threads, hypothesis' concurrent `ast` work tripped
                # CPython 3.11.7's interpreter-wide AST recursion counter ("SystemError: AST
                # constructor recursion depth mismatch") now and then under a loaded machine.
                "--workers",
                "1",
                "--phases",
                "examples,coverage,fuzzing",
                "--suppress-health-check",
                "all",
                "--request-timeout",
                "20",
            ],
            env={**env, "SCHEMATHESIS_HOOKS": ""},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
