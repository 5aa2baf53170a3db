"""WSGI entry point. gevent patches the standard library before anything else is imported,
so that psycopg, redis and the sockets all cooperate with the gevent workers."""

from gevent import monkey

monkey.patch_all()

from app import create_app  # noqa: E402

app = create_app()
