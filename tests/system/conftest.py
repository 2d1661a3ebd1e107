"""System tests: the real processes of the `Procfile`, talked to only over HTTP and WebSocket.

The `system` fixture starts every process of the Procfile (daphne, `db_worker`, the scheduler,
and whatever else the Procfile names) as subprocesses, each in its own process group, on a
fresh database: a SQLite file by default, or a PostgreSQL database of its own when the pytest
run has `DATABASE_URL` (with `REDIS_URL` under a key prefix of its own when set). It migrates,
loads the demo data (`seed_demo --json`), waits for `/healthz`, and stops the processes by
process group at the end. Every port in the Procfile is written `${NAME:-default}` with `NAME`
ending in `PORT`; each such variable gets a free port here, so instances run side by side.

Tests use httpx and the `websockets` library, as a customer's code does, never the Django test
client: CSRF, process boundaries and the channel layer are those of the running product.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PORT_VARIABLE = re.compile(r"\$\{(\w*PORT):-(\d+)\}")
STARTUP_SECONDS = 90


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.system)
            # A module's tests share its instance, so they stay on one xdist worker; modules
            # spread over the workers (each starts its processes once).
            item.add_marker(pytest.mark.xdist_group(f"system-{Path(str(item.fspath)).stem}"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile(path: Path = ROOT / "Procfile") -> dict[str, str]:
    """name -> command of each Procfile line."""
    entries = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def _postgres_url_for(label: str) -> str | None:
    """A database of its own on the run's PostgreSQL server, created empty, named after the
    run's database (`<db>_sys_<label>`) so it stays inside the names the run may use."""
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        return None
    parts = urlsplit(base)
    name = f"{parts.path.lstrip('/') or 'inloop'}_sys_{label}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def _drop_postgres(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


# Migrating and seeding took most of an instance's start (over a minute each on a loaded 2-core
# machine, and the suite starts about thirty): each pytest process does it once per distinct
# `extra_env` into a template, then gives every instance a copy of it (SQLite's backup API, or
# PostgreSQL's CREATE DATABASE ... TEMPLATE), so each still starts on a database of its own.
_TEMPLATES: dict[str, tuple[str, dict]] = {}
_TEMPLATE_DIR: Path | None = None


def _template_for(env: dict[str, str], extra_env: dict[str, str]) -> tuple[str, dict]:
    """(the template: a SQLite path or a PostgreSQL URL, the seed's JSON) for this extra_env."""
    global _TEMPLATE_DIR
    key = hashlib.sha256(json.dumps(sorted(extra_env.items())).encode()).hexdigest()[:10]
    if key in _TEMPLATES:
        return _TEMPLATES[key]
    template_env = dict(env)
    if env.get("DATABASE_URL"):
        label = f"tpl_{os.getpid()}_{key}"
        location = _postgres_url_for(label)
        template_env["DATABASE_URL"] = location
        atexit.register(_drop_quietly, location)
    else:
        if _TEMPLATE_DIR is None:
            _TEMPLATE_DIR = Path(tempfile.mkdtemp(prefix="inloop-system-templates-"))
            atexit.register(shutil.rmtree, _TEMPLATE_DIR, True)
        location = str(_TEMPLATE_DIR / f"{key}.sqlite3")
        template_env["SQLITE_PATH"] = location
    _manage(template_env, "migrate", "--noinput", timeout=600)
    _manage(template_env, "createcachetable")
    seed = json.loads(_manage(template_env, "seed_demo", "--json", timeout=600))
    _TEMPLATES[key] = (location, seed)
    return _TEMPLATES[key]


def _drop_quietly(url: str) -> None:
    with contextlib.suppress(Exception):
        _drop_postgres(url)


def _copy_database(template: str, env: dict[str, str]) -> None:
    """The instance's own database (named in `env`), a copy of the template."""
    if env.get("DATABASE_URL"):
        import psycopg

        parts = urlsplit(env["DATABASE_URL"])
        admin = urlunsplit(parts._replace(path="/postgres"))
        name = parts.path.lstrip("/")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{urlsplit(template).path[1:]}"')
        return
    with sqlite3.connect(template) as source, sqlite3.connect(env["SQLITE_PATH"]) as copy:
        source.backup(copy)
    source.close()
    copy.close()


