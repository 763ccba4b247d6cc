"""Configuration: safe defaults, then ``instance/config.py``, then environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask


class DefaultConfig:
    """Defaults that are safe for a laptop; production overrides through the environment."""

    SQLALCHEMY_DATABASE_URI: str | None = None  # filled in from instance_path when unset
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    PORTAL_TIMEZONE = "Asia/Shanghai"
    PORTAL_NAME = "创文明城·迎省运会 志愿服务与活动平台"
    PORTAL_HOST = "portal.localhost"  # used in calendar UIDs; set to the public host name
    BABEL_DEFAULT_LOCALE = "zh_Hans_CN"
    LANGUAGES = ("zh_Hans_CN", "en")
    PAGE_SIZE = 20
    PRIVACY_NOTICE_VERSION = "2026-11-28"  # raise when the notice changes: all re-consent
    CANCELLATION_DEADLINE_HOURS = 2  # a new activity's default; each activity keeps its own
    # Confirmed volunteer hours for each star level (星级志愿者). Nothing reads it yet: an
    # upcoming feature will, and deployments may set it ahead of that.
    STAR_THRESHOLDS = (100, 300, 600, 1000, 1500)
    # The unit named on volunteer service certificates as their issuer (出具单位).
    CERTIFICATE_ISSUER = "区创城指挥中心"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session; old phones sit idle
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_ENABLED = True  # PORTAL_RATELIMIT_ENABLED=false turns every limit off (load tests)
    # --- hardening (issue 11; see portal/security.py and README "Configuration") ---
    # Rate limits, "N per period" (limits syntax), each overridable as PORTAL_RATELIMIT_<KEY>.
    RATELIMITS = {
        "login_phone": "5 per 15 minutes",  # login attempts for one phone number
        "login_address": "30 per 15 minutes",  # failed logins from one address (all phones)
        "register": "10 per hour",  # registrations from one address
        "signup": "30 per hour",  # sign-ups by one person
        "password_reset": "10 per hour",  # password-reset requests and resets, per address
        "one_time_password": "60 per hour",  # one-time passwords given out by one organizer
        "feeds": "600 per hour",  # calendar feed downloads from one address
    }
    PORTAL_HTTPS = False  # behind HTTPS: Secure cookies, HSTS, https:// links
    TRUSTED_HOSTS: list[str] | None = None  # None: PORTAL_HOST, localhost and 127.0.0.1
    PROXY_FIX_HOPS = 0  # proxies in front whose X-Forwarded-For/-Proto are believed
    MAX_CONTENT_LENGTH = 1024 * 1024  # bytes in one request; more is a 413 page
    MAX_FORM_MEMORY_SIZE = 256 * 1024  # bytes in one form field
    SESSION_IDLE_MINUTES = 120  # a session unused this long ends (unless "keep me logged in")
    SESSION_MAX_HOURS = 12  # a session ends this long after the login, used or not
    REMEMBER_DAYS = 30  # "keep me logged in on this device" ends this long after the login
    PASSWORD_RESET_MINUTES = 60  # a 忘记密码 e-mail link works this long, once (portal/recovery)
    REMEMBER_COOKIE_NAME = "remember_token"
    COMMUNITY_SIGNUP_RETENTION_DAYS = 180  # purge-expired anonymises community sign-ups after
    AUDIT_RETENTION_DAYS = 365  # purge-expired deletes older audit entries; at least 180
    MAIL_SERVER: str | None = None
    MAIL_PORT = 25
    MAIL_FROM = "noreply@portal.localhost"
    MAIL_USE_TLS = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    FEED_REFRESH_MINUTES = 60
    # Command-centre dashboard (portal/dashboard/services.py; README "Dashboard").
    # Leaders are expected in each of their zones' area twice a month (领导每月至少下片区两次).
    LEADER_VISITS_PER_MONTH = 2
    # The zones' composite score: each part scored 0–100, weighted; the weights sum to 1.
    DASHBOARD_SCORE_WEIGHTS = {
        "participation": 0.30,  # unique participants / population, as a share of the best zone
        "hours": 0.25,  # confirmed hours per 1,000 residents, as a share of the best zone
        "fill": 0.15,  # places taken / capacity of shifts held
        "attendance": 0.10,  # 1 − no-show rate
        "visits": 0.20,  # leader visits / target (LEADER_VISITS_PER_MONTH × leaders × months)
    }
    DASHBOARD_BOTTOM_ZONES = 2  # the last N zones are highlighted as 排名靠后


# Environment variables read on top of the defaults and instance/config.py.
# Plain names first (the conventional ones), then PORTAL_* for everything else.
ENV_MAP = {
    "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "SECRET_KEY": "SECRET_KEY",
    "REDIS_URL": "RATELIMIT_STORAGE_URI",
    "PORTAL_TIMEZONE": "PORTAL_TIMEZONE",
    "PORTAL_HOST": "PORTAL_HOST",
    "PORTAL_CERTIFICATE_ISSUER": "CERTIFICATE_ISSUER",
    "PORTAL_MAIL_SERVER": "MAIL_SERVER",
    "PORTAL_MAIL_PORT": "MAIL_PORT",
    "PORTAL_MAIL_FROM": "MAIL_FROM",
    "PORTAL_MAIL_USE_TLS": "MAIL_USE_TLS",
    "PORTAL_MAIL_USERNAME": "MAIL_USERNAME",
    "PORTAL_MAIL_PASSWORD": "MAIL_PASSWORD",
    "PORTAL_SESSION_COOKIE_SECURE": "SESSION_COOKIE_SECURE",
    "PORTAL_HTTPS": "PORTAL_HTTPS",
    "PORTAL_TRUSTED_HOSTS": "TRUSTED_HOSTS",
    "PORTAL_PROXY_FIX_HOPS": "PROXY_FIX_HOPS",
    "PORTAL_MAX_CONTENT_LENGTH": "MAX_CONTENT_LENGTH",
    "PORTAL_SESSION_IDLE_MINUTES": "SESSION_IDLE_MINUTES",
    "PORTAL_SESSION_MAX_HOURS": "SESSION_MAX_HOURS",
    "PORTAL_REMEMBER_DAYS": "REMEMBER_DAYS",
    "PORTAL_PASSWORD_RESET_MINUTES": "PASSWORD_RESET_MINUTES",
    "PORTAL_RATELIMIT_ENABLED": "RATELIMIT_ENABLED",
    "PORTAL_COMMUNITY_SIGNUP_RETENTION_DAYS": "COMMUNITY_SIGNUP_RETENTION_DAYS",
    "PORTAL_AUDIT_RETENTION_DAYS": "AUDIT_RETENTION_DAYS",
}
RATELIMIT_ENV_PREFIX = "PORTAL_RATELIMIT_"  # PORTAL_RATELIMIT_LOGIN_PHONE="5 per 15 minutes"


def normalise_database_url(url: str) -> str:
    """Make ``postgres://`` and ``postgresql://`` URLs use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _coerce(value: str):
    if value.lower() in {"true", "1", "yes"}:
        return True
    if value.lower() in {"false", "0", "no"}:
        return False
    if value.isdigit():
        return int(value)
    return value


