"""Visitors can subscribe to public feeds from a page with links, QR code and how-to."""

from __future__ import annotations

import pytest

from portal.models import ActivityStatus

WECHAT = "Mozilla/5.0 (Linux; Android 12) AppleWebKit/537.36 MicroMessenger/8.0.40"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1"


@pytest.fixture
def objects(make_activity, make_programme):
    activity = make_activity("福洋溪河道清洁", programmes=[make_programme("城区内河")])
    return {
        "zones": activity.zone.id,
        "programmes": activity.programmes[0].id,
        "activities": activity.id,
    }


@pytest.mark.parametrize("kind", ["all", "zones", "programmes", "activities"])
def test_public_subscribe_page_gives_webcal_https_and_qr(client, objects, kind):
    url = "/calendar/public" if kind == "all" else f"/calendar/public/{kind}/{objects[kind]}"
    response = client.get(url, headers={"User-Agent": IPHONE})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    feed = {
        "all": "/calendar/all.ics",
        "zones": f"/calendar/zones/{objects['zones']}.ics",
        "programmes": f"/calendar/programmes/{objects['programmes']}.ics",
        "activities": f"/calendar/activities/{objects['activities']}.ics",
    }[kind]
    assert f'href="webcal://portal.test{feed}"' in html
    assert f'value="http://portal.test{feed}"' in html
    assert "<svg" in html  # the QR code, inline
    assert 'rel="alternate" type="text/calendar"' in html
    assert "Safari" in html  # iPhone instructions first


def test_wechat_gets_open_in_browser_instead_of_webcal(client, objects):
    html = client.get("/calendar/public", headers={"User-Agent": WECHAT}).get_data(as_text=True)
    assert "选择在浏览器打开" in html
    assert "webcal://" not in html
    assert 'readonly value="http://portal.test/calendar/all.ics"' in html


@pytest.mark.parametrize(
    "url",
    [
        "/calendar/public/zones/999",
        "/calendar/public/programmes/999",
        "/calendar/public/activities/999",
        "/calendar/public/units/1",
        "/calendar/public/zones/abc",
    ],
)
def test_unknown_objects_are_404(client, objects, url):
    assert client.get(url).status_code == 404


def test_draft_activity_has_no_public_subscription(client, make_activity):
    draft = make_activity(status=ActivityStatus.DRAFT)
    assert client.get(f"/calendar/public/activities/{draft.id}").status_code == 404


def test_pages_link_to_their_public_subscription(client, objects):
    pages = {
        f"/{kind}/{objects[kind]}": f"/calendar/public/{kind}/{objects[kind]}"
        for kind in ("zones", "programmes", "activities")
    }
    pages["/activities"] = "/calendar/public"
    for page, target in pages.items():
        html = client.get(page).get_data(as_text=True)
        assert f'href="{target}"' in html, page
        assert 'rel="alternate" type="text/calendar"' in html, page


def test_my_schedule_links_to_personal_subscription(client, login, make_user):
    login(make_user())
    html = client.get("/me").get_data(as_text=True)
    assert 'href="/calendar/subscribe"' in html


@pytest.mark.parametrize(
    "kind,words",
    [
        ("all", "今天起 30 天内的班次，按时间先后最多 200 个"),
        ("zones", "今天起 30 天内的班次，按时间先后最多 200 个"),
        ("programmes", "今天起 30 天内的班次，按时间先后最多 200 个"),
        ("activities", "今天起一年内的班次，按时间先后最多 1000 个"),
    ],
)
def test_subscribe_page_says_what_the_calendar_holds(client, objects, kind, words):
    url = "/calendar/public" if kind == "all" else f"/calendar/public/{kind}/{objects[kind]}"
    html = client.get(url).get_data(as_text=True)
    assert words in html
    assert "结束后第二天从日历里移走" in html


def test_all_activities_page_offers_programme_and_zone_feeds(client, objects):
    html = client.get("/calendar/public").get_data(as_text=True)
    assert "按项目订阅" in html
    assert f'href="/calendar/public/programmes/{objects["programmes"]}"' in html
    assert f'href="/calendar/public/zones/{objects["zones"]}"' in html
    zone_page = client.get(f"/calendar/public/zones/{objects['zones']}").get_data(as_text=True)
    assert f'href="/calendar/public/programmes/{objects["programmes"]}"' in zone_page


def test_personal_subscribe_page_says_what_the_calendar_holds(client, login, make_user):
    login(make_user())
    html = client.get("/calendar/subscribe").get_data(as_text=True)
    assert "60 天前到一年后" in html
