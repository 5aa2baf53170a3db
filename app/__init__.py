"""Live Scoreboard: create_app binds extensions, registers blueprints, nothing else."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app import tracing
from app.config import Config
from app.extensions import csrf, db, login_manager, migrate, sock


def create_app(config: Any | None = None) -> Flask:
    """Build the app for one configuration (the environment's by default)."""
    config = config or Config()
    tracing.start()  # when OTEL_EXPORTER_OTLP_ENDPOINT asks for it, in this (worker) process
    app = Flask(
        __name__,
        instance_path=config.INSTANCE_PATH,
        template_folder="../templates",
        static_folder="../static",
    )
    app.config.from_object(config)
    app.json.sort_keys = False  # type: ignore[attr-defined]

    db.init_app(app)
    migrate.init_app(
        app, db, directory=str(__import__("pathlib").Path(__file__).parent.parent / "migrations")
    )
    login_manager.init_app(app)
    csrf.init_app(app)
    sock.init_app(app)

    from app import models  # noqa: F401  (registers the tables)
    from app.api import bp as api_bp
    from app.api.errors import register_error_handlers
    from app.api.fast import FastPaths
    from app.api.oauth import bp as oauth_bp
    from app.auth.providers import init_providers
    from app.auth.server import create_server
    from app.auth.session import init_sessions
    from app.cli import register_cli
    from app.edge import Edge
    from app.live.views import bp as live_bp
    from app.observability import init_observability
    from app.services import build_services
    from app.web.admin import bp as admin_bp
    from app.web.external import bp as external_bp
    from app.web.fragments import board_renderer, score_renderer
    from app.web.fragments import bp as fragments_bp
    from app.web.pages import bp as pages_bp

    with app.app_context():
        services = build_services(config, db.engine, _clock(config.CLOCK_OFFSET_SECONDS))
        app.extensions["scoreboard"] = services
    app.extensions["oauth_server"] = create_server(app, services.issuer)
    csrf.exempt(api_bp)
    csrf.exempt(oauth_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(oauth_bp)
    app.register_blueprint(live_bp)
    app.register_blueprint(fragments_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(external_bp)
    app.register_blueprint(admin_bp)
    init_sessions(app)
    init_providers(app)
    services.hub.render_board = services.streams.render_board = board_renderer(app)
    services.hub.render_score = services.streams.render_score = score_renderer(app)
    register_error_handlers(app)
    init_observability(app)
    register_cli(app)
    fast = FastPaths(services, app.config.get("MAX_CONTENT_LENGTH"))
    app.wsgi_app = Edge(app, services, fast, hsts_always=config.production)  # type: ignore[method-assign]
    if config.TRUSTED_PROXY_COUNT:  # outermost: everything behind it sees the client's address
        n = config.TRUSTED_PROXY_COUNT
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    @app.before_request
    def _start_services() -> None:
        services.start()

    return app


def _clock(offset: int) -> Callable[[], float]:
    """The time the domain reads: the system's, moved by `offset` seconds (CLOCK_OFFSET_SECONDS)."""
    if not offset:
        return time.time
    return lambda: time.time() + offset
