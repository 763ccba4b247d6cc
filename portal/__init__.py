"""The 创文明城、迎省运会 volunteer and activity portal."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, abort, g, request
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from portal.config import load_config


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application: config → extensions → blueprints → errors → cli."""
    from portal.security import PortalFlask

    app = PortalFlask(__name__, instance_relative_config=True)
    load_config(app, test_config)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config["PORTAL_TIMEZONE"])
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["PORTAL_TIMEZONE"]

    _init_extensions(app)
    app.url_map.converters["int"] = BoundedIntConverter
    _register_blueprints(app)
    _refuse_nul_bytes(app)
    from portal import security

    security.init_app(app)  # hosts, proxies, headers, limits (after the blueprints' hooks)

    from portal.errors import register_error_handlers

    register_error_handlers(app)

    from portal.cli import register_cli

    register_cli(app)
    from portal.backup import register_backup_cli

    register_backup_cli(app)
    _register_template_helpers(app)
    return app


class BoundedIntConverter(IntegerConverter):
    """``<int:…>`` limited to what an INTEGER column holds, so huge ids are a 404, not a 500."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


def _refuse_nul_bytes(app: Flask) -> None:
    """Answer 400 to NUL characters in query or form values (PostgreSQL text refuses them)."""

    @app.before_request
    def _check():
        for values in (request.args, request.form):
            for key, value in values.items(multi=True):
                if "\x00" in key or "\x00" in value:
                    abort(400)


def _select_locale() -> str:
    from flask import current_app, has_request_context

    if not has_request_context():  # CLI commands and services called outside a request
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    wanted = request.args.get("lang") or request.cookies.get("lang")
    if wanted in current_app.config["LANGUAGES"]:
        return wanted
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def _init_extensions(app: Flask) -> None:
    from portal.database import configure_engine, install_write_path
    from portal.extensions import babel, csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
        from portal.dashboard import freshness

        freshness.install(db.engine)  # the dashboard cache's data version (same transaction)
    install_write_path(app, db)
    migrate.init_app(
        app, db, directory=str(Path(app.root_path).parent / "migrations"), render_as_batch=True
    )
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    limiter.init_app(app)

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None  # the login page itself explains why
    login_manager.session_protection = "basic"

    from portal.auth.services import load_user

    login_manager.user_loader(load_user)


def _register_blueprints(app: Flask) -> None:
    from portal.admin.views import bp as admin_bp
    from portal.admin.views import counter_bp
    from portal.api.views import bp as api_bp
    from portal.attendance.checkin_views import bp as checkin_bp
    from portal.attendance.views import bp as attendance_bp
    from portal.auth.views import bp as auth_bp
    from portal.browse.views import bp as browse_bp
    from portal.certificates.views import bp as certificates_bp
    from portal.dashboard.views import bp as dashboard_bp
    from portal.feeds.views import bp as feeds_bp
    from portal.main.views import bp as main_bp
    from portal.organize.views import bp as organize_bp
    from portal.recovery.views import bp as recovery_bp
    from portal.signups.views import bp as signups_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(browse_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(feeds_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(organize_bp)
    app.register_blueprint(signups_bp)
    app.register_blueprint(certificates_bp)
    app.register_blueprint(attendance_bp)
    app.register_blueprint(checkin_bp)
    app.register_blueprint(recovery_bp)
    app.register_blueprint(admin_bp)  # also sends one-time-password holders to change it
    app.register_blueprint(counter_bp)
    app.register_blueprint(dashboard_bp)


def _register_template_helpers(app: Flask) -> None:
    from flask_babel import get_locale

    from portal import labels, permissions, timeutil
    from portal.privacy import mask_name, mask_phone

    app.jinja_env.filters.update(
        datetime=timeutil.fmt_datetime,
        date=timeutil.fmt_date,
        short=timeutil.fmt_short,
        time=timeutil.fmt_time,
        day=timeutil.fmt_day,
        mask_name=mask_name,
        mask_phone=mask_phone,
    )
    app.jinja_env.globals.update(fmt_range=timeutil.fmt_range, perm=permissions, labels=labels)

    @app.context_processor
    def _inject():
        locale = get_locale()
        lang = "zh-CN" if locale is None or locale.language == "zh" else "en"
        return {
            "html_lang": lang,
            "large_text": request.cookies.get("large") == "1",
            "is_wechat": "MicroMessenger" in (request.user_agent.string or ""),
            "unread_notifications": _unread(),
        }

    def _unread() -> int:
        if not current_user.is_authenticated:
            return 0
        if "unread" not in g:
            from portal.notifications.services import unread_count

            g.unread = unread_count(current_user)
        return g.unread
