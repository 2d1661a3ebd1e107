"""ASGI entry: HTTP through Django, websockets through Channels (origin and session checked)."""

from __future__ import annotations

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inloop_site.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from inloop_site.routing import websocket_urlpatterns  # noqa: E402
from marketplace.middleware import ApiBodyLimit  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": ApiBodyLimit(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

# Everything loaded so far (Django, the apps, their modules) lives as long as the process: moved
# out of the collector's sight, so full collections scan only what sockets and requests made.
# With 1,000 sockets a full collection otherwise paused daphne for 140-310 ms (README,
# "Workspace benchmark").
gc.freeze()
