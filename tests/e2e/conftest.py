"""End-to-end fixtures: a real daphne (and a task worker) serving the project on a free port,
against a file SQLite database migrated and seeded for the session, and Chromium via Playwright.

Skipped with a reason when /usr/bin/chromium or the playwright package is missing (`make
e2e-deps` installs Chromium)."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    reason = None
    if not os.path.exists(CHROMIUM):
        reason = f"needs Chromium at {CHROMIUM} (make e2e-deps)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "needs the playwright package (pip install -e '.[test]')"
    for item in items:
        if "e2e" not in item.keywords:
            continue
        # One worker runs them all: one live server and one browser, not one per worker.
        item.add_marker(pytest.mark.xdist_group("e2e"))
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    db_path: Path
    seed: dict
    processes: list = field(default_factory=list)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with sqlite3.connect(self.db_path, timeout=20) as db:
            return db.execute(sql, params).fetchall()

    def wait_for(self, sql: str, params: tuple = (), *, timeout: float = 20.0) -> list[tuple]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.query(sql, params)
            if rows:
                return rows
            time.sleep(0.2)
        raise AssertionError(f"nothing for {sql!r} after {timeout} s")

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Authorization": f"Bearer {self.seed['company']['api_key']}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())


def _env(db_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="inloop_site.settings",
        DEBUG="1",
        SQLITE_PATH=str(db_path),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def _manage(env, *args) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


# Migrated and seeded once per pytest process and `extra_env` (a minute or more on a loaded
# machine, and several modules start a server of their own); each server gets a copy.
_TEMPLATES: dict[str, tuple[Path, dict]] = {}
_TEMPLATE_DIR: list[Path] = []


def _seeded_copy(db_path: Path, extra_env: dict[str, str]) -> dict:
    """Make `db_path` a copy of the template for `extra_env`; returns the seed's JSON."""
    key = hashlib.sha256(json.dumps(sorted(extra_env.items())).encode()).hexdigest()[:10]
    if key not in _TEMPLATES:
        if not _TEMPLATE_DIR:
            _TEMPLATE_DIR.append(Path(tempfile.mkdtemp(prefix="inloop-e2e-templates-")))
            atexit.register(shutil.rmtree, _TEMPLATE_DIR[0], True)
        template = _TEMPLATE_DIR[0] / f"{key}.sqlite3"
        env = {**_env(template), **extra_env}
        _manage(env, "migrate", "--noinput")
        _manage(env, "createcachetable")
        _TEMPLATES[key] = (template, json.loads(_manage(env, "seed_demo", "--json")))
    template, seed = _TEMPLATES[key]
    with sqlite3.connect(template) as source, sqlite3.connect(db_path) as copy:
        source.backup(copy)
    source.close()
    copy.close()
    return json.loads(json.dumps(seed))  # a test may change its copy


@contextlib.contextmanager
def _serve(workdir: Path, extra_env: dict[str, str] | None = None) -> Iterator[LiveServer]:
    """daphne + a db_worker on a seeded SQLite file in `workdir`; yields a LiveServer."""
    db_path = workdir / "e2e.sqlite3"
    env = _env(db_path)
    env.update(extra_env or {})
    seed = _seeded_copy(db_path, extra_env or {})
    port = _free_port()
    # The Valkey that daphne and the worker share, as in `make run` (the Procfile's `valkey`).
    env["VALKEY_PORT"] = str(_free_port())
    log = open(workdir / "daphne.log", "w")  # noqa: SIM115 - closed at teardown
    valkey = subprocess.Popen(
        [sys.executable, "manage.py", "run_valkey"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "inloop_site.asgi:application"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--interval", "0.2", "--no-reload",
         "--no-startup-delay"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = LiveServer(f"http://127.0.0.1:{port}", db_path, seed, [daphne, worker, valkey])
    try:
        # As long as tests/system waits: on a busy machine the Valkey's command, which loads
        # Django like the others, answered after the 30 s that daphne alone used to get.
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(server.url + "/healthz", timeout=10)  # Valkey too
                break
            except (urllib.error.URLError, OSError):
                exited = daphne.poll() is not None or valkey.poll() is not None
                if exited or time.monotonic() > deadline:
                    raise RuntimeError(
                        "daphne did not start: " + (workdir / "daphne.log").read_text()[-3000:]
                    ) from None
                time.sleep(0.2)
        yield server
    finally:
        for process in server.processes:
            process.terminate()
        for process in server.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


@pytest.fixture(scope="session")
def live_server_daphne(tmp_path_factory):
    """daphne + a db_worker on a seeded SQLite file, without Stripe keys; yields a LiveServer."""
    with _serve(tmp_path_factory.mktemp("e2e")) as server:
        yield server


E2E_WEBHOOK_SECRET = "whsec_e2e_funding"


@pytest.fixture(scope="session")
def live_server_stripe(tmp_path_factory, localstripe):
    """Like live_server_daphne, with card funding switched on against the local Stripe server
    (see stripe_webhooks_to_live_server for its webhooks)."""
    env = {
        "STRIPE_SECRET_KEY": localstripe.api_key,
        "STRIPE_PUBLISHABLE_KEY": "pk_test_e2e",
        "STRIPE_API_BASE": localstripe.base_url,
        "STRIPE_WEBHOOK_SECRET": E2E_WEBHOOK_SECRET,
    }
    with _serve(tmp_path_factory.mktemp("e2e-stripe"), env) as server:
        yield server


@pytest.fixture
def stripe_webhooks_to_live_server(live_server_stripe, localstripe):
    """For one test: the local Stripe signs its payment events and posts them to the live
    server's /stripe/webhook/ (not for the rest of the session: the local Stripe is shared with
    the other tests of this worker, whose events must not reach the live server)."""
    localstripe.register_webhook(
        live_server_stripe.url + "/stripe/webhook/",
        E2E_WEBHOOK_SECRET,
        events=["payment_intent.succeeded", "payment_intent.payment_failed"],
    )
    try:
        yield
    finally:
        localstripe.wait_for_webhooks()
        localstripe.clear_webhooks()


@pytest.fixture(scope="module")
def browser():
    """One Chromium per module, not per session: Playwright's sync API keeps its event loop
    marked as running in this thread while it is open, and every async test that came after it
    on the same worker would fail with "Cannot run the event loop while another loop is running"."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
