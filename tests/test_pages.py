"""Health check, error pages, language and large-text switches, static assets."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from portal.extensions import db as _db
from portal.models import Zone


def test_healthz_answers_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_503_when_database_is_gone(app, client, tmp_path):
    app.config["SQLALCHEMY_DATABASE_URI"]  # noqa: B018 - the app is built; now break its engine
    from sqlalchemy import create_engine

    engine = _db.engine
    broken = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    _db._app_engines[app][None] = broken
    try:
        response = client.get("/healthz")
    finally:
        _db._app_engines[app][None] = engine
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "页面不存在" in html and "回到首页" in html


def test_friendly_500_rolls_back(app, client, db):
    @app.route("/boom")
    def boom():
        db.session.add(Zone(name="半截数据"))
        db.session.flush()
        raise RuntimeError("boom")

    response = client.get("/boom")
    assert response.status_code == 500
    assert "系统出了点问题" in response.get_data(as_text=True)
    assert db.session.scalar(db.select(Zone).where(Zone.name == "半截数据")) is None


def test_chinese_by_default_and_english_switch(client):
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "找活动" in html
    response = client.post("/lang/en", data={"next": "/activities"})
    assert response.status_code == 302 and response.headers["Location"] == "/activities"
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Find activities" in html
    client.post("/lang/zh_Hans_CN", data={"next": "/"})
    assert '<html lang="zh-CN">' in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil"])
def test_switches_never_redirect_off_site(client, target):
    for url in ("/lang/en", "/large-text"):
        response = client.post(url, data={"next": target})
        assert response.headers["Location"] == "/"


def test_unknown_language_is_ignored(client):
    client.post("/lang/xx")
    assert '<html lang="zh-CN">' in client.get("/").get_data(as_text=True)


def test_large_text_switch_is_kept_in_a_cookie(client):
    assert 'class="large-text"' not in client.get("/").get_data(as_text=True)
    client.post("/large-text", data={"next": "/"})
    assert 'class="large-text"' in client.get("/").get_data(as_text=True)
    client.post("/large-text", data={"next": "/"})
    assert 'class="large-text"' not in client.get("/").get_data(as_text=True)


def test_switch_forms_need_csrf(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/lang/en", data={"next": "/"})
    assert response.status_code == 400
    assert "页面已过期" in response.get_data(as_text=True)


def test_pages_load_no_third_party_assets(client):
    html = client.get("/").get_data(as_text=True)
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        # Absolute links are fine only to this site, PORTAL_HOST (feeds advertise full URLs).
        if url.startswith(("http://", "https://", "//")):
            assert urlsplit(url).hostname == "portal.test", url
    response = client.get("/static/css/site.css")
    assert response.status_code == 200
    response.close()


def test_test_client_follows_redirects_in_fresh_contexts(client):
    response = client.post("/lang/en", data={"next": "/zones"}, follow_redirects=True)
    assert response.status_code == 200
    assert response.request.path == "/zones"


def test_form_fields_tie_help_and_errors_without_bogus_attributes(client):
    html = client.get("/account/register").get_data(as_text=True)
    assert '"None"' not in html
    assert 'aria-describedby="real_name-help"' in html
    html = client.post("/account/register", data={"phone": "123"}).get_data(as_text=True)
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="phone-help phone-error"' in html
