"""A local Stripe for tests: localstripe plus the Connect pieces it lacks.

localstripe (PyPI, GPL-3.0) is used as an external tool: it is imported, never
copied or edited. This module

- runs it in a child process (``python tests/stripe_server.py``) bound to
  127.0.0.1 on a free port, so every ``LocalStripe`` has its own store, webhook
  registry and event loop (localstripe keeps all of these in module globals);
- keeps the store in memory: localstripe pickles it after every write to one
  hard-coded ``/tmp/localstripe.pickle`` and reloads it at start, which makes
  parallel instances share state and costs O(store) per write;
- adds Stripe Connect (accounts, account links, transfers, transfer reversals)
  by subclassing its ``StripeObject`` and adding routes to
  ``localstripe.server.app`` before the server starts;
- adds what the real Stripe does and localstripe does not: ``Idempotency-Key``
  replay on every ``POST /v1/...``, refunds capped at what is left on the charge,
  ``charge.refunded``/``refund.created``/``transfer.*``/``account.updated`` events;
- delivers webhooks itself, in order, after a configurable delay, and can tell
  tests when nothing is left to deliver;
- exposes test controls under ``/_test/`` (no API key needed): make the next
  transfers fail, make reversals of a transfer fail, finish onboarding of an
  account, count API calls, reset.

The parent side is ``LocalStripe`` (see its docstring) and ``running_localstripe()``.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import hashlib
import hmac
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import stripe

# ---------------------------------------------------------------------------
# Parent side: what tests use.
# ---------------------------------------------------------------------------

_START_TIMEOUT = 20.0


class LocalStripe:
    """One localstripe server in a child process.

    ``start()`` returns once the server answers. Objects live in memory only;
    ``reset()`` clears objects, idempotency keys, test controls, the call count
    and undelivered webhooks (registered webhook endpoints are kept).
    """

    api_key: str = "sk_test_localstripe"

    def __init__(self, *, webhook_delay: float = 0.2) -> None:
        # localstripe itself waits 1 s before each webhook; a short delay keeps
        # the realistic order (API response first, webhook later) without
        # slowing tests down.
        self.webhook_delay = webhook_delay
        self.base_url = ""
        self.log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._tmpdir: Path | None = None

    # -- lifecycle --------------------------------------------------------

    def start(self) -> LocalStripe:
        if self._process is not None:
            return self
        self._tmpdir = Path(tempfile.mkdtemp(prefix="localstripe-"))
        port_file = self._tmpdir / "port"
        self.log_path = self._tmpdir / "server.log"
        # -P: do not put tests/ first on the child's sys.path, where a test
        # package could shadow a real one.
        command = [
            sys.executable,
            "-P",
            str(Path(__file__).resolve()),
            "--port-file",
            str(port_file),
            "--parent-pid",
            str(os.getpid()),
            "--cleanup-dir",
            str(self._tmpdir),
            "--webhook-delay",
            str(self.webhook_delay),
        ]
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        atexit.register(self.stop)
        deadline = time.monotonic() + _START_TIMEOUT
        while not port_file.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                log_text = self.log_path.read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"localstripe did not start:\n{log_text}")
            time.sleep(0.02)
        self.base_url = f"http://127.0.0.1:{int(port_file.read_text())}"
        self._control("GET", "/_test/ping")
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
            self.log_path = None

    def __enter__(self) -> LocalStripe:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- clients ----------------------------------------------------------

    def client(self) -> stripe.StripeClient:
        import stripe

        return stripe.StripeClient(
            api_key=self.api_key,
            base_addresses={"api": self.base_url},
            max_network_retries=0,
        )

    # -- controls ---------------------------------------------------------

    def register_webhook(self, url: str, secret: str, *, events: list[str] | None = None) -> None:
        """Send every event (or only ``events``) to ``url``, signed with ``secret``.

        Registering the same URL again replaces the earlier registration.
        """
        webhook_id = "wh_" + hashlib.sha256(url.encode()).hexdigest()[:16]
        body: dict[str, Any] = {"url": url, "secret": secret}
        if events is not None:
            body["events"] = events
        self._control("POST", f"/_config/webhooks/{webhook_id}", body)

    def clear_webhooks(self) -> None:
        self._control("DELETE", "/_test/webhooks")

    def enable_payouts(self, account_id: str) -> None:
        """Finish onboarding: charges/payouts enabled, ``account.updated`` sent."""
        self._control("POST", f"/_test/accounts/{account_id}/enable_payouts")

    def disable_payouts(self, account_id: str) -> None:
        self._control("POST", f"/_test/accounts/{account_id}/disable_payouts")

    def fail_next_transfers(self, count: int = 1) -> None:
        """The next ``count`` transfer creations fail with ``balance_insufficient``."""
        self._control("POST", "/_test/fail_next_transfers", {"count": count})

    def refuse_reversals(self, transfer_id: str, refuse: bool = True) -> None:
        """Reversals of this transfer fail as if the connected account were empty."""
        self._control(
            "POST", f"/_test/transfers/{transfer_id}/refuse_reversals", {"refuse": refuse}
        )

    def fail_transfer(self, transfer_id: str) -> dict[str, Any]:
        """The transfer fails (it moved no money) and ``transfer.failed`` is sent; refused
        (HTTPError 400) once anything was reversed from it."""
        result: dict[str, Any] = self._control("POST", f"/_test/transfers/{transfer_id}/fail")
        return result

    def failed_transfers(self) -> set[str]:
        """Ids of the transfers failed by ``fail_transfer``."""
        return set(self._control("GET", "/_test/transfers/failed")["failed"])

    def calls(self) -> dict[str, int]:
        """API calls received since start/reset, keyed ``"POST /v1/transfers/{id}/reversals"``."""
        result: dict[str, int] = self._control("GET", "/_test/calls")
        return result

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """Attempts so far: ``{"event", "type", "url", "status", "error"}`` each."""
        result: dict[str, Any] = self._control("GET", "/_test/webhooks")
        deliveries: list[dict[str, Any]] = result["deliveries"]
        return deliveries

    def wait_for_webhooks(self, timeout: float = 10.0) -> None:
        """Block until every event emitted so far has been delivered (or failed)."""
        deadline = time.monotonic() + timeout
        while self._control("GET", "/_test/webhooks")["pending"]:
            if time.monotonic() > deadline:
                raise TimeoutError("localstripe webhooks still pending")
            time.sleep(0.02)

    def reset(self) -> None:
        self._control("POST", "/_test/reset")

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            raise RuntimeError(
                f"localstripe {method} {path}: {error.code} {error.read().decode(errors='replace')}"
            ) from error
        return json.loads(payload) if payload else None


@contextlib.contextmanager
def running_localstripe(*, webhook_delay: float = 0.2) -> Iterator[LocalStripe]:
    server = LocalStripe(webhook_delay=webhook_delay).start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------
# Child side: the server. Only imported for real in the child process.
# ---------------------------------------------------------------------------


def _serve(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="localstripe with Stripe Connect, for tests")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", type=Path)
    parser.add_argument("--parent-pid", type=int)
    parser.add_argument("--cleanup-dir", type=Path, help="removed if the parent dies first")
    parser.add_argument("--webhook-delay", type=float, default=0.2)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from aiohttp import web

    # localstripe listens on all interfaces and has no --host: bind ourselves.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(128)  # accept connections into the backlog before the loop runs
    port = sock.getsockname()[1]
    app = _build_app(
        base_url=f"http://127.0.0.1:{port}",
        webhook_delay=args.webhook_delay,
        parent_pid=args.parent_pid,
        cleanup_dir=args.cleanup_dir,
    )
    if args.port_file:
        partial = args.port_file.with_suffix(".partial")
        partial.write_text(str(port))
        partial.replace(args.port_file)  # atomic: the parent never reads half a number
    web.run_app(app, sock=sock, print=None, access_log=None)


def _build_app(
    *, base_url: str, webhook_delay: float, parent_pid: int | None, cleanup_dir: Path | None
) -> Any:
    """Patch localstripe and return its aiohttp app with our additions."""
    from localstripe import resources, server, webhooks  # type: ignore[import-untyped]

    # In-memory store: no shared pickle file, no pickling on every write.
    resources.Store.try_load_from_disk = lambda self: None
    resources.Store.dump_to_disk = lambda self: None

    state = _State(base_url=base_url)
    dispatcher = _WebhookDispatcher(delay=webhook_delay, registry=webhooks._webhooks)
    state.dispatcher = dispatcher
    # localstripe's resources call the module-global ``schedule_webhook``
    # (fire-and-forget, 1 s sleep, unordered); route them to our dispatcher.
    resources.schedule_webhook = dispatcher.enqueue
    _Connect.install(state)
    _patch_refunds(state)

    app = server.app
    _add_middlewares(app, state, server)
    _add_routes(app, state, server)

    background: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def on_startup(_app: Any) -> None:
        dispatcher.start()
        if parent_pid:
            background.add(
                asyncio.get_running_loop().create_task(_exit_with_parent(parent_pid, cleanup_dir))
            )

    async def on_cleanup(_app: Any) -> None:
        await dispatcher.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


async def _exit_with_parent(parent_pid: int, cleanup_dir: Path | None) -> None:
    # A killed pytest must not leave servers (or their temp dirs) behind.
    while os.getppid() == parent_pid:
        await asyncio.sleep(1)
    if cleanup_dir is not None:
        shutil.rmtree(cleanup_dir, ignore_errors=True)
    os._exit(0)


# -- shared state ------------------------------------------------------------


@dataclass
class _SavedResponse:
    params: Any
    status: int | None = None  # None while the first request is still running
    body: bytes = b""


@dataclass
class _State:
    base_url: str
    calls: Counter[str] = field(default_factory=Counter)
    idempotency: dict[tuple[str, str], _SavedResponse] = field(default_factory=dict)
    fail_next_transfers: int = 0
    dispatcher: _WebhookDispatcher | None = None

    def emit(
        self,
        event_type: str,
        obj: Any,
        *,
        account: str | None = None,
        previous_attributes: dict[str, Any] | None = None,
    ) -> None:
        """Store an event (listed by GET /v1/events) and queue it for webhooks."""
        from localstripe.resources import Event

        event = Event(event_type, obj)
        if account is not None:
            event.account = account
        if previous_attributes is not None:
            event.data["previous_attributes"] = previous_attributes
        assert self.dispatcher is not None
        self.dispatcher.enqueue(event)


# -- errors ------------------------------------------------------------------


def _stripe_error(
    status: int,
    message: str,
    *,
    error_type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    executed: bool = False,
) -> Exception:
    """A localstripe ``UserError`` with Stripe's full error shape.

    ``executed`` marks errors raised after the endpoint started working (e.g.
    insufficient funds): Stripe saves those under the idempotency key and
    replays them, unlike validation errors.
    """
    from localstripe.errors import UserError

    contents = {key: value for key, value in (("code", code), ("param", param)) if value}
    error = UserError(status, message, contents)
    # UserError always writes type=invalid_request_error; restore ours.
    error.body["error"]["type"] = error_type
    error.executed = executed
    return error


def _int_param(value: Any, name: str, *, minimum: int = 1) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number < minimum or str(number) != str(value).strip():
        raise _stripe_error(400, f"Invalid integer: {value}", param=name)
    return number


def _str_param(value: Any, name: str, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise _stripe_error(400, f"Missing required param: {name}.", param=name)
    return value


def _metadata_param(value: Any) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _stripe_error(400, "Invalid metadata: must be a hash of strings", param="metadata")
    return dict(value)


def _reject_unknown(params: dict[str, Any]) -> None:
    if params:
        name = sorted(params)[0]
        raise _stripe_error(400, f"Received unknown parameter: {name}", param=name)


# -- Connect resources -------------------------------------------------------


_DEFAULT_CURRENCY = {"US": "usd", "GB": "gbp", "CA": "cad", "AU": "aud", "CH": "chf"}
_ONBOARDING_REQUIREMENTS = [
    "business_type",
    "external_account",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]


class _Connect:
    """Namespace for the Connect classes, built lazily (they subclass localstripe's)."""

    Account: Any
    AccountLink: Any
    Transfer: Any
    TransferReversal: Any

    @classmethod
    def install(cls, state: _State) -> None:
        from localstripe.resources import List, StripeObject

        class Account(StripeObject):  # type: ignore[misc]
            object = "account"
            _id_prefix = "acct_"

            def __init__(
                self,
                type: str = "standard",
                country: str = "US",
                email: str | None = None,
                capabilities: Any = None,
                metadata: Any = None,
                business_type: str | None = None,
                default_currency: str | None = None,
                # accepted and ignored, so realistic calls do not fail
                business_profile: Any = None,
                controller: Any = None,
                settings: Any = None,
                tos_acceptance: Any = None,
                **unknown: Any,
            ) -> None:
                _reject_unknown(unknown)
                if type not in ("express", "standard", "custom"):
                    raise _stripe_error(400, f"Invalid type: {type}", param="type")
                _str_param(country, "country", required=True)
                _str_param(email, "email")
                requested = capabilities or {}
                if not isinstance(requested, dict):
                    raise _stripe_error(400, "Invalid capabilities", param="capabilities")
                metadata = _metadata_param(metadata)
                # All exceptions must be raised before this point (the base
                # constructor stores the object).
                super().__init__()
                self.type = type
                self.country = country.upper()
                self.email = email
                self.business_type = business_type
                self.default_currency = default_currency or _DEFAULT_CURRENCY.get(
                    self.country, "eur"
                )
                self.metadata = metadata
                self.capabilities = {
                    name: "inactive"
                    for name, options in requested.items()
                    if isinstance(options, dict) and str(options.get("requested")).lower() == "true"
                }
                self.charges_enabled = False
                self.payouts_enabled = False
                self.details_submitted = False
                self.requirements = {
                    "currently_due": list(_ONBOARDING_REQUIREMENTS),
                    "eventually_due": list(_ONBOARDING_REQUIREMENTS),
                    "past_due": [],
                    "disabled_reason": "requirements.past_due",
                }

            @classmethod
            def _api_update(cls, id: str, **data: Any) -> Any:
                allowed = {"email", "metadata", "business_type", "default_currency"}
                _reject_unknown({k: v for k, v in data.items() if k not in allowed})
                return super()._api_update(id, **data)

            @classmethod
            def _api_list_all(
                cls, url: str, limit: Any = None, starting_after: Any = None, **kwargs: Any
            ) -> Any:
                li = super()._api_list_all(
                    url, limit=limit, starting_after=starting_after, **kwargs
                )
                li._list.reverse()  # newest first, like Stripe
                return li

            def _set_onboarded(self, enabled: bool) -> None:
                previous = {
                    "charges_enabled": self.charges_enabled,
                    "payouts_enabled": self.payouts_enabled,
                    "details_submitted": self.details_submitted,
                    "capabilities": dict(self.capabilities),
                }
                self.charges_enabled = enabled
                self.payouts_enabled = enabled
                self.details_submitted = self.details_submitted or enabled
                status = "active" if enabled else "inactive"
                self.capabilities = dict.fromkeys(sorted({*self.capabilities, "transfers"}), status)
                due = [] if enabled else list(_ONBOARDING_REQUIREMENTS)
                self.requirements = {
                    "currently_due": due,
                    "eventually_due": list(due),
                    "past_due": [],
                    "disabled_reason": None if enabled else "requirements.past_due",
                }
                # Connect events carry the connected account's id; real Stripe
                # sends them to "Connect" webhook endpoints.
                state.emit("account.updated", self, account=self.id, previous_attributes=previous)

        class AccountLink:
            """Not stored by Stripe either (no id): a one-shot onboarding URL."""

            object = "account_link"

            def __init__(self, url: str) -> None:
                self.created = int(time.time())
                self.expires_at = self.created + 300
                self.url = url

            @classmethod
            def _api_create(
                cls,
                account: Any = None,
                refresh_url: Any = None,
                return_url: Any = None,
                type: Any = None,
                collect: Any = None,
                collection_options: Any = None,
                **unknown: Any,
            ) -> AccountLink:
                _reject_unknown(unknown)
                account_id = _str_param(account, "account", required=True)
                if type not in ("account_onboarding", "account_update"):
                    raise _stripe_error(400, f"Invalid type: {type}", param="type")
                _str_param(refresh_url, "refresh_url", required=True)
                _str_param(return_url, "return_url", required=True)
                Account._api_retrieve(account_id)
                # Visiting the URL completes onboarding and redirects to return_url.
                query = urllib.parse.urlencode({"return_url": return_url})
                return cls(f"{state.base_url}/_test/onboarding/{account_id}?{query}")

            def _export(self, expand: Any = None) -> dict[str, Any]:
                return {
                    "object": self.object,
                    "created": self.created,
                    "expires_at": self.expires_at,
                    "url": self.url,
                }

        class TransferReversal(StripeObject):  # type: ignore[misc]
            object = "transfer_reversal"
            _id_prefix = "trr_"

            def __init__(self, transfer: Any, amount: int, metadata: dict[str, str]) -> None:
                super().__init__()
                transfer._reversals.insert(0, self)  # newest first, like Stripe
                self.amount = amount
                self.currency = transfer.currency
                self.transfer = transfer.id
                self.metadata = metadata
                self.balance_transaction = None
                self.destination_payment_refund = None
                self.source_refund = None

        class Transfer(StripeObject):  # type: ignore[misc]
            object = "transfer"
            _id_prefix = "tr_"

            def __init__(
                self,
                amount: Any = None,
                currency: Any = None,
                destination: Any = None,
                description: Any = None,
                metadata: Any = None,
                transfer_group: Any = None,
                source_transaction: Any = None,
                **unknown: Any,
            ) -> None:
                _reject_unknown(unknown)
                amount_cents = _int_param(amount, "amount")
                currency_code = _str_param(currency, "currency", required=True)
                destination_id = _str_param(destination, "destination", required=True)
                _str_param(description, "description")
                _str_param(transfer_group, "transfer_group")
                _str_param(source_transaction, "source_transaction")
                metadata = _metadata_param(metadata)
                account = state_accounts_get(destination_id)
                if account is None:
                    raise _stripe_error(
                        400,
                        f"No such destination: '{destination_id}'",
                        code="resource_missing",
                        param="destination",
                    )
                if account.capabilities.get("transfers") != "active":
                    raise _stripe_error(
                        400,
                        "Your destination account needs to have at least one of the following "
                        "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                        code="insufficient_capabilities_for_transfer",
                        param="destination",
                    )
                if state.fail_next_transfers > 0:
                    state.fail_next_transfers -= 1
                    raise _stripe_error(
                        400,
                        "You have insufficient available funds in your Stripe account. "
                        "(simulated by localstripe test control)",
                        code="balance_insufficient",
                        executed=True,
                    )
                super().__init__()
                self.amount = amount_cents
                self.currency = currency_code.lower()
                self.destination = destination_id
                self.destination_payment = "py_" + self.id[3:]
                self.description = description
                self.metadata = metadata
                self.transfer_group = transfer_group
                self.source_transaction = source_transaction
                self.source_type = "card"
                self.balance_transaction = None
                self._refuse_reversals = False
                self._reversals: list[Any] = []
                self._failed = False
                state.emit("transfer.created", self)

            @property
            def reversals(self) -> Any:
                li = List(f"/v1/transfers/{self.id}/reversals")
                li._list = list(self._reversals)
                return li

            @property
            def amount_reversed(self) -> int:
                return sum(reversal.amount for reversal in self._reversals)

            @property
            def reversed(self) -> bool:
                return self.amount_reversed >= self.amount

            @classmethod
            def _api_update(cls, id: str, **data: Any) -> Any:
                allowed = {"description", "metadata"}
                _reject_unknown({k: v for k, v in data.items() if k not in allowed})
                return super()._api_update(id, **data)

            @classmethod
            def _api_list_all(
                cls,
                url: str,
                limit: Any = None,
                starting_after: Any = None,
                destination: Any = None,
                transfer_group: Any = None,
                **kwargs: Any,
            ) -> Any:
                li = super()._api_list_all(
                    url, limit=limit, starting_after=starting_after, **kwargs
                )
                li._list = [
                    transfer
                    for transfer in reversed(li._list)  # newest first, like Stripe
                    if destination in (None, transfer.destination)
                    and transfer_group in (None, transfer.transfer_group)
                ]
                return li

            @classmethod
            def _api_create_reversal(
                cls,
                id: str,
                amount: Any = None,
                metadata: Any = None,
                description: Any = None,
                refund_application_fee: Any = None,
                **unknown: Any,
            ) -> Any:
                _reject_unknown(unknown)
                transfer = cls._api_retrieve(id)
                left = transfer.amount - transfer.amount_reversed
                requested = left if amount is None else _int_param(amount, "amount")
                metadata = _metadata_param(metadata)
                if transfer._failed:
                    raise _stripe_error(
                        400, f"Transfer {transfer.id} failed: there is nothing to reverse."
                    )
                if left == 0:
                    raise _stripe_error(
                        400, f"Transfer {transfer.id} is already fully reversed.", param="amount"
                    )
                if requested > left:
                    raise _stripe_error(
                        400,
                        f"Amount requested to reverse ({requested}) exceeds the amount "
                        f"that can be reversed ({left}).",
                        param="amount",
                    )
                if transfer._refuse_reversals:
                    raise _stripe_error(
                        400,
                        "Insufficient funds in the connected account to reverse this transfer. "
                        "(simulated by localstripe test control)",
                        code="balance_insufficient",
                        executed=True,
                    )
                reversal = TransferReversal(transfer, requested, metadata)
                state.emit("transfer.reversed", transfer)
                return reversal

            @classmethod
            def _api_list_reversals(
                cls, id: str, limit: Any = None, starting_after: Any = None, **unknown: Any
            ) -> Any:
                _reject_unknown(unknown)
                transfer = cls._api_retrieve(id)
                li = List(
                    f"/v1/transfers/{id}/reversals", limit=limit, starting_after=starting_after
                )
                li._list = list(transfer._reversals)
                return li

            @classmethod
            def _api_retrieve_reversal(cls, id: str, reversal_id: str, **unknown: Any) -> Any:
                _reject_unknown(unknown)
                cls._api_retrieve(id)
                reversal = TransferReversal._api_retrieve(reversal_id)
                if reversal.transfer != id:
                    raise _stripe_error(
                        404, f"No such transfer reversal: '{reversal_id}'", code="resource_missing"
                    )
                return reversal

        def state_accounts_get(account_id: str) -> Any:
            from localstripe.resources import store

            return store.get("account:" + account_id)

        cls.Account = Account
        cls.AccountLink = AccountLink
        cls.Transfer = Transfer
        cls.TransferReversal = TransferReversal


def _patch_refunds(state: _State) -> None:
    """Refuse refunds beyond what is left on the charge; emit refund events.

    localstripe accepts any refund amount and sends no refund events.
    """
    from localstripe.resources import Charge, PaymentIntent, Refund

    original_create = Refund._api_create

    def create(cls: Any, **data: Any) -> Any:
        charge = None
        with contextlib.suppress(Exception):  # unresolved: let localstripe's validation answer
            if isinstance(data.get("payment_intent"), str):
                intent = PaymentIntent._api_retrieve(data["payment_intent"])
                charge = intent.latest_charge
            elif isinstance(data.get("charge"), str):
                charge = Charge._api_retrieve(data["charge"])
        if charge is not None and charge.status == "succeeded":
            left = charge.amount - charge.amount_refunded
            if left <= 0:
                raise _stripe_error(
                    400,
                    f"Charge {charge.id} has already been refunded.",
                    code="charge_already_refunded",
                )
            if data.get("amount") is None:
                data["amount"] = left  # Stripe refunds what is left, localstripe the full charge
            elif _int_param(data["amount"], "amount") > left:
                raise _stripe_error(
                    400,
                    f"Refund amount ({data['amount']}) is greater than unrefunded amount on charge ({left})",
                    code="amount_too_large",
                    param="amount",
                )
        refund = original_create(**data)
        state.emit("refund.created", refund)
        state.emit("charge.refunded", Charge._api_retrieve(refund.charge))
        return refund

    Refund._api_create = classmethod(create)


# -- middlewares -------------------------------------------------------------


Handler = Callable[[Any], Awaitable[Any]]


def _add_middlewares(app: Any, state: _State, server: Any) -> None:
    from aiohttp import web

    @web.middleware
    async def count_calls(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/_test/"):
            resource = request.match_info.route.resource
            path = resource.canonical if resource is not None else request.path
            state.calls[f"{request.method} {path}"] += 1
        return await handler(request)

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Test controls and the fake onboarding page need no API key (like
        # localstripe's own /_config/ routes).
        if request.path.startswith("/_test/"):
            return await handler(request)
        return await server.auth_middleware(request, handler)

    @web.middleware
    async def idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or not request.path.startswith("/v1/"):
            return await handler(request)
        # Keys are per API key; the request is compared by parameters, not bytes.
        scope = (request.headers.get("Authorization", ""), key)
        params = (request.path, dict(await server.get_post_data(request, remove_auth=False) or {}))
        saved = state.idempotency.get(scope)
        if saved is not None:
            if saved.params != params:
                raise _stripe_error(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                    error_type="idempotency_error",
                )
            if saved.status is None:
                raise _stripe_error(
                    409,
                    "There is currently another in-progress request using this Idempotency Key.",
                    code="idempotency_key_in_use",
                )
            return web.Response(
                status=saved.status,
                body=saved.body,
                content_type="application/json",
                headers={"Idempotent-Replayed": "true", "Idempotency-Key": key},
            )
        saved = state.idempotency[scope] = _SavedResponse(params=params)
        executed = False
        try:
            try:
                response = await handler(request)
                executed = 200 <= response.status < 300
            except server.UserError as error:
                response = error.to_response()
                # 402 = card declined: the payment was attempted.
                executed = getattr(error, "executed", False) or error.code == 402
        finally:
            if executed:
                saved.status = response.status
                saved.body = response.body
            else:  # validation failed or crashed: Stripe saves nothing
                del state.idempotency[scope]
        response.headers["Idempotency-Key"] = key
        return response

    # localstripe's order is [error_middleware, auth_middleware, save_store_middleware]
    # (first = outermost). Counting goes outside everything; idempotency sits
    # after auth so unauthenticated calls are never saved.
    error_middleware, _auth_middleware, save_store_middleware = app.middlewares
    app.middlewares[:] = [count_calls, error_middleware, auth, idempotency, save_store_middleware]


# -- routes ------------------------------------------------------------------


def _add_routes(app: Any, state: _State, server: Any) -> None:
    from aiohttp import web
    from localstripe import webhooks
    from localstripe.resources import store

    connect = _Connect
    json_response = server.json_response

    def call(func: Callable[..., Any]) -> Handler:
        """Like localstripe's api_extra, but passes every URL parameter."""

        async def handler(request: web.Request) -> web.StreamResponse:
            data = dict(await server.get_post_data(request) or {})
            data.update(server.unflatten_data(request.query) or {})
            data.update(request.match_info)
            expand = data.pop("expand", None)
            return json_response(func(**data)._export(expand=expand))

        return handler

    router = app.router
    for cls, plural in ((connect.Account, "accounts"), (connect.Transfer, "transfers")):
        url = f"/v1/{plural}"
        router.add_post(url, server.api_create(cls, url))
        router.add_get(url, server.api_list_all(cls, url))
        router.add_get(url + "/{id}", server.api_retrieve(cls, url))
        router.add_post(url + "/{id}", server.api_update(cls, url))
    router.add_delete("/v1/accounts/{id}", server.api_delete(connect.Account, "/v1/accounts"))
    router.add_post(
        "/v1/account_links", server.api_create(connect.AccountLink, "/v1/account_links")
    )
    router.add_post("/v1/transfers/{id}/reversals", call(connect.Transfer._api_create_reversal))
    router.add_get("/v1/transfers/{id}/reversals", call(connect.Transfer._api_list_reversals))
    router.add_get(
        "/v1/transfers/{id}/reversals/{reversal_id}", call(connect.Transfer._api_retrieve_reversal)
    )

    # --- test controls ---

    async def body_of(request: web.Request) -> dict[str, Any]:
        return dict(await server.get_post_data(request) or {})

    async def ping(request: web.Request) -> web.StreamResponse:
        return json_response({"ok": True})

    async def set_payouts(request: web.Request) -> web.StreamResponse:
        account = connect.Account._api_retrieve(request.match_info["id"])
        account._set_onboarded(request.path.endswith("/enable_payouts"))
        return json_response(account._export())

    async def onboarding(request: web.Request) -> web.StreamResponse:
        account = connect.Account._api_retrieve(request.match_info["id"])
        if not account.payouts_enabled:
            account._set_onboarded(True)
        raise web.HTTPFound(request.query.get("return_url", "/"))

    async def fail_next_transfers(request: web.Request) -> web.StreamResponse:
        state.fail_next_transfers = int((await body_of(request)).get("count", 1))
        return json_response({"fail_next_transfers": state.fail_next_transfers})

    async def refuse_reversals(request: web.Request) -> web.StreamResponse:
        transfer = connect.Transfer._api_retrieve(request.match_info["id"])
        transfer._refuse_reversals = bool((await body_of(request)).get("refuse", True))
        return json_response({"refuse_reversals": transfer._refuse_reversals})

    async def fail_transfer(request: web.Request) -> web.StreamResponse:
        # The money never reached the account (a failed transfer moves nothing); only a
        # transfer nothing was reversed from can fail.
        transfer = connect.Transfer._api_retrieve(request.match_info["id"])
        if transfer._reversals:
            return json_response({"error": "reversed transfers cannot fail"}, status=400)
        if not transfer._failed:
            transfer._failed = True
            state.emit("transfer.failed", transfer)
        return json_response(transfer._export())

    async def failed_transfers(request: web.Request) -> web.StreamResponse:
        failed = [
            obj.id
            for obj in store.values()
            if isinstance(obj, connect.Transfer) and getattr(obj, "_failed", False)
        ]
        return json_response({"failed": failed})

    async def calls(request: web.Request) -> web.StreamResponse:
        return json_response(dict(state.calls))

    async def webhook_status(request: web.Request) -> web.StreamResponse:
        assert state.dispatcher is not None
        return json_response(
            {"pending": state.dispatcher.pending, "deliveries": state.dispatcher.deliveries}
        )

    async def clear_webhooks(request: web.Request) -> web.StreamResponse:
        webhooks._webhooks.clear()
        return json_response({"ok": True})

    async def reset(request: web.Request) -> web.StreamResponse:
        store.clear()
        state.idempotency.clear()
        state.calls.clear()
        state.fail_next_transfers = 0
        assert state.dispatcher is not None
        state.dispatcher.reset()
        return json_response({"ok": True})

    router.add_get("/_test/ping", ping)
    router.add_post("/_test/accounts/{id}/enable_payouts", set_payouts)
    router.add_post("/_test/accounts/{id}/disable_payouts", set_payouts)
    router.add_get("/_test/onboarding/{id}", onboarding)
    router.add_post("/_test/fail_next_transfers", fail_next_transfers)
    router.add_post("/_test/transfers/{id}/refuse_reversals", refuse_reversals)
    router.add_post("/_test/transfers/{id}/fail", fail_transfer)
    router.add_get("/_test/transfers/failed", failed_transfers)
    router.add_get("/_test/calls", calls)
    router.add_get("/_test/webhooks", webhook_status)
    router.add_delete("/_test/webhooks", clear_webhooks)
    router.add_post("/_test/reset", reset)


# -- webhooks ----------------------------------------------------------------


class _WebhookDispatcher:
    """Delivers events one at a time, in order, ``delay`` seconds after emission.

    Uses localstripe's webhook registry (filled by ``POST /_config/webhooks/<id>``)
    and Stripe's signature scheme (``t=<unix>,v1=<hmac-sha256 of "t.payload">``).
    Failed deliveries are logged and recorded, never retried.
    """

    def __init__(self, *, delay: float, registry: dict[str, Any]) -> None:
        self.delay = delay
        self.registry = registry
        self.deliveries: list[dict[str, Any]] = []
        self._queue: asyncio.Queue[tuple[float, int, Any]] | None = None
        self._in_flight = 0
        self._generation = 0
        self._task: asyncio.Task[None] | None = None
        self._log = logging.getLogger("localstripe.webhooks")

    @property
    def pending(self) -> int:
        return (self._queue.qsize() if self._queue else 0) + self._in_flight

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def enqueue(self, event: Any) -> None:
        assert self._queue is not None, "events before the server started"
        due = asyncio.get_running_loop().time() + self.delay
        self._queue.put_nowait((due, self._generation, event))

    def reset(self) -> None:
        self._generation += 1  # an event already taken from the queue is dropped
        assert self._queue is not None
        while not self._queue.empty():
            self._queue.get_nowait()
        self.deliveries.clear()

    async def _run(self) -> None:
        import aiohttp

        assert self._queue is not None
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            while True:
                due, generation, event = await self._queue.get()
                self._in_flight += 1
                try:
                    await asyncio.sleep(max(0.0, due - loop.time()))
                    if generation == self._generation:
                        await self._deliver(session, event)
                finally:
                    self._in_flight -= 1

    async def _deliver(self, session: Any, event: Any) -> None:
        import aiohttp

        payload = json.dumps(event._export(), indent=2, sort_keys=True).encode()
        for webhook in list(self.registry.values()):
            if webhook.events is not None and event.type not in webhook.events:
                continue
            timestamp = int(time.time())
            signature = hmac.new(
                webhook.secret.encode(), b"%d.%s" % (timestamp, payload), hashlib.sha256
            ).hexdigest()
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": f"t={timestamp},v1={signature}",
            }
            record: dict[str, Any] = {
                "event": event.id,
                "type": event.type,
                "url": webhook.url,
                "status": None,
                "error": None,
            }
            try:
                async with session.post(webhook.url, data=payload, headers=headers) as response:
                    record["status"] = response.status
            except (TimeoutError, aiohttp.ClientError) as error:
                record["error"] = repr(error)
            self.deliveries.append(record)
            self._log.info(
                "webhook %s %s -> %s", event.type, webhook.url, record["status"] or record["error"]
            )


if __name__ == "__main__":
    _serve(sys.argv[1:])
