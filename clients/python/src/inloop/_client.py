"""`Inloop`, the synchronous client."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from typing import Any

import httpx

from inloop._base import (
    BATCH_SIZE,
    DEFAULT_TIMEOUT,
    IDEMPOTENCY_HEADER,
    agreement_params,
    batch_key,
    chunks,
    client_headers,
    list_params,
    new_idempotency_key,
    period,
    policy_path,
    request_body,
    resolve_config,
    rules_body,
    total_of,
)
from inloop._progress import ProgressBar
from inloop._retry import RetryPolicy
from inloop.errors import (
    InloopAPIError,
    InloopChecksumError,
    InloopConflict,
    InloopConnectionError,
    InloopTimeout,
    InloopWaitTimeout,
    error_from_response,
)
from inloop.models import (
    Agreement,
    Balance,
    Evidence,
    Export,
    ExportCreate,
    ExportPage,
    GoldenItem,
    GoldenItemPage,
    GoldenMark,
    OversightSettings,
    OversightStats,
    Policy,
    PolicyList,
    ReviewRequest,
    ReviewRequestBatch,
    ReviewRequestCreate,
    ReviewRequestPage,
    Rule,
    Simulation,
    Specialization,
    SpecializationList,
)

Progress = Callable[[int, int | None], None]


class Inloop:
    """A client for one organization's API key.

    >>> client = Inloop(api_key="inl_...", base_url="https://inloop.example.com")
    >>> rr = client.review_requests.create(title=..., specialization=..., content=..., max_hours=1)

    `api_key` and `base_url` default to INLOOP_API_KEY and INLOOP_BASE_URL. Calls are retried
    `max_retries` times on connection errors, 429 (after its Retry-After) and 5xx, never on
    another 4xx; creates carry an Idempotency-Key, so a retried create never creates twice.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 4,
        retry_policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        key, url = resolve_config(api_key, base_url)
        self.base_url = url
        self.retry_policy = retry_policy or RetryPolicy(max_retries=max_retries)
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=url, headers=client_headers(key), timeout=timeout, transport=transport
        )
        self.review_requests = ReviewRequests(self)
        self.oversight_policies = OversightPolicies(self)
        self.exports = Exports(self)
        self.golden_items = GoldenItems(self)

    def __enter__(self) -> Inloop:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def balance(self) -> Balance:
        return Balance.model_validate(self.request("GET", "/balance"))

    def specializations(self) -> list[Specialization]:
        return SpecializationList.model_validate(self.request("GET", "/specializations")).data

    def agreement(
        self,
        *,
        first: date | None = None,
        last: date | None = None,
        specialization: str | None = None,
        policy: str | None = None,
    ) -> Agreement:
        """Krippendorff's alpha of the reviewers' verdicts and scores over the organization's
        requests with two or more independent reviews created in the days `first`..`last` (UTC;
        default the last 365), in `specialization` or below it, routed by `policy`: in all, per
        specialization and per month."""
        params = agreement_params(first, last, specialization, policy)
        return Agreement.model_validate(self.request("GET", "/agreement", params=params))

    def oversight_settings(self) -> OversightSettings:
        return OversightSettings.model_validate(self.request("GET", "/oversight-settings"))

    def oversight_settings_update(self, *, auto_approved_webhook: bool) -> OversightSettings:
        """Turn the batched `review_request.auto_approved` webhook on or off."""
        data = self.request(
            "PUT",
            "/oversight-settings",
            json={"auto_approved_webhook": auto_approved_webhook},
        )
        return OversightSettings.model_validate(data)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """One API call with the retry policy; returns the decoded JSON body."""
        response = self.send(
            method, path, json=json, params=params, idempotency_key=idempotency_key
        )
        return response.json()

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """One API call with the retry policy; returns the successful response as it is (for
        bodies that are not JSON, such as the evidence PDF)."""
        headers = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else {}
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(
                    method, path, json=json, params=params, headers=headers
                )
            except httpx.TransportError as exc:
                delay = self.retry_policy.delay_for_exception(exc, attempt)
                if delay is None:
                    raise _connection_error(exc, attempt) from exc
                self._sleep(delay)
                continue
            if response.is_success:
                return response
            delay = self.retry_policy.delay_for_response(response, attempt)
            if delay is None:
                raise error_from_response(response)
            self._sleep(delay)


