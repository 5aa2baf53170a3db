"""flask users / oauth-clients / demo / leaderboard / keys / boards commands."""

from __future__ import annotations

import json
import secrets
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app.audit import SYSTEM
from app.auth.accounts import create_user
from app.errors import ScoreboardError
from app.extensions import db
from app.models.oauth import OAuthClient
from app.models.users import User
from app.services import services

DEMO_PLAYERS = [
    ("ada", 420),
    ("grace", 390),
    ("linus", 360),
    ("alan", 330),
    ("barbara", 300),
    ("ken", 270),
    ("dennis", 240),
    ("margaret", 210),
    ("edsger", 180),
    ("donald", 150),
    ("radia", 120),
    ("tim", 90),
]


def _fail(err: ScoreboardError) -> None:
    raise click.ClickException(f"{err.code}: {err.message}")


def register_cli(app: Flask) -> None:
    users = AppGroup("users", help="Manage players and admins.")
    clients = AppGroup("oauth-clients", help="Manage OAuth API clients.")
    demo = AppGroup("demo", help="Demo data.")
    board = AppGroup("leaderboard", help="The rank index.")
    keys = AppGroup("keys", help="Access-token signing keys.")
    boards = AppGroup("boards", help="Boards and the periods they rank over.")

    @users.command("create")
    @click.argument("name")
    @click.option("--email", default=None)
    @click.option("--password", default=None, help="Prompted for when omitted.")
    @click.option("--admin", is_flag=True)
    def users_create(name: str, email: str | None, password: str | None, admin: bool) -> None:
        """Create a player (or an admin)."""
        if password is None:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            user = create_user(
                db.session,
                name,
                email,
                password,
                role="admin" if admin else "player",
                hash_method=current_app.config["PASSWORD_HASH_METHOD"],
            )
        except ScoreboardError as err:
            _fail(err)
        db.session.commit()
        click.echo(f"created {user.role} {user.username} (id {user.id})")

    @users.command("token")
    @click.argument("name")
    def users_token(name: str) -> None:
        """Print an access token for a user."""
        user = db.session.execute(select(User).filter_by(username=name)).scalar_one_or_none()
        if user is None:
            raise click.ClickException(f"no user named {name!r}")
        click.echo(services().issuer.issue_for(user)["access_token"])

    @clients.command("create")
    @click.argument("name")
    @click.option("--redirect-uri", required=True, multiple=True)
    @click.option("--public", is_flag=True, help="No secret; PKCE only.")
    def clients_create(name: str, redirect_uri: tuple[str, ...], public: bool) -> None:
        """Register an API client for the authorization-code + PKCE flow."""
        client = OAuthClient(
            client_id=secrets.token_urlsafe(18),
            client_secret="" if public else secrets.token_urlsafe(32),
            client_id_issued_at=int(time.time()),
        )
        client.set_client_metadata(
            {
                "client_name": name,
                "redirect_uris": list(redirect_uri),
                "response_types": ["code"],
                "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": "none" if public else "client_secret_basic",
                "scope": "read:leaderboard update:score",
            }
        )
        db.session.add(client)
        db.session.commit()
        click.echo(f"client_id: {client.client_id}")
        if not public:
            click.echo(f"client_secret: {client.client_secret}")

    @demo.command("seed")
    @click.option("--password", default="demo-password", show_default=True)
    def demo_seed(password: str) -> None:
        """Create demo players with scores and an admin; print their credentials."""
        s = services()
        method = current_app.config["PASSWORD_HASH_METHOD"]
        created = 0
        for name, points in DEMO_PLAYERS:
            if db.session.execute(select(User.id).filter_by(username=name)).first():
                continue
            user = create_user(db.session, name, f"{name}@demo.invalid", password, hash_method=method)
            db.session.commit()
            s.moderation.adjust(None, user.id, points, "demo seed")
            created += 1
        if not db.session.execute(select(User.id).filter_by(username="admin")).first():
            create_user(db.session, "admin", "admin@demo.invalid", password, role="admin", hash_method=method)
            db.session.commit()
        click.echo(f"demo players: {created} created; every demo account's password: {password}")
        click.echo("  players: " + ", ".join(n for n, _ in DEMO_PLAYERS))
        click.echo("  admin:   admin")

    @board.command("rebuild")
    def board_rebuild() -> None:
        """Rebuild the Redis rank index from the database."""
        s = services()
        if s.standings.index is None:
            click.echo("no REDIS_URL: ranks come straight from the database; nothing to rebuild")
            return
        s.standings.index.clear()
        click.echo(f"rank index rebuilt: {s.writer.rebuild(force=True)} players")

    @keys.command("rotate")
    def keys_rotate() -> None:
        """Add a new signing key; the previous one still verifies until retired."""
        click.echo(f"new signing key: {services().access.rotate()}")
        services().access.retire_all_but_newest(2)

    @boards.command("create")
    @click.argument("slug")
    @click.option("--title", required=True)
    @click.option("--periods", default="", help="Comma-separated: daily,weekly,monthly (all always exists).")
    @click.option("--timezone", default="UTC", show_default=True, help="An IANA name, e.g. Europe/Berlin.")
    @click.option("--catalog", default=None, help="JSON, as ACTION_CATALOG (default: the deployment's).")
    def boards_create(slug: str, title: str, periods: str, timezone: str, catalog: str | None) -> None:
        """Create a board."""
        s = services()
        try:
            rules = json.loads(catalog) if catalog is not None else s.config.ACTION_CATALOG
        except ValueError as err:
            raise click.BadParameter(f"not JSON: {err}", param_hint="--catalog") from None
        kept = [p.strip() for p in periods.split(",") if p.strip()]
        try:
            made = s.boards.create(None, SYSTEM, slug, title, rules, kept, timezone)
        except ScoreboardError as err:
            _fail(err)
        click.echo(f"created board {made.slug} ({', '.join(made.kept)}; {made.timezone})")

    @boards.command("list")
    def boards_list() -> None:
        """One line per board: slug, periods, timezone, title."""
        s = services()
        for b in s.boards.list():
            click.echo(f"{b.slug}\t{','.join(b.kept)}\t{b.timezone}\t{b.title}")

    for group in (users, clients, demo, board, keys, boards):
        app.cli.add_command(group)
