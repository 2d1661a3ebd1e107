"""The `inloop` command line.

    inloop submit items.jsonl --specialization law.contracts --max-hours 0.5
    inloop status [ID ...]
    inloop results --since 1d > results.jsonl
    inloop evidence ID [--pdf FILE]
    inloop webhook listen --forward-to http://127.0.0.1:9000/hook

Exit status: 0 done, 1 the API refused or could not be reached, 2 bad usage, input or config.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from inloop import webhooks
from inloop._base import BATCH_SIZE, request_body
from inloop._client import Inloop
from inloop._config import ConfigError, load_config
from inloop._progress import ProgressBar
from inloop._version import __version__
from inloop.errors import InloopAPIError, InloopError
from inloop.models import ReviewRequest

EXIT_OK, EXIT_API, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input or configuration: reported on stderr, exit status 2, nothing sent."""


# submit ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    number: int  # 1-based, as editors show it
    body: dict[str, Any]
    key: str


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def line_key(number: int, body: dict[str, Any]) -> str:
    """A line's own idempotency key: its position and its final body. A rerun derives the same
    key; an edited line gets a new one (it is new work); two equal lines stay two requests."""
    digest = hashlib.sha256(f"{number}\n{_canonical(body)}".encode()).hexdigest()
    return f"inloop-cli-{digest[:40]}"


def batch_key_of(keys: Sequence[str]) -> str:
    return "inloop-cli-batch-" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:40]


def _line_body(raw: dict[str, Any], number: int, source: Path, defaults: dict[str, Any]):
    body = {key: value for key, value in defaults.items() if value is not None}
    body.update(raw)
    if isinstance(body.get("content"), str):
        body["content"] = {"type": "text", "body": body["content"]}
    body.setdefault("title", f"{source.name} line {number}")
    return request_body(body)


