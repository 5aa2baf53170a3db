"""gunicorn settings from the environment. Imports nothing from the app: the gevent worker must
patch the standard library before psycopg is imported (so no preload either)."""

import os
import sys

# Containers and PaaS routers reach the app on every interface; `make run` binds 127.0.0.1.
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gevent"
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "10000"))
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "5"))
timeout = 30
keepalive = 5
accesslog = os.environ.get("ACCESS_LOG") or None
preload_app = False
# The control socket lives at one path per user (~/.gunicorn/gunicorn.ctl): a second master on
# the same machine would take it over, and a command meant for one would reach the other.
control_socket_disable = True


def post_worker_init(worker):  # noqa: ANN001, ANN201 - gunicorn's hook
    """On SIGTERM (a redeploy, a dyno restart, HUP's graceful reload of every worker) send the
    worker's live connections elsewhere at once (WebSocket 1012, SSE `reconnect`), then let
    gunicorn finish the requests in flight within GRACEFUL_TIMEOUT (SPEC §16)."""
    import signal

    import gevent

    graceful_exit = worker.handle_exit

    def exit_gracefully(sig, frame):  # noqa: ANN001, ANN202
        graceful_exit(sig, frame)  # stop accepting; the worker's loop then waits for requests
        services = getattr(worker.wsgi, "extensions", {}).get("scoreboard")
        if services is not None:
            gevent.spawn(services.drain)

    signal.signal(signal.SIGTERM, exit_gracefully)


def worker_exit(server, worker):  # noqa: ANN001, ANN201 - gunicorn's hook
    """Export the worker's last spans before it goes (when tracing is on)."""
    tracing = sys.modules.get("app.tracing")
    if tracing is not None:
        tracing.stop()
