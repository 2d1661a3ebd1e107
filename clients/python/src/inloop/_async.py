"""`AsyncInloop`: the same client for asyncio (`await client.review_requests.create(...)`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
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
from inloop._client import Progress, _connection_error
from inloop._progress import ProgressBar
from inloop._retry import RetryPolicy
from inloop.errors import InloopAPIError, InloopConflict, InloopWaitTimeout, error_from_response
from inloop.models import (
    Agreement,
    Balance,
    Evidence,
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


class AsyncInloop:
    """`Inloop` for asyncio: the same arguments, methods and retries, awaited."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 4,
        retry_policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        key, url = resolve_config(api_key, base_url)
        self.base_url = url
        self.retry_policy = retry_policy or RetryPolicy(max_retries=max_retries)
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=url, headers=client_headers(key), timeout=timeout, transport=transport
        )
        self.review_requests = AsyncReviewRequests(self)
        self.oversight_policies = AsyncOversightPolicies(self)
        self.golden_items = AsyncGoldenItems(self)

    async def __aenter__(self) -> AsyncInloop:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def balance(self) -> Balance:
        return Balance.model_validate(await self.request("GET", "/balance"))

    async def specializations(self) -> list[Specialization]:
        data = await self.request("GET", "/specializations")
        return SpecializationList.model_validate(data).data

    async def agreement(
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
        return Agreement.model_validate(await self.request("GET", "/agreement", params=params))

    async def oversight_settings(self) -> OversightSettings:
        return OversightSettings.model_validate(await self.request("GET", "/oversight-settings"))

    async def oversight_settings_update(self, *, auto_approved_webhook: bool) -> OversightSettings:
        data = await self.request(
            "PUT",
            "/oversight-settings",
            json={"auto_approved_webhook": auto_approved_webhook},
        )
        return OversightSettings.model_validate(data)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """One API call with the retry policy; returns the decoded JSON body."""
        response = await self.send(
            method, path, json=json, params=params, idempotency_key=idempotency_key
        )
        return response.json()

    async def send(
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
                response = await self._http.request(
                    method, path, json=json, params=params, headers=headers
                )
            except httpx.TransportError as exc:
                delay = self.retry_policy.delay_for_exception(exc, attempt)
                if delay is None:
                    raise _connection_error(exc, attempt) from exc
                await self._sleep(delay)
                continue
            if response.is_success:
                return response
            delay = self.retry_policy.delay_for_response(response, attempt)
            if delay is None:
                raise error_from_response(response)
            await self._sleep(delay)


async def _achunks(items: AsyncIterable[Any], size: int) -> AsyncIterator[list[Any]]:
    chunk: list[Any] = []
    async for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _as_async(chunked: Iterable[list[Any]]) -> AsyncIterator[list[Any]]:
    for chunk in chunked:
        yield chunk


class AsyncReviewRequests:
    """`client.review_requests` of an AsyncInloop."""

    def __init__(self, client: AsyncInloop):
        self._client = client

    async def create(
        self,
        request: ReviewRequestCreate | Mapping[str, Any] | None = None,
        /,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> ReviewRequest:
        body = request_body(request if request is not None else fields)
        data = await self._client.request(
            "POST",
            "/review-requests",
            json=body,
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return ReviewRequest.model_validate(data)

    async def batch(
        self,
        items: Iterable[ReviewRequestCreate | Mapping[str, Any]]
        | AsyncIterable[ReviewRequestCreate | Mapping[str, Any]],
        *,
        batch_size: int = BATCH_SIZE,
        idempotency_key: str | None = None,
        on_progress: Progress | None = None,
        progress: bool = False,
    ) -> list[ReviewRequest]:
        """As `Inloop.review_requests.batch`; `items` may also be an async iterable."""
        if not 1 <= batch_size <= BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {BATCH_SIZE}")
        prefix = idempotency_key or new_idempotency_key()
        if isinstance(items, AsyncIterable):
            total, batches = None, _achunks(items, batch_size)
        else:
            total, batches = total_of(items), _as_async(chunks(items, batch_size))
        bar = ProgressBar(total, label="inloop batch ") if progress else None
        created: list[ReviewRequest] = []
        number = 0
        try:
            async for chunk in batches:
                body = {"requests": [request_body(item) for item in chunk]}
                try:
                    data = await self._client.request(
                        "POST",
                        "/review-requests/batch",
                        json=body,
                        idempotency_key=batch_key(prefix, number),
                    )
                except InloopAPIError as exc:
                    exc.created = created
                    exc.batch_offset = len(created)
                    raise
                number += 1
                created.extend(ReviewRequestBatch.model_validate(data).data)
                if on_progress is not None:
                    on_progress(len(created), total)
                if bar is not None:
                    bar.update(len(created), total)
        finally:
            if bar is not None:
                bar.close()
        return created

    async def get(self, review_request_id: str) -> ReviewRequest:
        data = await self._client.request("GET", f"/review-requests/{review_request_id}")
        return ReviewRequest.model_validate(data)

    async def cancel(self, review_request_id: str) -> ReviewRequest:
        try:
            data = await self._client.request(
                "POST", f"/review-requests/{review_request_id}/cancel"
            )
        except InloopConflict:
            current = await self.get(review_request_id)
            if current.status == "cancelled":
                return current
            raise
        return ReviewRequest.model_validate(data)

    async def evidence(self, review_request_id: str) -> Evidence:
        """The oversight evidence export of a completed request (docs/contract/evidence.md).
        InloopNotFound until its record is written, a moment after completion."""
        data = await self._client.request("GET", f"/review-requests/{review_request_id}/evidence")
        return Evidence.model_validate(data)

    async def mark_golden(self, review_request_id: str, *, tolerance: float = 0.0) -> GoldenItem:
        """Make a completed request a golden item of the organization's pool (see
        Inloop.review_requests.mark_golden)."""
        body = GoldenMark(tolerance=tolerance).model_dump()
        try:
            data = await self._client.request(
                "POST", f"/review-requests/{review_request_id}/golden", json=body
            )
        except InloopConflict as exc:
            if exc.code == "already_golden":
                async for item in self._client.golden_items.list():
                    if item.source_review_request_id == review_request_id:
                        return item
            raise
        return GoldenItem.model_validate(data)

    async def evidence_pdf(self, review_request_id: str) -> bytes:
        """The same evidence as a PDF: its bytes, to write to a file."""
        response = await self._client.send(
            "GET", f"/review-requests/{review_request_id}/evidence", params={"format": "pdf"}
        )
        return response.content

    async def pages(
        self, *, status: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> AsyncIterator[ReviewRequestPage]:
        while True:
            data = await self._client.request(
                "GET", "/review-requests", params=list_params(status, limit, cursor)
            )
            page = ReviewRequestPage.model_validate(data)
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def list(
        self, *, status: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> AsyncIterator[ReviewRequest]:
        """`async for rr in client.review_requests.list(): ...` over every page."""
        async for page in self.pages(status=status, limit=limit, cursor=cursor):
            for item in page.data:
                yield item

    async def wait(
        self,
        review_request_id: str,
        *,
        timeout: float = 3600.0,
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
    ) -> ReviewRequest:
        deadline = time.monotonic() + timeout
        interval = poll_interval
        while True:
            current = await self.get(review_request_id)
            if current.is_final:
                return current
            left = deadline - time.monotonic()
            if left <= 0:
                raise InloopWaitTimeout(
                    f"{review_request_id} is still {current.status} after {timeout:g} s",
                    last_seen=current,
                )
            await self._client._sleep(min(interval, left))
            interval = min(interval * 1.5, max_poll_interval)


class AsyncGoldenItems:
    """`client.golden_items` of an AsyncInloop."""

    def __init__(self, client: AsyncInloop):
        self._client = client

    async def pages(
        self, *, limit: int = 100, cursor: str | None = None
    ) -> AsyncIterator[GoldenItemPage]:
        while True:
            data = await self._client.request(
                "GET", "/golden-items", params=list_params(None, limit, cursor)
            )
            page = GoldenItemPage.model_validate(data)
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def list(
        self, *, limit: int = 100, cursor: str | None = None
    ) -> AsyncIterator[GoldenItem]:
        """`async for item in client.golden_items.list(): ...` over every page."""
        async for page in self.pages(limit=limit, cursor=cursor):
            for item in page.data:
                yield item


class AsyncOversightPolicies:
    """`client.oversight_policies` of an AsyncInloop."""

    def __init__(self, client: AsyncInloop):
        self._client = client

    async def list(self) -> list[Policy]:
        return PolicyList.model_validate(
            await self._client.request("GET", "/oversight-policies")
        ).data

    async def create(
        self,
        name: str,
        rules: Iterable[Rule | Mapping[str, Any]],
        *,
        note: str = "",
        is_default: bool = False,
    ) -> Policy:
        body = {"name": name, "rules": rules_body(rules), "note": note, "is_default": is_default}
        data = await self._client.request("POST", "/oversight-policies", json=body)
        return Policy.model_validate(data)

    async def get(self, name: str) -> Policy:
        return Policy.model_validate(await self._client.request("GET", policy_path(name)))

    async def update(
        self, name: str, rules: Iterable[Rule | Mapping[str, Any]], *, note: str = ""
    ) -> Policy:
        body = {"rules": rules_body(rules), "note": note}
        data = await self._client.request("PUT", policy_path(name), json=body)
        return Policy.model_validate(data)

    async def set_default(self, name: str) -> Policy:
        data = await self._client.request("POST", policy_path(name) + "/default")
        return Policy.model_validate(data)

    async def stats(self, name: str, *, first: date | None = None, last: date | None = None):
        """Items seen, sent to review, sampled and auto-approved per week and rule, with the audit
        miss rate and its Wilson interval, for the days `first`..`last` (UTC)."""
        data = await self._client.request(
            "GET", policy_path(name) + "/stats", params=period(first, last)
        )
        return OversightStats.model_validate(data)

    async def simulate(
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
        data = await self._client.request("POST", policy_path(name) + "/simulate", json=body)
        return Simulation.model_validate(data)