def read_lines(path: Path, defaults: dict[str, Any]) -> list[Line]:
    """Every non-blank line, parsed and checked before anything is sent: one bad line refuses
    the whole file, naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    lines = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        if not raw_line.strip():
            continue
        try:
            raw = json.loads(raw_line)
        except ValueError as exc:
            raise UsageError(f"{path}:{number}: not JSON ({exc})") from exc
        if not isinstance(raw, dict):
            raise UsageError(f"{path}:{number}: each line must be a JSON object")
        try:
            body = _line_body(raw, number, path, defaults)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "line"
            raise UsageError(f"{path}:{number}: {where}: {first['msg']}") from exc
        lines.append(Line(number=number, body=body, key=line_key(number, body)))
    return lines


class SubmitState:
    """`<file>.inloop-state.jsonl`, appended to: a `pending` record before each batch is sent
    (its line numbers and keys), a `done` record with the ids once it was answered. A rerun skips
    every line done and first resends each pending batch as it was (same lines, same key), so a
    batch whose answer was lost is replayed by the server instead of created again."""

    def __init__(self, path: Path):
        self.path = path
        self.done: dict[str, str] = {}  # line key -> review request id
        self.pending: dict[str, list[str]] = {}  # batch key -> line keys, not yet answered
        if path.exists():
            for raw in path.read_text().splitlines():
                if raw.strip():
                    self._apply(json.loads(raw))

    def _apply(self, record: dict[str, Any]) -> None:
        if "pending" in record:
            self.pending[record["pending"]] = record["keys"]
        elif "refused" in record:
            self.pending.pop(record["refused"], None)
        elif "done" in record:
            self.pending.pop(record["done"], None)
            self.done.update(zip(record["keys"], record["ids"], strict=True))

    def _append(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as out:
            out.write(json.dumps(record) + "\n")
            out.flush()
        self._apply(record)

    def mark_pending(self, batch_key: str, lines: Sequence[Line]) -> None:
        self._append(
            {
                "pending": batch_key,
                "lines": [x.number for x in lines],
                "keys": [x.key for x in lines],
            }
        )

    def mark_refused(self, batch_key: str) -> None:
        """The server answered no (a 4xx): nothing of that batch was created."""
        self._append({"refused": batch_key})

    def mark_done(self, batch_key: str, lines: Sequence[Line], ids: Sequence[str]) -> None:
        self._append({"done": batch_key, "keys": [x.key for x in lines], "ids": list(ids)})


def plan_batches(
    lines: Sequence[Line], state: SubmitState, batch_size: int
) -> list[tuple[str, list[Line]]]:
    """Pending batches first, exactly as they were sent, then the rest in order."""
    by_key = {line.key: line for line in lines}
    batches: list[tuple[str, list[Line]]] = []
    planned: set[str] = set()
    for batch_key, keys in state.pending.items():
        missing = [key for key in keys if key not in by_key]
        if missing:
            raise UsageError(
                f"a batch sent earlier (key {batch_key}) got no answer, and {len(missing)} of its "
                "lines changed or disappeared since; restore the file as it was to replay it, "
                f"or delete {state.path} to submit everything again as new work"
            )
        batches.append((batch_key, [by_key[key] for key in keys]))
        planned.update(keys)
    rest = [line for line in lines if line.key not in state.done and line.key not in planned]
    for start in range(0, len(rest), batch_size):
        chunk = rest[start : start + batch_size]
        batches.append((batch_key_of([x.key for x in chunk]), chunk))
    return batches


def cmd_submit(args: argparse.Namespace, client: Inloop) -> int:
    source = Path(args.file)
    defaults = {
        "specialization": args.specialization,
        "max_hours": args.max_hours,
        "reviewers": args.reviewers,
        "callback_url": args.callback_url,
    }
    lines = read_lines(source, defaults)
    state = SubmitState(
        Path(args.state) if args.state else source.with_name(source.name + ".inloop-state.jsonl")
    )
    batches = plan_batches(lines, state, args.batch_size)
    skipped = sum(1 for line in lines if line.key in state.done)
    to_send = sum(len(chunk) for _, chunk in batches)
    if skipped:
        print(f"{skipped} line(s) already sent (in {state.path}): skipped", file=sys.stderr)
    bar = None if args.no_progress else ProgressBar(to_send, label="inloop submit ")
    sent = 0
    try:
        for batch_key, chunk in batches:
            state.mark_pending(batch_key, chunk)
            try:
                data = client.request(
                    "POST",
                    "/review-requests/batch",
                    json={"requests": [line.body for line in chunk]},
                    idempotency_key=batch_key,
                )
            except InloopAPIError as exc:
                if exc.status_code < 500:
                    state.mark_refused(batch_key)
                raise InloopError(f"{_where(exc, chunk, source)}{exc}") from exc
            ids = [item["id"] for item in data["data"]]
            state.mark_done(batch_key, chunk, ids)
            sent += len(chunk)
            if bar is not None:
                bar.update(sent, to_send)
    finally:
        if bar is not None:
            bar.close()
    print(
        f"submitted {sent} review request(s) in {len(batches)} batch(es); "
        f"{len(state.done)} of {len(lines)} line(s) done; ids in {state.path}",
        file=sys.stderr,
    )
    return EXIT_OK


def _where(exc: InloopAPIError, chunk: Sequence[Line], source: Path) -> str:
    """`requests[3].title` of a batch is a line of the file: say which."""
    match = re.match(r"requests\[(\d+)\]", exc.field or "")
    if match and int(match.group(1)) < len(chunk):
        return f"{source}:{chunk[int(match.group(1))].number}: "
    return ""


# status, results -----------------------------------------------------------------------------


def _row(rr: ReviewRequest) -> str:
    verdict = rr.result.verdict if rr.result else "-"
    return f"{rr.id}  {rr.status:<10} {verdict:<10} {rr.cost_cents:>8}  {rr.title[:60]}"


def cmd_status(args: argparse.Namespace, client: Inloop) -> int:
    if args.ids:
        for review_request_id in args.ids:
            rr = client.review_requests.get(review_request_id)
            print(rr.model_dump_json() if args.json else _row(rr))
        return EXIT_OK
    balance = client.balance()
    newest = []
    for rr in client.review_requests.list(status=args.status, limit=min(args.limit, 100)):
        newest.append(rr)
        if len(newest) >= args.limit:
            break
    if args.json:
        print(
            json.dumps(
                {
                    "balance": balance.model_dump(),
                    "newest": [json.loads(rr.model_dump_json()) for rr in newest],
                }
            )
        )
        return EXIT_OK
    cur = balance.currency.upper()
    print(
        f"balance: {balance.available_cents / 100:.2f} {cur} available, "
        f"{balance.held_cents / 100:.2f} {cur} held"
    )
    print(f"newest {len(newest)} request(s): id, status, verdict, cost (cents), title")
    for rr in newest:
        print(_row(rr))
    return EXIT_OK


DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """`30m`, `12h`, `1d`, `2w` ago, or an ISO 8601 time (UTC if it names no zone)."""
    now = now or datetime.now(UTC)
    match = DURATION.match(value.strip())
    if match:
        return now - timedelta(seconds=float(match.group(1)) * UNITS[match.group(2)])
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"--since {value!r}: use 30m, 12h, 1d, 2w or an ISO 8601 time") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def cmd_results(args: argparse.Namespace, client: Inloop) -> int:
    """Completed requests whose completion is at or after --since, one JSON object per line.
    The API lists by creation time, so every completed request is read to find them all (a
    request created long ago may have completed today)."""
    since = parse_since(args.since) if args.since else None
    count = 0
    for rr in client.review_requests.list(status="completed"):
        if since is not None and (rr.completed_at is None or rr.completed_at < since):
            continue
        sys.stdout.write(rr.model_dump_json() + "\n")
        count += 1
    sys.stdout.flush()
    print(f"{count} result(s)", file=sys.stderr)
    return EXIT_OK


def cmd_evidence(args: argparse.Namespace, client: Inloop) -> int:
    """A completed request's evidence export: JSON on stdout, or the PDF written to --pdf FILE."""
    if args.pdf:
        content = client.review_requests.evidence_pdf(args.id)
        Path(args.pdf).write_bytes(content)
        print(f"{args.pdf}: {len(content)} bytes", file=sys.stderr)
        return EXIT_OK
    print(client.review_requests.evidence(args.id).model_dump_json())
    return EXIT_OK


