"""Hardening every response shares: hosts and links, proxies, request size, headers, limits.

- Links: absolute URLs (``url_for(..., _external=True)``, ``request.host_url``) are built from
  ``PORTAL_HOST``, never from the request's ``Host`` header; a ``Host`` outside
  ``TRUSTED_HOSTS`` is answered 400.
- Proxies: ``X-Forwarded-For`` / ``-Proto`` are believed only through ``PROXY_FIX_HOPS`` proxies.
- Headers on every response (pages, errors, static files, feeds, API): CSP without
  ``unsafe-inline`` (a per-request nonce for the rare inline block), ``frame-ancestors 'none'``,
  ``nosniff``, ``Referrer-Policy``, HSTS over HTTPS, ``Cache-Control: no-store`` on anything
  personal.
- Rate limits (``RATELIMITS`` in the configuration), shared through Redis when ``REDIS_URL`` is
  set; ``RATELIMIT_ENABLED = False`` turns every one of them off for load tests.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from dataclasses import dataclass

from flask import Flask, Request, current_app, g, request
from flask.sessions import SessionInterface
from werkzeug.exceptions import BadRequest, TooManyRequests
from werkzeug.middleware.proxy_fix import ProxyFix

log = logging.getLogger("portal.security")

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


# --- hosts and links ---------------------------------------------------------------------------


def public_base_url() -> str:
    """``https://volunteer.example.gov.cn`` — where links in pages, feeds and the API point."""
    scheme = "https" if current_app.config.get("PORTAL_HTTPS") else _request_scheme()
    return f"{scheme}://{current_app.config['PORTAL_HOST']}"


def _request_scheme() -> str:
    try:
        return request.scheme
    except RuntimeError:  # outside a request (CLI): the configured preference
        return current_app.config.get("PREFERRED_URL_SCHEME", "http")


class PortalRequest(Request):
    """A request whose own absolute URLs name ``PORTAL_HOST``, not the client's ``Host``."""

    @property
    def host_url(self) -> str:  # type: ignore[override]
        return public_base_url() + "/"

    @property
    def url_root(self) -> str:  # type: ignore[override]
        return public_base_url() + (self.root_path.rstrip("/") or "") + "/"


def trusted_hosts(app: Flask) -> list[str]:
    """``TRUSTED_HOSTS`` as configured, else ``PORTAL_HOST`` and this machine's own names."""
    configured = app.config.get("TRUSTED_HOSTS")
    if configured:
        if isinstance(configured, str):
            configured = [h.strip() for h in configured.split(",") if h.strip()]
        return list(configured)
    return [app.config["PORTAL_HOST"].rsplit(":", 1)[0], *LOCAL_HOSTS]


class PortalFlask(Flask):
    """Flask whose URL adapter checks the Host and builds external links from ``PORTAL_HOST``."""

    request_class = PortalRequest

    def create_url_adapter(self, request):  # noqa: D401 - Flask hook
        if request is None:
            return super().create_url_adapter(request)
        request.trusted_hosts = trusted_hosts(self)
        try:
            adapter = super().create_url_adapter(request)
        except BadRequest:  # SecurityError: a Host we do not serve
            # Keep an adapter (the error page builds links) and refuse in before_request.
            request.environ["portal.untrusted_host"] = True
            request.host = self.config["PORTAL_HOST"]
            adapter = self.url_map.bind_to_environ(
                request.environ, server_name=self.config["PORTAL_HOST"], subdomain=""
            )
        if adapter is not None:
            adapter.server_name = self.config["PORTAL_HOST"]
            if self.config.get("PORTAL_HTTPS"):
                adapter.url_scheme = "https"
        return adapter


def _refuse_untrusted_host():
    if request.environ.get("portal.untrusted_host"):
        log.warning(
            "refused Host %r from %s", request.headers.get("Host", "")[:100], request.remote_addr
        )
        raise BadRequest("untrusted host")
    return None


# --- headers -----------------------------------------------------------------------------------


