"""Certificates (issue 9, item 5): what they list, numbers and codes, the period form, the PDF,
the public verification page and revocation by an admin."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.certificates import services
from portal.models import ActivityKind, Attendance, AuditEntry, Certificate
from portal.timeutil import local_today

NUMBER = re.compile(r"^ZS-\d{4}-\d{6}$")


def _count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Certificate))


@pytest.fixture
def record(db, make_shift, make_signup):
    """A past shift of ``activity`` with the person's attendance and hours."""

    def make(
        activity, user, days_ago=10, hours="2.0", attendance=Attendance.ATTENDED, confirmed=True
    ):
        shift = make_shift(activity, starts_in=-timedelta(days=days_ago))
        return make_signup(
            shift,
            user,
            attendance=attendance,
            hours=None if hours is None else Decimal(hours),
            hours_confirmed_at=datetime.now(UTC) if confirmed else None,
        )

    return make


@pytest.fixture
def resident_with_records(make_user, make_activity, make_unit, record):
    """王秀英: 3.5 confirmed volunteer hours in the last 60 days, and records that don't count."""
    person = make_user("王秀英")
    unit = make_unit("区交警大队")
    volunteer = make_activity(
        "县一小校门口交通文明劝导", unit=unit, contact_name="陈志强", place="县一小校门口"
    )
    community = make_activity("社区书法展", kind=ActivityKind.COMMUNITY, unit=unit)
    counted = [
        record(volunteer, person, days_ago=20, hours="2.0"),
        record(volunteer, person, days_ago=10, hours="1.5"),
    ]
    record(volunteer, person, days_ago=5, hours="3.0", confirmed=False)  # not confirmed
    record(community, person, days_ago=8, hours="4.0")  # community: never volunteer service
    record(volunteer, person, days_ago=7, hours=None, attendance=Attendance.NO_SHOW)
    record(volunteer, person, days_ago=200, hours="5.0")  # outside the period
    record(volunteer, make_user("李建国"), days_ago=9, hours="6.0")  # someone else's
    return person, counted


def _period():
    today = local_today()
    return {"start": (today - timedelta(days=60)).isoformat(), "end": today.isoformat()}


def _issue(client, login, person, **period):
    login(person)
    return client.post("/me/certificates", data=period or _period())


class TestIssuing:
    pytestmark = pytest.mark.both_databases

    def test_lists_only_confirmed_volunteer_records_of_the_period(
        self, client, db, login, resident_with_records
    ):
        person, counted = resident_with_records
        response = _issue(client, login, person)
        cert = db.session.scalars(select(Certificate)).one()
        assert response.status_code == 302
        assert response.headers["Location"] == f"/me/certificates/{cert.id}"
        assert cert.user_id == person.id
        assert cert.total_hours == Decimal("3.5")
        assert cert.record_count == 2
        assert [r["signup_id"] for r in cert.records] == [s.id for s in counted]
        first = cert.records[0]
        assert first["activity"] == "县一小校门口交通文明劝导"
        assert first["place"] == "县一小校门口"
        assert first["hours"] == 2.0
        assert first["unit"] == "区交警大队"
        assert first["in_charge"] == "陈志强"
        assert cert.issuer == "区创城指挥中心"
        assert NUMBER.match(cert.number)
        entry = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "certificate.issue")
        ).one()
        assert entry.target_id == cert.id

    def test_page_shows_records_total_issuer_and_verification_url(
        self, client, db, login, resident_with_records
    ):
        person, _ = resident_with_records
        _issue(client, login, person)
        cert = db.session.scalars(select(Certificate)).one()
        page = client.get(f"/me/certificates/{cert.id}").get_data(as_text=True)
        assert "王秀英" in page
        assert "社区书法展" not in page
        assert "3.5" in page and "区创城指挥中心" in page and cert.number in page
        assert f"http://portal.test/verify/{cert.code}" in page
        assert "<svg" in page  # the QR code
        listing = client.get("/me/certificates").get_data(as_text=True)
        assert cert.number in listing

    def test_numbers_and_codes_are_unique_and_readable(
        self, client, db, login, resident_with_records
    ):
        person, _ = resident_with_records
        for _ in range(3):
            assert _issue(client, login, person).status_code == 302
        certs = db.session.scalars(select(Certificate).order_by(Certificate.id)).all()
        numbers = [c.number for c in certs]
        codes = [c.code for c in certs]
        assert len(set(numbers)) == len(set(codes)) == 3
        assert all(NUMBER.match(n) for n in numbers)
        for code in codes:
            assert len(code) >= 12
            assert set(code) <= set(services.CODE_ALPHABET)
            assert not set(code) & set("0O1IL")

    def test_a_period_without_records_is_refused_and_nothing_saved(
        self, client, db, login, make_user, make_activity, record
    ):
        person = make_user("张三")
        record(make_activity(kind=ActivityKind.COMMUNITY), person, days_ago=3)
        record(make_activity(), person, days_ago=3, confirmed=False)
        response = _issue(client, login, person)
        assert response.status_code == 200
        assert "没有已确认的志愿服务时长" in response.get_data(as_text=True)
        assert _count(db) == 0


