"""Who may see the operators' pages (/, /status.json, /metrics): WEB_ACCESS_TOKEN, or a server on loopback only.

With WEB_ACCESS_TOKEN set, a request shows it as `Authorization: Bearer <token>`, or carries the
cookie that visiting `/?token=<token>` sets (the visit redirects to `/`, so the token leaves the
address bar and the history). Without it the pages answer only when the server is bound to a
loopback address, and the web process refuses to start on any other; the request's Host must then
name a loopback address too (`127.0.0.1`, `localhost`, `[::1]`), or a web page the operator opens
could rebind its own name to 127.0.0.1 and read the pages (DNS rebinding). Tencent's callbacks
never pass through here: their own token is in their path.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web
from pydantic import SecretStr

COOKIE = "wo_access"
#: What the cookie holds is derived from the token (never the token itself), so a leaked cookie does not
#: give away the bearer token; it stays valid until the token changes.
_COOKIE_LABEL = b"warmup-orchestrator web access cookie"
COOKIE_MAX_AGE_S = 30 * 86400

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebAccessError(Exception):
    """The web process may not start as configured; one line, never a secret."""


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address (127.0.0.0/8, ::1) or `localhost`; any other name is not."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def loopback_host(host_header: str) -> bool:
    """Whether a Host header names a loopback address, with or without its port (`[::1]:8080` too)."""
    host = host_header.strip()
    if host.startswith("["):
        host, close, rest = host[1:].partition("]")
        if not close or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return False
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    host = host.removesuffix(".")  # `localhost.`: the fully qualified form of the same name
    return bool(host) and is_loopback(host)


def check_exposure(host: str, token: SecretStr | None) -> None:
    """Refuse to serve the operators' pages on a non-loopback address without WEB_ACCESS_TOKEN."""
    if token is None and not is_loopback(host):
        msg = (
            f"web host {host} is not a loopback address: set WEB_ACCESS_TOKEN (16 characters or more) "
            "to serve the status page and /metrics there, or bind to 127.0.0.1"
        )
        raise WebAccessError(msg)


@dataclass(frozen=True, slots=True)
class Access:
    """The access rule of one app: its token (None: loopback only) and whether it is bound to loopback."""

    token: SecretStr | None
    loopback: bool

    def cookie_value(self) -> str:
        if self.token is None:
            return ""
        return hmac.new(self.token.get_secret_value().encode(), _COOKIE_LABEL, hashlib.sha256).hexdigest()

    def token_matches(self, given: str) -> bool:
        return self.token is not None and _same(given, self.token.get_secret_value())

    def allows(self, request: web.Request) -> bool:
        if self.token is None:
            # A reverse proxy on this host sends its upstream's loopback name as Host (nginx's default
            # `proxy_pass http://127.0.0.1:8080`): a request it forwarded says so in these headers.
            return self.loopback and loopback_host(request.headers.get("Host", "")) and not proxied(request)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.token_matches(given.strip()):
            return True
        cookie = request.cookies.get(COOKIE)
        return cookie is not None and _same(cookie, self.cookie_value())


ACCESS = web.AppKey("access", Access)
#: Headers a reverse proxy adds to what it forwards (RFC 7239 and the common de facto ones).
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-IP", "Via")


def proxied(request: web.Request) -> bool:
    """Whether a proxy forwarded the request: then a loopback Host proves nothing about who asks."""
    return any(h in request.headers for h in PROXY_HEADERS)


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison (of bytes: compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


def operators_only(handler: Handler) -> Handler:
    """`handler` behind the access rule; `/?token=` signs a browser in with a cookie and redirects to `/`."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        access = request.app[ACCESS]
        if access.token is not None and (given := _query_token(request)) is not None:
            return _sign_in(request, access, given)
        if not access.allows(request):
            return _refused(access)
        response = await handler(request)
        response.headers["Cache-Control"] = "no-store"
        return response

    return guarded


def _query_token(request: web.Request) -> str | None:
    """`?token=`'s value percent-decoded only: a `+` of a base64 token stays a `+` (form decoding, which
    request.query applies, would make it a space and the token would never match)."""
    for part in request.rel_url.raw_query_string.split("&"):
        name, eq, value = part.partition("=")
        if name == "token" and eq:
            return unquote(value)
    return None


def _sign_in(request: web.Request, access: Access, given: str) -> web.StreamResponse:
    if not access.token_matches(given):
        return _refused(access)
    response = web.Response(status=303, headers={"Location": request.path})
    response.set_cookie(
        COOKIE,
        access.cookie_value(),
        max_age=COOKIE_MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="Strict",
        # Behind a TLS proxy the request reaching us is plain HTTP: the proxy's word says the browser's was not.
        secure=request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused(access: Access) -> web.Response:
    if access.token is None and access.loopback:  # a Host that is no loopback name (a rebound name), or a proxy
        text = (
            "403: without WEB_ACCESS_TOKEN this page answers only as http://127.0.0.1 or http://localhost, "
            "never through a proxy (set WEB_ACCESS_TOKEN to serve it there)\n"
        )
        return web.Response(status=403, text=text)
    if access.token is None:  # bound beyond loopback without a token: `web` refuses to start so, an embedder did not
        return web.Response(status=403, text="403: set WEB_ACCESS_TOKEN to serve this page beyond loopback\n")
    text = "401: send Authorization: Bearer <WEB_ACCESS_TOKEN>, or open /?token=<WEB_ACCESS_TOKEN> once\n"
    return web.Response(status=401, text=text, headers={"WWW-Authenticate": 'Bearer realm="orchestrate web"'})
