"""The embedded Valkey of the default setup (`manage.py run_valkey`, the Procfile's `valkey`):
it serves on VALKEY_PORT, stops its server when it is stopped, and refuses a taken port by
saying who holds it. Real processes: it is the server the Procfile's processes share."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from marketplace.management.commands.run_valkey import _port_taken_message

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(DJANGO_SETTINGS_MODULE="inloop_site.settings", DEBUG="1", VALKEY_PORT=str(port))
    return env


def _start(port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_valkey"],
        cwd=ROOT,
        env=_env(port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _ping(port: int) -> bool:
    try:
        return redis.Redis(port=port, socket_connect_timeout=0.5).ping()
    except (redis.RedisError, OSError):
        return False


def _wait(condition, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def running_valkey():
    port = _free_port()
    process = _start(port)
    try:
        assert _wait(lambda: _ping(port)), process.communicate(timeout=5)[0]
        yield port, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_it_serves_on_valkey_port_and_stops_its_server_on_sigterm(running_valkey):
    port, process = running_valkey
    os.kill(process.pid, signal.SIGTERM)  # this process alone, not its group
    assert process.wait(timeout=20) == 0
    assert _wait(lambda: not _ping(port), timeout=10), "valkey-server outlived its command"


def test_a_taken_port_is_refused_naming_the_server_that_holds_it(running_valkey):
    port, holder = running_valkey
    second = _start(port)
    output, _ = second.communicate(timeout=60)
    assert second.returncode == 1
    assert f"Port {port} is held by a Redis/Valkey server, pid" in output
    assert re.search(r"kill \d+", output)
    assert _ping(port) and holder.poll() is None  # the first one is left alone


def test_a_port_taken_by_something_else_says_so():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = _port_taken_message(port, OSError(f"Port {port} is already in use"))
    assert "does not answer as Redis" in message
    assert "VALKEY_PORT" in message


def test_without_redis_url_the_processes_connect_to_the_procfiles_valkey_port():
    procfile = (ROOT / "Procfile").read_text()
    line = re.search(r"^valkey: .*run_valkey --port \$\{VALKEY_PORT:-(\d+)\}$", procfile, re.M)
    assert line, procfile
    env = _env(0)
    del env["VALKEY_PORT"]
    for port, expected in ((None, line.group(1)), ("8123", "8123")):
        if port:
            env["VALKEY_PORT"] = port
        printed = subprocess.run(
            [sys.executable, "-c", "import django; django.setup(); from django.conf import "
             "settings; print(settings.REDIS_URL, settings.CHANNEL_LAYERS['default']['BACKEND'])"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        assert printed == [
            f"redis://127.0.0.1:{expected}/0",
            "channels_redis.pubsub.RedisPubSubChannelLayer",
        ]