def _base_env(workdir: Path, label: str) -> dict[str, str]:
    """The environment of every process: the settings module of production, DEBUG on (so
    callback URLs to 127.0.0.1 are allowed), and a database of its own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SQLITE_PATH"}
        and not key.startswith(("PYTEST_", "STRIPE_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="inloop_site.settings",
        DEBUG="1",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    database_url = _postgres_url_for(label)
    if database_url:
        env["DATABASE_URL"] = database_url
    else:
        env["SQLITE_PATH"] = str(workdir / "system.sqlite3")
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
        env["REDIS_PREFIX"] = f"sys-{label}"
    return env


@dataclass
class System:
    """The running processes of one instance, and ways to talk to them as a customer would."""

    urls: list[str]
    env: dict[str, str]
    seed: dict
    workdir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.urls[0]

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    def ws_urls(self) -> list[str]:
        return ["ws" + url.removeprefix("http") for url in self.urls]

    def manage(self, *args: str, timeout: float = 300) -> str:
        """A management command against the same database (and channel layer)."""
        return _manage(self.env, *args, timeout=timeout)

    def api(self, key: str | None = None, *, url: str | None = None, **kwargs) -> httpx.Client:
        """An API client as a pipeline has one: a bearer key (the seeded company's by default)."""
        key = self.seed["company"]["api_key"] if key is None else key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=url or self.url, headers=headers, timeout=30, **kwargs)

    def login(self, email: str, password: str, *, url: str | None = None) -> httpx.Client:
        """A browser-like session: allauth's login form over HTTP, with its CSRF token."""
        client = httpx.Client(base_url=url or self.url, timeout=30, follow_redirects=False)
        client.get("/accounts/login/").raise_for_status()
        response = client.post(
            "/accounts/login/",
            data={"login": email, "password": password},
            headers=self.csrf_headers(client),
        )
        if response.status_code != 302 or "sessionid" not in client.cookies:
            raise AssertionError(
                f"login of {email} failed: {response.status_code} {response.text[:500]}"
            )
        return client

    def csrf_headers(self, client: httpx.Client) -> dict[str, str]:
        """What a page's script sends with an unsafe request: the token and a same-site origin."""
        return {"X-CSRFToken": client.cookies.get("csrftoken", ""), "Origin": str(client.base_url)}

    def ws_headers(self, client: httpx.Client | None = None) -> list[tuple[str, str]]:
        """Headers for `websockets.connect(..., additional_headers=...)`: the session cookie of
        `client` (none: anonymous) and the Origin that AllowedHostsOriginValidator checks."""
        headers = [("Origin", self.url)]
        if client is not None:
            cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
            headers.append(("Cookie", cookie))
        return headers

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{self.log(name)[-3000:]}" for name in self.processes)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal one process's whole group (SIGKILL by default: a crash, no cleanup)."""
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait(timeout=10)

    def wait_until(self, check: Callable[[], object], *, timeout: float = 20, what: str = ""):
        """Poll `check` until it returns something truthy; fail with the processes' logs."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or check}\n{self.logs()}")
            time.sleep(0.1)


def _manage(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def _expand_ports(command: str, env: dict[str, str]) -> str:
    """Give every `${..PORT:-n}` of a Procfile line the port already chosen for it."""
    for name, _default in PORT_VARIABLE.findall(command):
        env.setdefault(name, str(free_port()))
    return command


def _start(system: System, name: str, command: str, env: dict[str, str]) -> None:
    log = (system.workdir / f"{name}.log").open("w")
    process = subprocess.Popen(
        ["/bin/bash", "-c", f"exec {command}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped as a whole
    )
    log.close()
    system.processes[name] = process


def _wait_healthy(system: System, url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    last = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            response = httpx.get(url + "/healthz", timeout=5)
            if response.status_code == 200:
                return
            last = response.text[:500]
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise RuntimeError(f"{url}/healthz never answered 200 ({last})\n{system.logs()}")


def _stop(system: System) -> None:
    for process in system.processes.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for process in system.processes.values():
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextlib.contextmanager
def run_system(
    workdir: Path, *, counts: dict[str, int] | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[System]:
    """Start the Procfile's processes (`counts` says how many of each; default one each)."""
    label = uuid.uuid4().hex[:10]
    env = _base_env(workdir, label)
    web_ports = [free_port() for _ in range((counts or {}).get("web", 1))]
    # Links in emails (verification, invitations) point at the first daphne.
    env["SITE_URL"] = f"http://127.0.0.1:{web_ports[0]}"
    env.update(extra_env or {})
    system = System(urls=[], env=env, seed={}, workdir=workdir)
    try:
        # Generous timeouts (in _template_for): on a loaded 2-core machine seeding took 180 s.
        template, seed = _template_for(env, extra_env or {})
        _copy_database(template, env)
        system.seed = json.loads(json.dumps(seed))  # a test may change its copy
        # Ports of the shared services (anything but web's PORT) are chosen once for all.
        for command in procfile().values():
            for name, _default in PORT_VARIABLE.findall(command):
                if name != "WEB_PORT":
                    env.setdefault(name, str(free_port()))
        for name, command in procfile().items():
            for index in range(1, (counts or {}).get(name, 1) + 1):
                process_env = dict(env)
                if "${WEB_PORT" in command:
                    process_env["WEB_PORT"] = str(web_ports.pop(0) if web_ports else free_port())
                    system.urls.append(f"http://127.0.0.1:{process_env['WEB_PORT']}")
                _start(system, f"{name}.{index}", _expand_ports(command, process_env), process_env)
        webs = [process for name, process in system.processes.items() if name.startswith("web.")]
        for url, process in zip(system.urls, webs, strict=True):
            _wait_healthy(system, url, process)
        yield system
    finally:
        _stop(system)
        if env.get("DATABASE_URL"):
            with contextlib.suppress(Exception):
                _drop_postgres(env["DATABASE_URL"])


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> Iterator[System]:
    """One running instance of the product per test module (one of each Procfile process)."""
    with run_system(tmp_path_factory.mktemp("system")) as instance:
        yield instance


@pytest.fixture
def system_factory(tmp_path_factory) -> Iterator[Callable[..., System]]:
    """`system_factory(web=2, worker=2, extra_env={...})`: an instance with several of some
    processes (scale-out tests); stopped at the end of the test."""
    with contextlib.ExitStack() as stack:

        def make(*, extra_env: dict[str, str] | None = None, **counts: int) -> System:
            workdir = tmp_path_factory.mktemp("system-scaled")
            return stack.enter_context(run_system(workdir, counts=counts, extra_env=extra_env))

        yield make


@dataclass
class Receiver:
    """A local HTTP server that records every request and answers 200."""

    url: str
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    condition: threading.Condition = field(default_factory=threading.Condition)

    def wait(self, count: int = 1, *, timeout: float = 20) -> list[tuple[dict[str, str], bytes]]:
        with self.condition:
            if not self.condition.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} requests received, wanted {count}")
            return list(self.requests)


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.condition:
                receiver.requests.append((dict(self.headers.items()), body))
                receiver.condition.notify_all()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def artifacts() -> Path:
    """Where system and browser tests write screenshots (ignored by git, kept by CI)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