@pytest.mark.parametrize(
    "data, message",
    [
        ({"start": "2026-03-01", "end": "2026-02-01"}, "结束日期不能早于开始日期"),
        ({"start": "1900-01-01", "end": "2026-02-01"}, "不能早于 2000 年"),
        ({"start": "2026-01-01", "end": "2999-12-31"}, "结束日期不能晚于今天"),
        ({"start": "", "end": ""}, "请选择开始日期"),
        ({}, "请选择开始日期"),
        ({"start": "abc", "end": "20266-01-01"}, "请按 年-月-日 填写日期"),
    ],
    ids=["end-before-start", "far-past", "far-future", "empty", "missing", "garbage"],
)
def test_bad_periods_get_a_clear_message_and_save_nothing(
    client, db, login, resident_with_records, data, message
):
    person, _ = resident_with_records
    login(person)
    response = client.post("/me/certificates", data=data)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert _count(db) == 0


def test_the_form_defaults_to_this_year(client, login, make_user):
    login(make_user())
    page = client.get("/me/certificates").get_data(as_text=True)
    today = local_today()
    assert f'value="{today.year}-01-01"' in page
    assert f'value="{today.isoformat()}"' in page
    assert "你还没有申请过证明" in page


@pytest.fixture
def certificate(client, db, login, resident_with_records):
    person, _ = resident_with_records
    _issue(client, login, person)
    cert = db.session.scalars(select(Certificate)).one()
    with client.session_transaction() as sess:
        sess.clear()
    return cert


def test_someone_elses_certificate_is_not_found(client, login, make_user, certificate):
    login(make_user("李建国"))
    assert client.get(f"/me/certificates/{certificate.id}").status_code == 404
    assert client.get(f"/me/certificates/{certificate.id}.pdf").status_code == 404


