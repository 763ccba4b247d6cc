"""Friendly error pages; JSON errors under /api/."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def register_error_handlers(app: Flask) -> None:
    from portal.extensions import db

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        db.session.rollback()
        message = _("页面已过期或表单来源不明，请返回上一页刷新后重试。")
        return render_template("errors/error.html", code=400, message=message), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        db.session.rollback()
        if _wants_json():
            return (
                jsonify(error={"code": error.code, "message": error.name}),
                error.code,
                (
                    {"Retry-After": str(error.retry_after)}
                    if getattr(error, "retry_after", 0)
                    else {}
                ),
            )
        messages = {
            403: _("你没有权限查看这个页面。"),
            404: _("没有找到这个页面，它可能已被删除或地址有误。"),
            405: _("不支持这种请求方式。"),
            410: _("这个链接已失效。"),
            429: _("操作太频繁了，请稍后再试。"),
        }
        message = messages.get(error.code or 500, error.description or "")
        headers = {}
        if error.code == 413:
            from portal.security import _request_too_large_message

            message = _request_too_large_message()
        if error.code == 429:
            from portal.security import retry_after_of, waiting_words

            wait = retry_after_of(error)
            if wait:
                headers["Retry-After"] = str(wait)
                message = _("操作太频繁了，请在 %(wait)s后再试。", wait=waiting_words(wait))
        return (
            render_template("errors/error.html", code=error.code, message=message),
            error.code,
            headers,
        )

    @app.errorhandler(Exception)
    def server_error(error: Exception):
        db.session.rollback()
        app.logger.exception("Unhandled error on %s", request.path)
        if _wants_json():
            return jsonify(error={"code": 500, "message": "Internal Server Error"}), 500
        message = _("系统出了点问题，我们已记录下来。请稍后再试。")
        return render_template("errors/error.html", code=500, message=message), 500
