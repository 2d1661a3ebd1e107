"""Inloop's Python client: `Inloop` (sync) and `AsyncInloop` (asyncio), typed models, errors and
webhook verification. The `inloop` command line is `inloop.cli`."""

from inloop import webhooks
from inloop._async import AsyncInloop
from inloop._client import Inloop
from inloop._retry import RetryPolicy
from inloop._version import API_VERSION, __version__
from inloop.errors import (
    InloopAPIError,
    InloopAuthenticationError,
    InloopBadRequest,
    InloopChecksumError,
    InloopConflict,
    InloopConnectionError,
    InloopError,
    InloopGone,
    InloopIdempotencyConflict,
    InloopNotFound,
    InloopPayloadTooLarge,
    InloopPermissionDenied,
    InloopRateLimited,
    InloopServerError,
    InloopSignatureError,
    InloopTimeout,
    InloopValidationError,
    InloopWaitTimeout,
)

__all__ = [
    "API_VERSION",
    "AsyncInloop",
    "Inloop",
    "InloopAPIError",
    "InloopAuthenticationError",
    "InloopBadRequest",
    "InloopChecksumError",
    "InloopConflict",
    "InloopConnectionError",
    "InloopError",
    "InloopGone",
    "InloopIdempotencyConflict",
    "InloopNotFound",
    "InloopPayloadTooLarge",
    "InloopPermissionDenied",
    "InloopRateLimited",
    "InloopServerError",
    "InloopSignatureError",
    "InloopTimeout",
    "InloopValidationError",
    "InloopWaitTimeout",
    "RetryPolicy",
    "__version__",
    "webhooks",
]
