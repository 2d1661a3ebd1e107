"""The running processes answer as the contract says, over real HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import json

import websockets

from tests.system.flows import request_body


def test_healthz_reports_every_dependency_up(system):
    with system.api(key="") as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_a_request_created_over_http_is_read_back_through_the_api(system):
    with system.api() as client:
        created = client.post("/api/v1/review-requests", json=request_body())
        assert created.status_code == 201, created.text
        fetched = client.get(f"/api/v1/review-requests/{created.json()['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["title"] == "Check a contract clause"
    assert fetched.json()["specialization"] == "law.contracts"


def test_a_wrong_key_on_a_read_answers_401_with_the_envelope(system):
    with system.api(key="inl_not-a-key") as client:
        response = client.get("/api/v1/review-requests")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "field"}


def test_an_anonymous_socket_is_refused_at_the_handshake(system):
    async def connect():
        async with websockets.connect(
            system.ws_url + "/ws/notifications/", additional_headers=system.ws_headers()
        ):
            pass

    try:
        asyncio.run(connect())
    except websockets.InvalidStatus as refused:
        assert refused.response.status_code == 403
    else:
        raise AssertionError("an anonymous socket was accepted")


def test_a_logged_in_expert_holds_a_notification_socket_over_a_real_login(system):
    expert = system.seed["experts"][0]
    client = system.login(expert["email"], expert["password"])

    async def connect():
        async with websockets.connect(
            system.ws_url + "/ws/notifications/", additional_headers=system.ws_headers(client)
        ) as socket:
            await socket.send(json.dumps({"type": "ping"}))
            return json.loads(await asyncio.wait_for(socket.recv(), 10))

    # The socket only sends: a frame from the client answers an error and keeps it open.
    assert asyncio.run(connect())["code"] == "read_only"
    client.close()
