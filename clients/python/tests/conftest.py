"""Unit tests of the client without a server: httpx.MockTransport plays the API."""

from __future__ import annotations

import httpx
import inloop
import pytest
from inloop_fakes import Recorder


@pytest.fixture
def make_client():
    clients = []

    def make(answer, **options) -> tuple[inloop.Inloop, Recorder, list[float]]:
        recorder = Recorder(answer)
        waits: list[float] = []
        client = inloop.Inloop(
            api_key="inl_test",
            base_url="http://inloop.test",
            transport=httpx.MockTransport(recorder),
            sleep=waits.append,
            **options,
        )
        clients.append(client)
        return client, recorder, waits

    yield make
    for client in clients:
        client.close()
