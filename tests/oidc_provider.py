"""A real OpenID provider for the login tests: panva's oidc-provider (tests/oidc/provider.mjs) on a
free port, and the steps a person takes on its login and consent pages, driven with requests."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path
from urllib.parse import urljoin

import requests

from tests.conftest import ROOT
from tests.integration.conftest import free_port, wait_until
from tests.services import require

OIDC_DIR = ROOT / "tests" / "oidc"
SECRET = "scoreboard-secret"


def install() -> None:
    """`npm ci` the pinned provider once (under a lock: xdist workers may ask at the same time)."""
    require("node and npm", bool(shutil.which("node") and shutil.which("npm")))
    with open(OIDC_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=OIDC_DIR,
                check=True,
                timeout=300,
            )


class OidcProvider:
    """`node provider.mjs PORT`: clients scoreboard, scoreboard-wrong-aud, scoreboard-expired."""

    def __init__(self, redirect_uris: list[str], log_path: Path):
        self.port = free_port()
        self.redirect_uris = redirect_uris
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def start(self) -> OidcProvider:
        install()
        self.log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        env = {**os.environ, "REDIRECT_URIS": ",".join(self.redirect_uris)}
        self.proc = subprocess.Popen(
            ["node", "provider.mjs", str(self.port)], cwd=OIDC_DIR, env=env, stdout=self.log, stderr=self.log
        )
        wait_until(lambda: requests.get(self.discovery_url, timeout=1).ok, what="oidc-provider")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            self.log.close()

    def requests_to(self, path: str) -> int:
        """How many requests the provider has had for `path`."""
        return int(requests.get(f"{self.issuer}/__requests", timeout=5).json().get(path, 0))

    def settings(self, client_id: str = "scoreboard", name: str = "Test ID") -> dict[str, str]:
        """App settings that add this provider as the generic OpenID one."""
        return {
            "OIDC_NAME": name,
            "OIDC_DISCOVERY_URL": self.discovery_url,
            "OIDC_CLIENT_ID": client_id,
            "OIDC_CLIENT_SECRET": SECRET,
        }


def _form(html: str, prompt: str) -> str | None:
    """The action of the provider's form for `prompt` (login or consent), if the page has it."""
    if f'name="prompt" value="{prompt}"' not in html:
        return None
    found = re.search(r'<form[^>]*action="([^"]+)"', html)
    return unescape(found.group(1)) if found else None


def at_provider(
    http: requests.Session, url: str, login: str, app_base: str, consent: bool = True, password: str = "any"
) -> str:
    """Follow `url` through the provider's pages as a person would (log in, then Continue or
    Cancel) until it sends the browser back to the app; returns that URL."""
    for _ in range(12):
        if url.startswith(app_base):
            return url
        r = http.get(url, allow_redirects=False, timeout=10)
        if r.is_redirect:
            url = urljoin(url, r.headers["Location"])
            continue
        assert r.status_code == 200, r.text[:500]
        if action := _form(r.text, "login"):
            form = {"prompt": "login", "login": login, "password": password}
            r = http.post(urljoin(url, action), data=form, allow_redirects=False, timeout=10)
        elif (action := _form(r.text, "consent")) and consent:
            r = http.post(urljoin(url, action), data={"prompt": "consent"}, allow_redirects=False, timeout=10)
        elif action:
            abort = re.search(r'href="([^"]*/abort)"', r.text)
            assert abort, r.text[:500]
            r = http.get(urljoin(url, unescape(abort.group(1))), allow_redirects=False, timeout=10)
        else:
            raise AssertionError(f"unexpected page at the provider: {r.text[:500]}")
        assert r.is_redirect, r.text[:500]
        url = urljoin(url, r.headers["Location"])
    raise AssertionError("the provider never sent the browser back")