def cmd_export(args: argparse.Namespace, client: Inloop) -> int:
    """Queue an export, wait for the worker to write it, download it to --out and check its
    SHA-256; prints the export's id, lines and digest."""
    filters = {
        "specialization": args.specialization,
        "policy": args.policy,
        "agreement_min": args.agreement_min,
        "status": args.status or None,
        "completed_after": parse_since(args.since) if args.since else None,
    }
    export = client.exports.create(args.format, **{k: v for k, v in filters.items() if v})
    print(f"export {export.id} queued ({export.schema_version})", file=sys.stderr)
    done = client.exports.wait(export.id, timeout=args.timeout)
    if done.status != "completed":
        print(f"inloop: export {done.id} failed: {done.error}", file=sys.stderr)
        return EXIT_API
    digest = client.exports.download(done.id, args.out)
    print(f"{done.id} {done.rows} line(s) sha256 {digest} -> {args.out}")
    return EXIT_OK


# webhook listen ------------------------------------------------------------------------------

EVENT_TYPES = {
    "in_review": "review_request.in_review",
    "completed": "review_request.completed",
    "cancelled": "review_request.cancelled",
    "expired": "review_request.expired",
}


def _newest(client: Inloop, max_pages: int) -> Iterator[ReviewRequest]:
    for number, page in enumerate(client.review_requests.pages(limit=100), start=1):
        yield from page.data
        if number >= max_pages:
            return


def local_event(rr: ReviewRequest) -> tuple[str, str]:
    """(event id, body) for a change seen by polling: the id is stable for one request in one
    status, so a receiver deduplicates a forward it already has."""
    digest = hashlib.sha256(f"{rr.id}:{rr.status}".encode()).hexdigest()[:24]
    event_id = f"evt_local_{digest}"
    body = json.dumps(
        {
            "id": event_id,
            "type": EVENT_TYPES[rr.status],
            "created": int(time.time()),
            "data": json.loads(rr.model_dump_json()),
        },
        separators=(",", ":"),
    )
    return event_id, body


class Forwarder:
    """Polls the newest requests; each change of status that makes an event on the server is
    signed as the server signs it (both schemes) and POSTed to the local URL."""

    def __init__(self, client: Inloop, *, url: str, secret: str, max_pages: int):
        self.client = client
        self.url = url
        self.secret = secret
        self.max_pages = max_pages
        self.seen: dict[str, str] | None = None
        self.http = httpx.Client(timeout=10)

    def poll(self) -> list[tuple[str, int | str]]:
        current = {rr.id: rr for rr in _newest(self.client, self.max_pages)}
        first = self.seen is None
        previous = self.seen or {}
        self.seen = {rr_id: rr.status for rr_id, rr in current.items()}
        if first:
            return []  # the starting point: only what changes from now on is forwarded
        forwarded = []
        for rr in current.values():
            if previous.get(rr.id, "queued") != rr.status and rr.status in EVENT_TYPES:
                forwarded.append((f"{EVENT_TYPES[rr.status]} {rr.id}", self.forward(rr)))
        return forwarded

    def forward(self, rr: ReviewRequest) -> int | str:
        event_id, body = local_event(rr)
        headers = {"Content-Type": "application/json", "User-Agent": "inloop-cli-listen"}
        headers.update(webhooks.signed_headers(body, self.secret, event_id=event_id))
        try:
            return self.http.post(self.url, content=body.encode(), headers=headers).status_code
        except httpx.HTTPError as exc:
            return f"failed: {exc.__class__.__name__}: {exc}"