def csp_nonce() -> str:
    """This response's nonce, for an inline ``<script nonce=…>`` or ``<style nonce=…>``."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def content_security_policy(nonce: str | None) -> str:
    source = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {source}",
            f"style-src {source}",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


# Endpoints whose answers carry personal data even without a logged-in session: the secret
# feed links (a person's own schedule, a unit's roster).
PERSONAL_ENDPOINTS = frozenset({"feeds.personal_feed", "feeds.unit_feed"})
# The same bytes for everyone, logged in or not: cacheable, and never ``Vary: Cookie``.
PUBLIC_DATA_ENDPOINTS = frozenset(
    {
        "feeds.all_feed",
        "feeds.zone_feed",
        "feeds.programme_feed",
        "feeds.activity_feed",
        "feeds.shift_download",
        "main.healthz",
    }
)


def _is_sessionless(endpoint: str | None) -> bool:
    """Feeds, the public API and the health check use no session (no login, no flash)."""
    return bool(endpoint) and (
        endpoint in PUBLIC_DATA_ENDPOINTS
        or endpoint in PERSONAL_ENDPOINTS
        or endpoint.startswith("api.")
    )


class _SessionlessEndpoints(SessionInterface):
    """The app's session interface, except that session-less responses are never saved.

    Flask-Login reads the session on every request, which would make Flask send
    ``Vary: Cookie`` (and perhaps Set-Cookie) and keep shared caches from storing a public
    feed or API answer. Those endpoints never use the session, so there is nothing to save.
    """

    def __init__(self, inner: SessionInterface):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def open_session(self, app, request_):
        return self.inner.open_session(app, request_)

    def make_null_session(self, app):
        return self.inner.make_null_session(app)

    def is_null_session(self, obj) -> bool:
        return self.inner.is_null_session(obj)

    def save_session(self, app, session_, response) -> None:
        if _is_sessionless(request.endpoint):
            return None
        return self.inner.save_session(app, session_, response)


def _is_personal(response) -> bool:
    if request.endpoint in PERSONAL_ENDPOINTS:
        return True
    if request.endpoint == "static" or request.endpoint in PUBLIC_DATA_ENDPOINTS:
        return False
    if (request.endpoint or "").startswith("api."):  # the public API shows no one's data
        return False
    # Anything answered to a logged-in person may show their name, phone or a roster.
    user = g.get("_login_user")
    if user is not None and getattr(user, "is_authenticated", False):
        return True
    from flask import session

    return "_user_id" in session


def _security_headers(response):
    headers = response.headers
    html = (response.mimetype or "") == "text/html"
    headers["Content-Security-Policy"] = (
        content_security_policy(g.get("csp_nonce"))
        if html
        else "default-src 'none'; frame-ancestors 'none'; sandbox"
    )
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers.setdefault(
        "Referrer-Policy", "strict-origin-when-cross-origin"
    )  # a view may be stricter
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if request.is_secure or current_app.config.get("PORTAL_HTTPS"):
        headers["Strict-Transport-Security"] = (
            f"max-age={current_app.config.get('HSTS_MAX_AGE', 31536000)}; includeSubDomains"
        )
    if _is_personal(response):
        # Secret feed links: CALENDAR.md asks for ``private``; with personal data, no-store.
        private = request.endpoint in PERSONAL_ENDPOINTS
        headers["Cache-Control"] = "private, no-store" if private else "no-store"
        headers.pop("Expires", None)
        if "Cookie" not in headers.get("Vary", ""):
            headers.add("Vary", "Cookie")
    return response


def _touch_session(response):
    """Note when a logged-in session was last used (the idle timeout counts from here)."""
    user = g.get("_login_user")
    if user is not None and getattr(user, "is_authenticated", False):
        from flask import session

        now = int(time.time())
        if now - int(session.get("_seen") or 0) >= 60:  # at most one cookie update a minute
            session["_seen"] = now
    return response


# --- request size ------------------------------------------------------------------------------


def _request_too_large_message() -> str:
    from flask_babel import gettext as _

    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return _(
        "提交的内容太大了（最多 %(kb)d KB）。请删减后再提交。",
        kb=max(1, limit // 1024),
    )


# --- rate limits -------------------------------------------------------------------------------


class TooManyAttempts(TooManyRequests):
    """A rate limit was reached; ``retry_after`` seconds until the next attempt is allowed."""

    def __init__(self, retry_after: int, description: str | None = None):
        super().__init__(description=description)
        self.retry_after = max(1, int(retry_after))

    def get_headers(self, environ=None, scope=None):
        return [*super().get_headers(environ, scope), ("Retry-After", str(self.retry_after))]


@dataclass(frozen=True)
class LimitState:
    allowed: bool
    retry_after: int


def _strategy():
    app = current_app._get_current_object()
    state = app.extensions.get("portal_limits")
    if state is None:
        from limits.storage import storage_from_string
        from limits.strategies import FixedWindowRateLimiter

        uri = app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
        state = app.extensions["portal_limits"] = FixedWindowRateLimiter(storage_from_string(uri))
    return state


def limits_enabled() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED", True))


def _item(name: str):
    from limits import parse

    return parse(current_app.config["RATELIMITS"][name])


def _keys(name: str, identity: str) -> tuple[str, ...]:
    return (current_app.config.get("RATELIMIT_KEY_PREFIX") or "portal", name, identity)


def limit_state(name: str, identity: str) -> LimitState:
    """Whether one more attempt under limit ``name`` is allowed for ``identity`` (no hit)."""
    if not limits_enabled():
        return LimitState(True, 0)
    item, keys = _item(name), _keys(name, identity)
    strategy = _strategy()
    if strategy.test(item, *keys):
        return LimitState(True, 0)
    reset, _remaining = strategy.get_window_stats(item, *keys)
    return LimitState(False, math.ceil(reset - time.time()))


def record_hit(name: str, identity: str) -> None:
    if limits_enabled():
        _strategy().hit(_item(name), *_keys(name, identity))


def hit(name: str, identity: str) -> LimitState:
    """Count one attempt atomically (Redis INCR); tell whether it was still within the limit."""
    if not limits_enabled():
        return LimitState(True, 0)
    item, keys = _item(name), _keys(name, identity)
    strategy = _strategy()
    if strategy.hit(item, *keys):
        return LimitState(True, 0)
    reset, _remaining = strategy.get_window_stats(item, *keys)
    return LimitState(False, max(1, math.ceil(reset - time.time())))


def hit_or_refuse(name: str, identity: str) -> None:
    """Count one attempt; raise :class:`TooManyAttempts` when the limit is already used up."""
    if not limits_enabled():
        return
    item, keys = _item(name), _keys(name, identity)
    strategy = _strategy()
    if not strategy.hit(item, *keys):
        reset, _remaining = strategy.get_window_stats(item, *keys)
        log.warning("rate limit %s reached by %s", name, identity)
        raise TooManyAttempts(math.ceil(reset - time.time()))


def client_address() -> str:
    """The client's address (after ProxyFix, which believes only the configured hops)."""
    return request.remote_addr or "unknown"


