"""Flask-SocketIO baseline for bench/live.py: the same broadcast, done the customary way.

Runs in its own scratch virtualenv (never the project's), which bench/live.py creates:

    python3 -m venv /tmp/sio-venv
    /tmp/sio-venv/bin/pip install flask-socketio gevent gunicorn packaging simple-websocket redis

Two roles in one file:

* the server, under gunicorn's gevent worker (Flask-SocketIO's documented deployment):

      SIO_MESSAGE_QUEUE=redis://127.0.0.1:6379/13 \\
      /tmp/sio-venv/bin/gunicorn -k gevent -w 2 --worker-connections 20000 \\
          --chdir bench live_socketio_app:app

  WebSocket is the only transport (python-engineio's `transports=["websocket"]`), so no sticky
  sessions are needed and several workers can share one listening socket; the workers hear
  emits through the Redis message queue, the setup Flask-SocketIO documents for more than one
  process (and the analogue of the app's own Redis pub/sub between workers). WebSocket comes from
  simple-websocket (wsproto), which accepts permessage-deflate whenever the client offers it, as
  every browser does: each message is then compressed once per connection.

* the publisher, a separate process standing in for "a score was committed":

      /tmp/sio-venv/bin/python bench/live_socketio_app.py emit --rate 10 --duration 30 \\
          --message message.json --out commits.json

  emits `leaderboard_update` with the given JSON message (its `seq` counting up from
  --first-seq, its `timestamp` refreshed) through the message queue, `rate` times a second,
  and writes [[seq, t_after_emit_ms, t_before_emit_ms], ...] on CLOCK_MONOTONIC, the clock the
  viewers record receive times on.
"""

from __future__ import annotations

import os
import sys

if __name__ != "__main__":  # the gunicorn worker: gevent first, as the app's wsgi.py does
    from gevent import monkey

    monkey.patch_all()

import json
import time
from datetime import UTC, datetime

from flask import Flask
from flask_socketio import SocketIO

QUEUE = os.environ.get("SIO_MESSAGE_QUEUE", "redis://127.0.0.1:6379/13")
CHANNEL = os.environ.get("SIO_CHANNEL", "livebench-sio")


def create_app() -> tuple[Flask, SocketIO]:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY", "baseline-only-" + "x" * 32)
    socketio = SocketIO(
        app,
        async_mode="gevent",
        message_queue=QUEUE,
        channel=CHANNEL,
        transports=["websocket"],
        cors_allowed_origins="*",
        logger=False,
        engineio_logger=False,
    )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @socketio.on("connect")
    def on_connect() -> None:
        """Everyone watches; the broadcast goes to the whole namespace."""

    return app, socketio


def iso_now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def emit_main(argv: list[str]) -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="live_socketio_app.py emit")
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--message", required=True, help="a leaderboard_update JSON message to repeat")
    ap.add_argument("--first-seq", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    message = json.loads(open(args.message, encoding="utf-8").read())  # noqa: SIM115
    emitter = SocketIO(message_queue=QUEUE, channel=CHANNEL)  # write-only, no app
    commits: list[list[float]] = []
    start = time.monotonic()
    n = int(args.duration * args.rate)
    for i in range(n):
        due = start + i / args.rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        seq = args.first_seq + i
        message["seq"] = seq
        message["timestamp"] = iso_now()
        t_send = time.monotonic()
        emitter.emit("leaderboard_update", message)
        t_done = time.monotonic()
        commits.append([seq, t_done * 1000, t_send * 1000])
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(commits, f)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "emit":
        emit_main(sys.argv[2:])
    else:
        sys.exit(__doc__)
else:
    app, socketio = create_app()
