"""gunicorn settings from the environment. Imports nothing from the app: the gevent worker must
patch the standard library before psycopg is imported (so no preload either)."""

import os
import shutil
import sys
import tempfile

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

_MADE_HERE = "SCOREBOARD_METRICS_DIR_MADE"  # the environment remembers across HUP's re-read of this file


def on_starting(server):  # noqa: ANN001, ANN201 - gunicorn's hook
    """Every worker keeps its Prometheus series in files of one directory, which /metrics sums, so a
    scrape describes the whole host (prometheus_client's multiprocess mode). The directory is fresh
    for each start of the master: a counter then counts from this start, across worker restarts."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    # The operator's own directory is emptied (its files describe processes long gone); one that
    # an old master made for itself (USR2 re-exec) stays the old master's: this one makes its own.
    if path and path != os.environ.get(_MADE_HERE):
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if name.endswith(".db"):
                os.remove(os.path.join(path, name))
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="scoreboard-metrics-")
        os.environ[_MADE_HERE] = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def child_exit(server, worker):  # noqa: ANN001, ANN201 - gunicorn's hook
    """A worker that ended no longer counts in the gauges of live things (its connections)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # noqa: ANN001, ANN201 - gunicorn's hook
    """Remove the metrics directory this master made (an operator's own stays)."""
    if os.environ.get(_MADE_HERE) == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(os.environ[_MADE_HERE], ignore_errors=True)


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
    """Before the worker goes: count its last submits on the admin page's activity, and export
    its last spans (when tracing is on)."""
    services = getattr(worker.wsgi, "extensions", {}).get("scoreboard")
    if services is not None:
        services.activity.flush()
    tracing = sys.modules.get("app.tracing")
    if tracing is not None:
        tracing.stop()
