"""The command line without a server: reading and checking a JSONL file, the resume file, a
batch whose answer was lost, --since, configuration."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import inloop
import pytest
from inloop import cli
from inloop._config import ConfigError, load_config
from inloop_fakes import Recorder, review_request


def _write(path: Path, count: int) -> None:
    path.write_text(
        "\n".join(json.dumps({"title": f"T{n}", "content": f"body {n}"}) for n in range(count))
        + "\n"
    )


def _args(path: Path, **overrides) -> argparse.Namespace:
    values = {
        "file": str(path),
        "specialization": "law.contracts",
        "max_hours": 0.5,
        "reviewers": None,
        "callback_url": None,
        "batch_size": 100,
        "state": None,
        "no_progress": True,
    }
    values.update(overrides)
    return argparse.Namespace(**values)


class FakeServer:
    """Batches with idempotency: a key seen before replays its first answer (as the API does);
    `lose` answers of the listed call numbers are dropped after the server created them."""

    def __init__(self, lose: set[int] = frozenset()):
        self.lose = set(lose)
        self.by_key: dict[str, dict] = {}
        self.created = 0
        self.calls = 0

    def __call__(self, request: httpx.Request, n: int) -> httpx.Response:
        self.calls += 1
        key = request.headers["Idempotency-Key"]
        if key not in self.by_key:
            items = json.loads(request.content)["requests"]
            self.by_key[key] = {
                "data": [
                    review_request(self.created + i, title=x["title"]) for i, x in enumerate(items)
                ]
            }
            self.created += len(items)
        if self.calls in self.lose:
            raise httpx.ReadError("connection reset", request=request)
        return httpx.Response(201, json=self.by_key[key])


def _client(server, **options) -> inloop.Inloop:
    return inloop.Inloop(
        api_key="k",
        base_url="http://inloop.test",
        transport=httpx.MockTransport(Recorder(server)),
        sleep=lambda s: None,
        **options,
    )


def test_lines_take_the_flags_as_defaults_and_plain_string_content(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text('{"content": "Clause."}\n\n{"title": "Own", "content": "x", "max_hours": 2}\n')
    first, second = cli.read_lines(path, {"specialization": "law.contracts", "max_hours": 0.5})
    assert first.number == 1 and second.number == 3  # numbered as an editor shows them
    assert first.body == {
        "title": "items.jsonl line 1",
        "specialization": "law.contracts",
        "content": {"type": "text", "body": "Clause."},
        "max_hours": 0.5,
    }
    assert second.body["max_hours"] == 2 and second.body["title"] == "Own"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"content": "x"}\nnot json\n', "items.jsonl:2: not JSON"),
        ('["a list"]\n', "items.jsonl:1: each line must be a JSON object"),
        ('{"content": "x", "max_hour": 1}\n', "items.jsonl:1: max_hour: Extra inputs"),
        ('{"title": "no content"}\n', "items.jsonl:1: content: Field required"),
    ],
)
def test_a_bad_line_refuses_the_file_and_names_the_line(tmp_path, text, message):
    path = tmp_path / "items.jsonl"
    path.write_text(text)
    with pytest.raises(cli.UsageError, match=message):
        cli.read_lines(path, {"specialization": "s", "max_hours": 1})


def test_line_keys_are_stable_and_tell_lines_apart():
    body = {"title": "a", "content": {"type": "text", "body": "x"}}
    assert cli.line_key(1, body) == cli.line_key(1, dict(reversed(body.items())))
    assert cli.line_key(1, body) != cli.line_key(2, body)  # two equal lines are two requests
    assert cli.line_key(1, body) != cli.line_key(1, {**body, "title": "b"})


def test_a_rerun_skips_the_lines_already_sent(tmp_path):
    path = tmp_path / "items.jsonl"
    _write(path, 250)
    server = FakeServer()
    with _client(server) as client:
        assert cli.cmd_submit(_args(path), client) == 0
        assert (server.created, server.calls) == (250, 3)
        assert cli.cmd_submit(_args(path), client) == 0
    assert (server.created, server.calls) == (250, 3)  # nothing sent the second time
    state = cli.SubmitState(tmp_path / "items.jsonl.inloop-state.jsonl")
    assert len(state.done) == 250 and state.pending == {}


def test_a_batch_whose_answer_was_lost_is_replayed_not_created_again(tmp_path):
    path = tmp_path / "items.jsonl"
    _write(path, 250)
    # The second batch's answer is lost on every attempt: the run fails after the server created.
    server = FakeServer(lose={2, 3})
    with _client(server, max_retries=1) as client, pytest.raises(inloop.InloopConnectionError):
        cli.cmd_submit(_args(path), client)
    assert server.created == 200
    state = cli.SubmitState(tmp_path / "items.jsonl.inloop-state.jsonl")
    assert len(state.done) == 100 and len(state.pending) == 1

    with _client(server) as client:
        assert cli.cmd_submit(_args(path), client) == 0
    assert server.created == 250  # the lost batch was replayed by its key, the third created
    state = cli.SubmitState(tmp_path / "items.jsonl.inloop-state.jsonl")
    assert len(state.done) == 250 and state.pending == {}
    assert len(set(state.done.values())) == 250


def test_an_unanswered_batch_whose_lines_changed_is_refused_clearly(tmp_path):
    path = tmp_path / "items.jsonl"
    _write(path, 150)
    server = FakeServer(lose={2, 3})
    with _client(server, max_retries=1) as client, pytest.raises(inloop.InloopConnectionError):
        cli.cmd_submit(_args(path), client)
    _write(path, 120)  # lines 121-150 of the unanswered batch are gone
    with _client(server) as client, pytest.raises(cli.UsageError, match="got no answer"):
        cli.cmd_submit(_args(path), client)
    assert server.created == 150


def test_a_refused_batch_is_not_left_pending_and_names_its_line(tmp_path):
    path = tmp_path / "items.jsonl"
    _write(path, 5)

    def refuse(request, n):
        return httpx.Response(
            422,
            json={
                "error": {"code": "validation_error", "message": "no", "field": "requests[3].title"}
            },
        )

    with _client(refuse) as client, pytest.raises(inloop.InloopError, match=r"items\.jsonl:4: 422"):
        cli.cmd_submit(_args(path), client)
    state = cli.SubmitState(tmp_path / "items.jsonl.inloop-state.jsonl")
    assert state.pending == {} and state.done == {}


def test_since_takes_durations_and_times():
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert cli.parse_since("1d", now) == now - timedelta(days=1)
    assert cli.parse_since("90m", now) == now - timedelta(minutes=90)
    assert cli.parse_since("2026-12-01T00:00:00", now) == datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(cli.UsageError, match="--since"):
        cli.parse_since("yesterday", now)


def test_config_flags_then_environment_then_file(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('api_key = "from-file"\nbase_url = "https://file.example"\n')
    monkeypatch.setenv("INLOOP_CONFIG", str(config))
    monkeypatch.delenv("INLOOP_API_KEY", raising=False)
    monkeypatch.setenv("INLOOP_BASE_URL", "https://env.example")
    loaded = load_config(api_key=None, base_url=None)
    assert (loaded.api_key, loaded.base_url) == ("from-file", "https://env.example")
    assert load_config(api_key="flag", base_url=None).api_key == "flag"
    config.write_text('api_key = "x"\napi_secret = "y"\n')
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config()
    monkeypatch.setenv("INLOOP_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config()


def test_main_without_a_key_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("INLOOP_API_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("INLOOP_CONFIG", raising=False)
    assert cli.main(["status"]) == 2
    assert "no API key" in capsys.readouterr().err


def test_export_needs_a_format_and_a_file(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["export"])
    assert raised.value.code == 2


def test_listen_forwards_only_changes_signed_both_ways():
    statuses = iter([["queued", "queued"], ["completed", "queued"], ["completed", "queued"]])

    def api(request, n):
        page = next(statuses)
        return httpx.Response(
            200,
            json={
                "data": [review_request(i, status=s) for i, s in enumerate(page)],
                "next_cursor": None,
            },
        )

    received: list[httpx.Request] = []

    def receiver(request):
        received.append(request)
        return httpx.Response(204)

    secret = "whsec_" + "0f" * 24
    with _client(api) as client:
        forwarder = cli.Forwarder(client, url="http://127.0.0.1:9/hook", secret=secret, max_pages=1)
        forwarder.http = httpx.Client(transport=httpx.MockTransport(receiver))
        assert forwarder.poll() == []  # the starting point
        [(what, outcome)] = forwarder.poll()
        assert forwarder.poll() == []  # no change, nothing forwarded
    assert what.startswith("review_request.completed ") and outcome == 204
    [delivery] = received
    event = inloop.webhooks.verify(delivery.content, delivery.headers["Inloop-Signature"], secret)
    assert event.type == "review_request.completed" and event.data.status == "completed"
    standardwebhooks = pytest.importorskip("standardwebhooks")
    assert standardwebhooks.Webhook(secret).verify(delivery.content, dict(delivery.headers))
