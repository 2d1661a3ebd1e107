"""Settings for bench/workspace.py's daphne: the real settings with the Redis pool sized for the
sockets one process holds (redis-py's default of 100 connections runs out at a few hundred
sockets: MaxConnectionsError during joins, see PITFALLS.md)."""

from marketplace.env import env_int
from marketplace.settings import *  # noqa: F403
from marketplace.settings import CHANNEL_LAYERS, REDIS_URL

if REDIS_URL:
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [
        {
            "address": REDIS_URL,
            "max_connections": env_int("REDIS_MAX_CONNECTIONS", 2000, minimum=100),
        }
    ]