# Which requests count against which limit (``RATELIMITS`` key): method, endpoint test.
def _route_limit() -> tuple[str, str] | None:
    endpoint = request.endpoint or ""
    if request.method == "POST":
        if endpoint == "auth.register":
            return "register", client_address()
        if endpoint == "signups.sign_up":
            from flask_login import current_user

            who = f"user:{current_user.id}" if current_user.is_authenticated else client_address()
            return "signup", who
        if "reset_password" in endpoint or "password_reset" in endpoint:
            return "password_reset", client_address()
        if "one_time_password" in endpoint:  # an organizer at the counter, per organizer
            from flask_login import current_user

            who = f"user:{current_user.id}" if current_user.is_authenticated else client_address()
            return "one_time_password", who
    if (
        endpoint.startswith("feeds.")
        and endpoint.endswith("_feed")
        or endpoint in {"feeds.shift_download"}
    ):
        return "feeds", client_address()
    return None


def _limit_routes():
    target = _route_limit()
    if target is not None:
        hit_or_refuse(*target)


def retry_after_of(error) -> int | None:
    """Seconds to wait, from our own limit or a Flask-Limiter decorator's."""
    seconds = getattr(error, "retry_after", None)
    if seconds:
        return int(seconds)
    try:
        from portal.extensions import limiter

        current = limiter.current_limit
    except Exception:  # noqa: BLE001 - no Flask-Limiter context for this request
        current = None
    if current is not None:
        return max(1, int(current.reset_at - time.time()))
    return None


def waiting_words(seconds: int) -> str:
    from flask_babel import gettext as _

    if seconds < 60:
        return _("%(n)d 秒", n=seconds)
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return _("%(n)d 分钟", n=minutes)
    return _("%(n)d 小时", n=math.ceil(minutes / 60))


# --- installation ------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    hops = int(app.config.get("PROXY_FIX_HOPS") or 0)
    if hops > 0:
        # Only X-Forwarded-For and -Proto, each through exactly ``hops`` proxies; the host is
        # never taken from the proxy either (links use PORTAL_HOST).
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0
        )
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_untrusted_host)
    app.before_request(_limit_routes)
    app.after_request(_security_headers)
    app.after_request(_touch_session)
    if not isinstance(app.session_interface, _SessionlessEndpoints):
        app.session_interface = _SessionlessEndpoints(app.session_interface)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    from portal.forms import install_text_rules

    install_text_rules()  # control/bidi/zero-width characters and lengths, every form
    if not (app.debug or app.testing) and not app.config.get("SESSION_COOKIE_SECURE"):
        host = app.config["PORTAL_HOST"].rsplit(":", 1)[0]
        if host not in LOCAL_HOSTS and not host.endswith((".localhost", ".test")):
            app.logger.warning(
                "PORTAL_HOST is %s but cookies are not Secure: set PORTAL_HTTPS=true behind HTTPS",
                host,
            )
