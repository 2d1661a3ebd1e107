"""Websocket helpers for workspace tests: communicators with real sessions and the frames they
receive. The requests and assignments themselves come from tests/factories.py."""

from __future__ import annotations

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import AsyncClient

from inloop_site.asgi import application

ORIGIN = (b"origin", b"http://testserver")


async def session_cookie(user) -> bytes:
    client = AsyncClient()
    await client.aforce_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def communicator(
    assignment_id,
    *,
    cookie: bytes | None = None,
    origin=ORIGIN,
    after_seq: int | None = None,
    app=application,
) -> WebsocketCommunicator:
    path = f"/ws/assignments/{assignment_id}/"
    if after_seq is not None:
        path += f"?after_seq={after_seq}"
    headers = [origin] if origin else []
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(app, path, headers=headers)


async def join(assignment_id, user, **kwargs) -> tuple[WebsocketCommunicator, dict]:
    """Connected communicator and its snapshot."""
    comm = communicator(assignment_id, cookie=await session_cookie(user), **kwargs)
    connected, code = await comm.connect()
    assert connected, code
    snapshot = await comm.receive_json_from(timeout=5)
    assert snapshot["type"] == "snapshot"
    return comm, snapshot


async def receive_until(comm: WebsocketCommunicator, frame_type: str, *, timeout: float = 5):
    """The next frame of this type, skipping presence and other frames on the way."""
    while True:
        frame = await comm.receive_json_from(timeout=timeout)
        if frame["type"] == frame_type:
            return frame


async def next_event(comm: WebsocketCommunicator, *, timeout: float = 5) -> dict:
    return await receive_until(comm, "event", timeout=timeout)


async def drain(comm: WebsocketCommunicator, *, quiet: float = 0.3) -> list[dict]:
    """Every output until the socket stays quiet. (receive_output's own timeout would cancel
    the application, so waiting is done with receive_nothing.)"""
    outputs = []
    while not await comm.receive_nothing(timeout=quiet):
        outputs.append(await comm.receive_output())
    return outputs
