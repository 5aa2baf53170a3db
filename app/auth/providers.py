"""External login providers through Authlib's Flask client: which are configured, the redirect to
them, and the identity their callback proves.

One Authlib registry per app, built once in create_app; each registered client keeps the
provider's discovery document and JWKS after its first fetch, so a login costs no metadata round
trip (a key the cached JWKS lacks makes Authlib fetch it again once, for key rotation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Flask, Response, current_app
from joserfc.errors import JoseError

from app.auth.external import Identity

GITHUB, GOOGLE, OIDC = "github", "google", "oidc"
OIDC_SCOPE = "openid email profile"
GITHUB_SCOPE = "read:user user:email"


@dataclass(frozen=True, slots=True)
class Provider:
    """A configured login provider: its name in URLs and the label on its button."""

    name: str
    label: str
    openid: bool


class ProviderError(Exception):
    """The provider flow did not prove an identity; `reason` is the audit code, `message` for people."""

    def __init__(self, reason: str, message: str, detail: str = ""):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.detail = detail


def configured_providers(config: Any) -> list[Provider]:
    """The providers whose client id is set, in button order."""
    out = []
    if config.get("GITHUB_CLIENT_ID"):
        out.append(Provider(GITHUB, "GitHub", openid=False))
    if config.get("GOOGLE_CLIENT_ID"):
        out.append(Provider(GOOGLE, "Google", openid=True))
    if config.get("OIDC_CLIENT_ID") and config.get("OIDC_DISCOVERY_URL"):
        out.append(Provider(OIDC, config.get("OIDC_NAME") or "OpenID Connect", openid=True))
    return out


def init_providers(app: Flask) -> None:
    """Register every configured provider with a registry of this app's own."""
    c = app.config
    oauth = OAuth(app)
    session_kwargs = {"default_timeout": c["OAUTH_PROVIDER_TIMEOUT"]}
    for p in configured_providers(c):
        prefix = p.name.upper()
        common = {
            "client_id": c[f"{prefix}_CLIENT_ID"],
            "client_secret": c.get(f"{prefix}_CLIENT_SECRET") or None,
        }
        if p.name == GITHUB:
            oauth.register(
                GITHUB,
                **common,
                authorize_url=c["GITHUB_AUTHORIZE_URL"],
                access_token_url=c["GITHUB_TOKEN_URL"],
                api_base_url=c["GITHUB_API_BASE"].rstrip("/") + "/",
                client_kwargs={**session_kwargs, "scope": GITHUB_SCOPE, "code_challenge_method": "S256"},
            )
        else:
            oauth.register(
                p.name,
                **common,
                server_metadata_url=c[f"{prefix}_DISCOVERY_URL"],
                client_kwargs={**session_kwargs, "scope": OIDC_SCOPE, "code_challenge_method": "S256"},
            )
    app.extensions["login_providers"] = {p.name: p for p in configured_providers(c)}
    app.extensions["login_oauth"] = oauth


def provider(name: str) -> Provider | None:
    """A configured provider by its URL name."""
    return current_app.extensions["login_providers"].get(name)


def _client(name: str) -> Any:
    return current_app.extensions["login_oauth"].create_client(name)


def redirect_to(name: str, callback_url: str) -> Response:
    """Send the browser to the provider (state, PKCE S256 and, for OpenID, a nonce in the session).

    :raise ProviderError: the provider's discovery document could not be fetched.
    """
    try:
        return _client(name).authorize_redirect(callback_url)
    except requests.RequestException as exc:
        raise ProviderError("PROVIDER_UNAVAILABLE", "did not answer; try again later", str(exc)) from exc


def identity_from_callback(name: str) -> Identity:
    """Exchange the callback's code and prove who signed in (the ID token verified: signature by the
    provider's JWKS, iss, aud, exp, nonce).

    :raise ProviderError: denied, bad or replayed state, provider error, timeout, bad ID token.
    """
    client = _client(name)
    try:
        token = client.authorize_access_token(leeway=current_app.config["OAUTH_CLOCK_LEEWAY"])
        return _github_identity(client, token) if name == GITHUB else _openid_identity(name, client, token)
    except AuthlibBaseError as exc:
        raise _refusal(exc) from exc
    except JoseError as exc:
        raise ProviderError("ID_TOKEN_INVALID", "sent an ID token we could not verify", str(exc)) from exc
    except requests.Timeout as exc:
        raise ProviderError("PROVIDER_TIMEOUT", "did not answer in time; try again later", str(exc)) from exc
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        raise ProviderError("PROVIDER_ERROR", "could not be reached or answered oddly", str(exc)) from exc


def _refusal(exc: AuthlibBaseError) -> ProviderError:
    error, detail = str(exc.error or ""), str(exc.description or exc.error or "")
    if error == "access_denied":
        return ProviderError("ACCESS_DENIED", "sign-in was cancelled", detail)
    if error == "mismatching_state":
        return ProviderError(
            "BAD_STATE", "sign-in link expired or was already used; please try again", detail
        )
    if error in ("invalid_claim", "missing_claim", "expired_token", "invalid_token", "insecure_claim"):
        return ProviderError("ID_TOKEN_INVALID", "sent an ID token we could not verify", detail)
    return ProviderError("PROVIDER_ERROR", f"refused the sign-in ({error or 'error'})", detail)


def _openid_identity(name: str, client: Any, token: dict[str, Any]) -> Identity:
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        raise ProviderError("ID_TOKEN_INVALID", "sent no ID token", "no id_token in the token response")
    claims = dict(claims)
    if not claims.get("email") or not claims.get("name"):  # often only in the userinfo response
        extra = client.userinfo(token=token)
        if str(extra.get("sub")) == str(claims["sub"]):  # OIDC Core §5.3.2: must match
            claims = {**extra, **claims}
    verified = claims.get("email_verified") in (True, "true")
    return Identity(
        provider=name,
        subject=str(claims["sub"]),
        username=claims.get("preferred_username") or claims.get("nickname") or claims.get("email"),
        display_name=claims.get("name"),
        email=claims.get("email") if verified else None,
    )


def _github_identity(client: Any, token: dict[str, Any]) -> Identity:
    """GitHub's REST API: /user for the account, /user/emails for a verified primary address."""
    user = client.get("user", token=token)
    user.raise_for_status()
    profile = user.json()
    emails = client.get("user/emails", token=token)
    primary = None
    if emails.ok:
        primary = next(
            (e.get("email") for e in emails.json() if e.get("primary") and e.get("verified") is True), None
        )
    return Identity(
        provider=GITHUB,
        subject=str(profile["id"]),
        username=profile.get("login"),
        display_name=profile.get("name") or profile.get("login"),
        email=primary,
    )
