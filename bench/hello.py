"""Hello world under the app's own gunicorn settings: the ceiling for a Flask request on this machine.

gunicorn -c gunicorn.conf.py bench.hello:app     (from the repository root)
"""

from gevent import monkey

monkey.patch_all()

from flask import Flask, Response  # noqa: E402

app = Flask(__name__)
BODY = b'{"hello":"world"}'


@app.get("/hello")
def hello() -> Response:
    return Response(BODY, mimetype="application/json")


@app.get("/healthz")
def healthz() -> Response:
    return Response(b'{"status":"ok"}', mimetype="application/json")