def _connection_error(exc: httpx.TransportError, attempts: int) -> InloopConnectionError:
    cls = InloopTimeout if isinstance(exc, httpx.TimeoutException) else InloopConnectionError
    return cls(f"{exc.__class__.__name__} after {attempts} attempt(s): {exc}")


class ReviewRequests:
    """`client.review_requests`."""

    def __init__(self, client: Inloop):
        self._client = client

    def create(
        self,
        request: ReviewRequestCreate | Mapping[str, Any] | None = None,
        /,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> ReviewRequest:
        """Create one review request, from a model, a dict, or keyword fields. A fresh
        Idempotency-Key is sent unless you pass one (pass your own to make a rerun of your script
        replay instead of creating again)."""
        body = request_body(request if request is not None else fields)
        data = self._client.request(
            "POST",
            "/review-requests",
            json=body,
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return ReviewRequest.model_validate(data)

    def batch(
        self,
        items: Iterable[ReviewRequestCreate | Mapping[str, Any]],
        *,
        batch_size: int = BATCH_SIZE,
        idempotency_key: str | None = None,
        on_progress: Progress | None = None,
        progress: bool = False,
    ) -> list[ReviewRequest]:
        """Create every item of any iterable, `batch_size` (at most 100) per call, each call all
        or nothing. `on_progress(done, total)` is called after each batch (`total` is None for
        a generator); `progress=True` draws a bar on stderr. Batch n is sent with the key
        `<idempotency_key>-<n>` (a fresh prefix by default).

        If a batch fails, the error raised carries `.created` (what the batches before created)
        and `.batch_offset` (the index of the failing batch's first item)."""
        if not 1 <= batch_size <= BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {BATCH_SIZE}")
        prefix = idempotency_key or new_idempotency_key()
        total = total_of(items)
        bar = ProgressBar(total, label="inloop batch ") if progress else None
        created: list[ReviewRequest] = []
        try:
            for number, chunk in enumerate(chunks(items, batch_size)):
                body = {"requests": [request_body(item) for item in chunk]}
                try:
                    data = self._client.request(
                        "POST",
                        "/review-requests/batch",
                        json=body,
                        idempotency_key=batch_key(prefix, number),
                    )
                except InloopAPIError as exc:
                    exc.created = created
                    exc.batch_offset = len(created)
                    raise
                created.extend(ReviewRequestBatch.model_validate(data).data)
                if on_progress is not None:
                    on_progress(len(created), total)
                if bar is not None:
                    bar.update(len(created), total)
        finally:
            if bar is not None:
                bar.close()
        return created

    def get(self, review_request_id: str) -> ReviewRequest:
        return ReviewRequest.model_validate(
            self._client.request("GET", f"/review-requests/{review_request_id}")
        )

    def cancel(self, review_request_id: str) -> ReviewRequest:
        """Cancel while nothing has been billed (else InloopConflict: `already_billed`,
        `not_cancellable`). A request already cancelled is returned as it is."""
        try:
            data = self._client.request("POST", f"/review-requests/{review_request_id}/cancel")
        except InloopConflict:
            # A retried cancel whose first answer was lost finds the request already cancelled:
            # that is the outcome asked for, not a conflict.
            current = self.get(review_request_id)
            if current.status == "cancelled":
                return current
            raise
        return ReviewRequest.model_validate(data)

    def evidence(self, review_request_id: str) -> Evidence:
        """The oversight evidence export of a completed request (docs/contract/evidence.md).
        InloopNotFound until its record is written, a moment after completion."""
        data = self._client.request("GET", f"/review-requests/{review_request_id}/evidence")
        return Evidence.model_validate(data)

    def mark_golden(self, review_request_id: str, *, tolerance: float = 0.0) -> GoldenItem:
        """Make a completed request a golden item of the organization's pool (its result is
        the expected answer; a score counts as right within `tolerance` points). InloopConflict
        `not_completed`, `no_verdict`; `already_golden` when someone else marked it first. A
        retry whose first answer was lost finds its own item and returns it."""
        body = GoldenMark(tolerance=tolerance).model_dump()
        try:
            data = self._client.request(
                "POST", f"/review-requests/{review_request_id}/golden", json=body
            )
        except InloopConflict as exc:
            if exc.code == "already_golden":
                for item in self._client.golden_items.list():
                    if item.source_review_request_id == review_request_id:
                        return item
            raise
        return GoldenItem.model_validate(data)

    def evidence_pdf(self, review_request_id: str) -> bytes:
        """The same evidence as a PDF: its bytes, to write to a file."""
        response = self._client.send(
            "GET", f"/review-requests/{review_request_id}/evidence", params={"format": "pdf"}
        )
        return response.content

    def pages(
        self, *, status: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> Iterator[ReviewRequestPage]:
        """Every page, newest first, fetched as you iterate."""
        while True:
            page = ReviewRequestPage.model_validate(
                self._client.request(
                    "GET", "/review-requests", params=list_params(status, limit, cursor)
                )
            )
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def list(
        self, *, status: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> Iterator[ReviewRequest]:
        """Every review request (of a status), newest first, over all pages."""
        for page in self.pages(status=status, limit=limit, cursor=cursor):
            yield from page.data

    def wait(
        self,
        review_request_id: str,
        *,
        timeout: float = 3600.0,
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
    ) -> ReviewRequest:
        """Poll until the request is completed, cancelled or expired, and return it; the interval
        grows by half each time up to `max_poll_interval`. Raises InloopWaitTimeout (with
        `.last_seen`) after `timeout` seconds. For scripts without a webhook receiver."""
        deadline = time.monotonic() + timeout
        interval = poll_interval
        while True:
            current = self.get(review_request_id)
            if current.is_final:
                return current
            left = deadline - time.monotonic()
            if left <= 0:
                raise InloopWaitTimeout(
                    f"{review_request_id} is still {current.status} after {timeout:g} s",
                    last_seen=current,
                )
            self._client._sleep(min(interval, left))
            interval = min(interval * 1.5, max_poll_interval)


class OversightPolicies:
    """`client.oversight_policies`: the organization's oversight policies (rules as Rule models
    or dicts). A change never edits a version: `update` adds the next one."""

    def __init__(self, client: Inloop):
        self._client = client

    def list(self) -> list[Policy]:
        return PolicyList.model_validate(self._client.request("GET", "/oversight-policies")).data

    def create(
        self,
        name: str,
        rules: Iterable[Rule | Mapping[str, Any]],
        *,
        note: str = "",
        is_default: bool = False,
    ) -> Policy:
        body = {"name": name, "rules": rules_body(rules), "note": note, "is_default": is_default}
        return Policy.model_validate(self._client.request("POST", "/oversight-policies", json=body))

    def get(self, name: str) -> Policy:
        return Policy.model_validate(self._client.request("GET", policy_path(name)))

    def update(
        self, name: str, rules: Iterable[Rule | Mapping[str, Any]], *, note: str = ""
    ) -> Policy:
        body = {"rules": rules_body(rules), "note": note}
        return Policy.model_validate(self._client.request("PUT", policy_path(name), json=body))

    def set_default(self, name: str) -> Policy:
        return Policy.model_validate(self._client.request("POST", policy_path(name) + "/default"))

    def stats(self, name: str, *, first: date | None = None, last: date | None = None):
        """Items seen, sent to review, sampled and auto-approved per week and rule, with the audit
        miss rate and its Wilson interval, for the days `first`..`last` (UTC)."""
        data = self._client.request("GET", policy_path(name) + "/stats", params=period(first, last))
        return OversightStats.model_validate(data)

    def simulate(
        self,
        name: str,
        rules: Iterable[Rule | Mapping[str, Any]],
        *,
        first: date | None = None,
        last: date | None = None,
        scope: str = "policy",
    ) -> Simulation:
        """What `rules` would have sent to humans over the period's stored items, at what
        estimated cost and miss rate, before the change is saved."""
        body = {**period(first, last), "rules": rules_body(rules), "scope": scope}
        body = {k: v for k, v in body.items() if v is not None}
        data = self._client.request("POST", policy_path(name) + "/simulate", json=body)
        return Simulation.model_validate(data)


class GoldenItems:
    """`client.golden_items`: the organization's own pool of golden items (mark one with
    `client.review_requests.mark_golden(id)`)."""

    def __init__(self, client: Inloop):
        self._client = client

    def pages(self, *, limit: int = 100, cursor: str | None = None) -> Iterator[GoldenItemPage]:
        while True:
            page = GoldenItemPage.model_validate(
                self._client.request(
                    "GET", "/golden-items", params=list_params(None, limit, cursor)
                )
            )
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def list(self, *, limit: int = 100, cursor: str | None = None) -> Iterator[GoldenItem]:
        """Every golden item of the pool, newest first, over all pages."""
        for page in self.pages(limit=limit, cursor=cursor):
            yield from page.data


class Exports:
    """`client.exports`: dataset exports (JSON Lines in the formats sft, dpo, rubric, raw)."""

    def __init__(self, client: Inloop):
        self._client = client

    def create(self, format: str, **filters: Any) -> Export:
        """Queue an export; `filters` are ExportFilters' fields (specialization, policy,
        completed_after, completed_before, status, agreement_min)."""
        body = ExportCreate.model_validate({"format": format, "filters": filters})
        data = self._client.request(
            "POST", "/exports", json=body.model_dump(mode="json", exclude_none=True)
        )
        return Export.model_validate(data)

    def get(self, export_id: str) -> Export:
        return Export.model_validate(self._client.request("GET", f"/exports/{export_id}"))

    def pages(self, *, limit: int = 100, cursor: str | None = None) -> Iterator[ExportPage]:
        while True:
            page = ExportPage.model_validate(
                self._client.request("GET", "/exports", params=list_params(None, limit, cursor))
            )
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def list(self, *, limit: int = 100, cursor: str | None = None) -> Iterator[Export]:
        """Every export, newest first, over all pages."""
        for page in self.pages(limit=limit, cursor=cursor):
            yield from page.data

    def wait(
        self, export_id: str, *, timeout: float = 3600.0, poll_interval: float = 2.0
    ) -> Export:
        """Poll until the export is completed or failed and return it (InloopWaitTimeout with
        `.last_seen` after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.get(export_id)
            if current.is_final:
                return current
            left = deadline - time.monotonic()
            if left <= 0:
                raise InloopWaitTimeout(
                    f"export {export_id} is still {current.status} after {timeout:g} s",
                    last_seen=current,
                )
            self._client._sleep(min(poll_interval, left))

    def download(self, export_id: str, path: str | os.PathLike[str]) -> str:
        """Stream a completed export to `path` and check its SHA-256 against the one the
        server names (InloopChecksumError, and no file left, when they differ); returns the
        hex digest. InloopConflict (`export_not_ready`) until the export is completed."""
        digest = hashlib.sha256()
        expected = None
        with self._client._http.stream("GET", f"/exports/{export_id}/download") as response:
            if not response.is_success:
                response.read()
                raise error_from_response(response)
            expected = _digest_header(response.headers.get("Repr-Digest", ""))
            with open(path, "wb") as out:
                for chunk in response.iter_bytes():
                    digest.update(chunk)
                    out.write(chunk)
        if expected is None:
            expected = self.get(export_id).sha256
        if digest.hexdigest() != expected:
            os.remove(path)
            raise InloopChecksumError(
                f"export {export_id}: SHA-256 {digest.hexdigest()}, expected {expected}"
            )
        return digest.hexdigest()


def _digest_header(value: str) -> str | None:
    """The hex SHA-256 of a `Repr-Digest: sha-256=:<base64>:` header (RFC 9530), if present."""
    import base64
    import binascii

    for item in value.split(","):
        name, _, encoded = item.strip().partition("=")
        if name.strip().lower() == "sha-256" and encoded.startswith(":") and encoded.endswith(":"):
            try:
                return base64.b64decode(encoded[1:-1]).hex()
            except (binascii.Error, ValueError):
                return None
    return None
