"""Test settings: the real settings module with fast, isolated backends for pytest."""

from __future__ import annotations

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

from inloop_site.settings import *  # noqa: F403
from inloop_site.settings import BASE_DIR, CACHES, CHANNEL_LAYERS, EMBEDDED_VALKEY

# Manifest storage needs collectstatic; tests use plain storage (see PITFALLS.md).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = BASE_DIR / ".test-media"
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
if EMBEDDED_VALKEY:
    # Without REDIS_URL nobody starts a Valkey for pytest: tests run consumers and tasks in
    # this one process, where the in-memory layer suffices. Tests of several processes start
    # the Procfile's processes, the embedded Valkey among them (tests/system).
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    # The two xdist workers share one Redis, and their databases hand out the same ids: groups
    # such as "workspace.1" and "user.3" and rate-limit counters such as "key:1" would cross
    # between them (a logout in one worker closing a socket in the other). Each worker keeps to
    # its own prefixes (the cache's apart from the channel layer's, so that a test's
    # `cache.clear()` leaves groups alone, as in production); the daphnes of tests/scale
    # inherit them from the environment.
    _worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"test-{_worker}"
    CACHES["default"]["KEY_PREFIX"] = f"test-{_worker}-cache"