def load_config(app: Flask, test_config: dict | None) -> None:
    """Fill ``app.config`` in order: defaults, instance file, environment, test overrides."""
    app.config.from_object(DefaultConfig)
    instance = Path(app.instance_path)
    if test_config is None:
        instance.mkdir(parents=True, exist_ok=True)
        app.config.from_pyfile("config.py", silent=True)
        for env_name, key in ENV_MAP.items():
            if os.environ.get(env_name):
                app.config[key] = _coerce(os.environ[env_name])
        app.config["RATELIMITS"] = dict(app.config["RATELIMITS"])
        for key in app.config["RATELIMITS"]:
            value = os.environ.get(RATELIMIT_ENV_PREFIX + key.upper())
            if value:
                app.config["RATELIMITS"][key] = value
    else:
        app.config.update(test_config)
    _derive_hardening(app)

    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        instance.mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'portal.sqlite3'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # SQLite serialises writers itself; a small pool avoids idle handles on the file.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
            "connect_args": {"timeout": 30},
        }
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(instance)


def _derive_hardening(app: Flask) -> None:
    """Settings that follow from others: HTTPS → Secure cookies; lifetimes → cookie ages."""
    from datetime import timedelta

    config = app.config
    if isinstance(config.get("TRUSTED_HOSTS"), str):
        config["TRUSTED_HOSTS"] = [h.strip() for h in config["TRUSTED_HOSTS"].split(",") if h]
    if config.get("PORTAL_HTTPS"):
        config["SESSION_COOKIE_SECURE"] = True
        config["PREFERRED_URL_SCHEME"] = "https"
    # Both cookies share one Secure switch: the remember cookie is as good as a password.
    config["REMEMBER_COOKIE_SECURE"] = bool(config.get("SESSION_COOKIE_SECURE"))
    config["REMEMBER_COOKIE_DURATION"] = timedelta(days=int(config["REMEMBER_DAYS"]))


def _instance_secret(instance: Path) -> str:
    """Read the generated secret from ``instance/secret_key``, creating it on first run."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker wrote it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