def cmd_webhook(args: argparse.Namespace, client: Inloop) -> int:
    secret = args.secret or args.config.webhook_secret
    if not secret:
        raise UsageError(
            "webhook listen signs what it forwards: pass --secret, set INLOOP_WEBHOOK_SECRET, "
            "or put webhook_secret in the config file (your organization's webhook secret)"
        )
    forwarder = Forwarder(client, url=args.forward_to, secret=secret, max_pages=args.max_pages)
    print(
        f"watching the newest {args.max_pages * 100} requests every {args.interval:g} s, "
        f"forwarding changes to {args.forward_to} (Ctrl-C stops)",
        file=sys.stderr,
    )
    polls = 0
    try:
        while args.max_polls is None or polls < args.max_polls:
            if polls:
                time.sleep(args.interval)
            for what, outcome in forwarder.poll():
                print(f"{datetime.now().strftime('%H:%M:%S')} {what} -> {outcome}", flush=True)
            polls += 1
    except KeyboardInterrupt:
        pass
    finally:
        forwarder.http.close()
    return EXIT_OK


# main ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inloop", description="The Inloop API from a shell.")
    parser.add_argument("--version", action="version", version=f"inloop {__version__}")
    parser.add_argument("--api-key", help="default: INLOOP_API_KEY, then the config file")
    parser.add_argument("--base-url", help="default: INLOOP_BASE_URL, then the config file")
    commands = parser.add_subparsers(dest="command", required=True)

    submit = commands.add_parser("submit", help="create a review request per line of a JSONL file")
    submit.add_argument("file", help="one JSON object per line (a review request body)")
    submit.add_argument("--specialization", help="for lines that name none")
    submit.add_argument("--max-hours", type=float, help="for lines that name none")
    submit.add_argument("--reviewers", type=int, help="for lines that name none")
    submit.add_argument("--callback-url", help="for lines that name none")
    submit.add_argument(
        "--batch-size", type=int, default=BATCH_SIZE, choices=range(1, 101), metavar="1-100"
    )
    submit.add_argument("--state", help="the resume file (default: FILE.inloop-state.jsonl)")
    submit.add_argument("--no-progress", action="store_true", help="no progress bar")

    status = commands.add_parser("status", help="balance and the newest requests, or some by id")
    status.add_argument("ids", nargs="*", help="review request ids")
    status.add_argument("--status", help="only requests of this status")
    status.add_argument("--limit", type=int, default=20)
    status.add_argument("--json", action="store_true")

    results = commands.add_parser("results", help="completed requests as JSONL on stdout")
    results.add_argument("--since", help="completed within (30m, 12h, 1d, 2w) or since a time")

    export = commands.add_parser(
        "export", help="export reviewed data as JSON Lines (sft, dpo, rubric, raw) to a file"
    )
    export.add_argument("format", choices=["sft", "dpo", "rubric", "raw"])
    export.add_argument("--out", required=True, help="where to write the .jsonl file")
    export.add_argument("--specialization", help="a slug; a field includes its subfields")
    export.add_argument("--policy", help="requests whose metadata.policy is this")
    export.add_argument("--agreement-min", type=float, help="0-1")
    export.add_argument(
        "--status", action="append", choices=["completed", "disputed"], help="repeatable"
    )
    export.add_argument("--since", help="completed within (30m, 12h, 1d, 2w) or since a time")
    export.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait")

    evidence = commands.add_parser("evidence", help="a completed request's evidence (JSON or PDF)")
    evidence.add_argument("id", help="the review request id")
    evidence.add_argument("--pdf", metavar="FILE", help="write the PDF to FILE instead")

    webhook = commands.add_parser("webhook", help="webhooks for local development")
    webhook_commands = webhook.add_subparsers(dest="webhook_command", required=True)
    listen = webhook_commands.add_parser(
        "listen", help="poll for changed requests, sign and forward them as webhooks"
    )
    listen.add_argument("--forward-to", required=True, help="e.g. http://127.0.0.1:9000/hook")
    listen.add_argument("--secret", help="default: INLOOP_WEBHOOK_SECRET, then the config file")
    listen.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    listen.add_argument("--max-pages", type=int, default=5, help="pages of 100 watched")
    listen.add_argument("--max-polls", type=int, default=None, help="stop after this many polls")
    return parser


COMMANDS = {
    "submit": cmd_submit,
    "status": cmd_status,
    "results": cmd_results,
    "export": cmd_export,
    "evidence": cmd_evidence,
    "webhook": cmd_webhook,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.config = load_config(api_key=args.api_key, base_url=args.base_url)
        if not args.config.api_key:
            raise UsageError(
                f"no API key: pass --api-key, set INLOOP_API_KEY, or write api_key to "
                f"{args.config.path}"
            )
        with Inloop(api_key=args.config.api_key, base_url=args.config.base_url) as client:
            return COMMANDS[args.command](args, client)
    except (UsageError, ConfigError) as exc:
        print(f"inloop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except InloopError as exc:
        print(f"inloop: {exc}", file=sys.stderr)
        return EXIT_API


if __name__ == "__main__":
    sys.exit(main())