class TestVerification:
    def test_a_valid_certificate_shows_masked_name_hours_and_issuer(self, client, certificate):
        response = client.get(f"/verify/{certificate.code}")
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "王*" in page and "王秀英" not in page
        assert "3.5" in page and "区创城指挥中心" in page and certificate.number in page
        assert "有效" in page and "已撤销" not in page
        assert response.headers["Referrer-Policy"] == "no-referrer"

    def test_a_typed_code_is_forgiving_about_case_spaces_and_dashes(self, client, certificate):
        typed = services.grouped(certificate.code).lower().replace("-", " - ")
        response = client.get("/verify", query_string={"code": typed})
        assert response.status_code == 302
        assert response.headers["Location"] == f"/verify/{certificate.code}"
        assert client.get("/verify").status_code == 200

    @pytest.mark.parametrize("code", ["ABCDEFGHJKMNPQRS", "short", "0" * 16, "%F0%9F%98%80"])
    def test_unknown_and_malformed_codes_look_the_same(self, client, certificate, code):
        response = client.get(f"/verify/{code}")
        assert response.status_code == 404
        assert "没有找到这份证明" in response.get_data(as_text=True)
        typed = client.get("/verify", query_string={"code": code})
        assert typed.status_code in (302, 404)
        if typed.status_code == 302:
            assert client.get(typed.headers["Location"]).status_code == 404

    def test_revoked_by_an_admin_the_page_says_so_and_when(
        self, client, db, login, make_user, certificate
    ):
        admin = login(make_user("管理员", is_admin=True))
        page = client.get(f"/verify/{certificate.code}").get_data(as_text=True)
        assert "撤销这份证明" in page
        response = client.post(
            f"/certificates/{certificate.id}/revoke", data={"reason": "时长记录有误，重新出具"}
        )
        assert response.status_code == 302
        assert response.headers["Location"] == f"/verify/{certificate.code}"
        db.session.refresh(certificate)
        assert certificate.revoked_at is not None and certificate.revoked_by_id == admin.id
        assert not certificate.is_valid
        entry = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "certificate.revoke")
        ).one()
        assert entry.target_id == certificate.id and entry.actor_id == admin.id
        with client.session_transaction() as sess:
            sess.clear()
        page = client.get(f"/verify/{certificate.code}").get_data(as_text=True)
        assert "已撤销：这份证明已于" in page
        assert "时长记录有误" not in page  # the reason is for the audit log, not the public

    def test_revoking_needs_a_reason_and_happens_once(
        self, client, db, login, make_user, certificate
    ):
        login(make_user("管理员", is_admin=True))
        response = client.post(f"/certificates/{certificate.id}/revoke", data={"reason": " "})
        assert response.status_code == 200
        assert "请写明撤销原因" in response.get_data(as_text=True)
        db.session.refresh(certificate)
        assert certificate.is_valid
        client.post(f"/certificates/{certificate.id}/revoke", data={"reason": "重复出具"})
        again = client.post(f"/certificates/{certificate.id}/revoke", data={"reason": "再来"})
        assert again.status_code == 200
        assert "已经撤销过了" in again.get_data(as_text=True)
        db.session.refresh(certificate)
        assert certificate.revoke_reason == "重复出具"

    def test_nobody_but_an_admin_can_revoke(self, client, db, login, certificate):
        response = client.post(f"/certificates/{certificate.id}/revoke", data={"reason": "x"})
        assert response.status_code == 302 and "/account/login" in response.headers["Location"]
        login(certificate.user)  # even the owner
        assert (
            client.post(f"/certificates/{certificate.id}/revoke", data={"reason": "x"}).status_code
            == 403
        )
        assert "撤销这份证明" not in client.get(f"/verify/{certificate.code}").get_data(
            as_text=True
        )
        db.session.refresh(certificate)
        assert certificate.is_valid


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: install poppler-utils (.ci/run does)")
    return path


def test_the_pdf_has_the_name_hours_and_url_with_its_font_embedded(
    client, login, certificate, tmp_path
):
    login(certificate.user)
    response = client.get(f"/me/certificates/{certificate.id}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert f"{certificate.number}.pdf" in response.headers["Content-Disposition"]
    path = tmp_path / "certificate.pdf"
    path.write_bytes(response.data)
    text = subprocess.run(
        [_tool("pdftotext"), "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "王秀英" in text
    assert "3.5" in text
    assert f"http://portal.test/verify/{certificate.code}" in text
    assert "志愿服务证明" in text and "区创城指挥中心" in text
    assert "社区书法展" not in text
    fonts = subprocess.run(
        [_tool("pdffonts"), str(path)], check=True, capture_output=True, text=True
    ).stdout
    rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    assert rows, fonts
    assert all("NotoSansSC" in row[0] for row in rows), fonts
    # Columns: name, type (may be two words), encoding, emb, sub, uni, object, generation.
    assert all(row[-5] == "yes" for row in rows), fonts


def test_a_revoked_certificate_says_so_in_its_pdf(app, db, certificate, make_user):
    from portal.certificates.pdf import certificate_pdf

    with app.test_request_context():
        services.revoke(certificate, make_user("管理员", is_admin=True), "重复出具")
        body = certificate_pdf(
            certificate,
            "王秀英",
            "http://x/verify/C",
            "2026年1月1日",
            "2026年1月1日 至 2026年2月1日",
        )
    assert body.startswith(b"%PDF")
    assert len(body) < 200_000  # the font is subset, not the whole 8 MB file


def test_check_period_refuses_what_the_form_cannot(app):
    today = local_today()
    with app.test_request_context():
        assert services.check_period(today, today) == services.Period(today, today)
        with pytest.raises(services.CertificateError) as exc:
            services.check_period(today, today - timedelta(days=1))
        assert exc.value.field == "end"
        with pytest.raises(services.CertificateError) as exc:
            services.check_period(None, today)
        assert exc.value.field == "start"


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("abcd-efgh-jkmn-pqrs", "ABCDEFGHJKMNPQRS"),
        (" ABCD EFGH JKMN PQRS ", "ABCDEFGHJKMNPQRS"),
        ("ABCDEFGHJKMNPQRO", None),
        ("ABC", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_code(typed, stored):
    assert services.normalise_code(typed) == stored
