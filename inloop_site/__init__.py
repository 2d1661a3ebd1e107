"""The composition package: settings, root URLs, ASGI entry, websocket routing, the API's
routers, and the pages and commands that use several apps at once (the company dashboard, the
operator console, demo data, the schedule). It may import every app; no app imports it."""
