"""gunicorn settings for stationmap in production (compose and systemd both start gunicorn with this file).

Each worker opens its own connections to PostgreSQL and Redis (the app is not preloaded: connections never
cross a fork). `WEB_CONCURRENCY` (workers, as gunicorn itself reads it), `GUNICORN_BIND` and
`GUNICORN_LOG_LEVEL` override the defaults below.
"""
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
timeout = 60  # no request computes for long: costly questions run apart (202 and polling)
graceful_timeout = 20  # a stopped or reloaded worker finishes the request it has
keepalive = 5  # behind a reverse proxy that keeps connections open
max_requests = 5000  # workers are replaced now and then (with jitter, not all at once)
max_requests_jitter = 500
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
control_socket_disable = True  # no control socket in the service user's home (nothing uses it)
