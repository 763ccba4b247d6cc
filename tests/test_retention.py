"""purge-expired: community sign-ups anonymised after the retention period (volunteer service
records kept), audit entries kept at least 180 days and never purged earlier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.models import ActivityKind, AuditEntry, Signup, User

pytestmark = pytest.mark.both_databases


def _ago(days: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)


@pytest.fixture
def past(make_activity, make_shift, make_signup, make_user):
    community = make_activity(title="社区文艺汇演", kind=ActivityKind.COMMUNITY)
    volunteer = make_activity(title="交通文明劝导", kind=ActivityKind.VOLUNTEER)
    old_c = make_shift(community, starts_at=_ago(200), length=timedelta(hours=2))
    recent_c = make_shift(community, starts_at=_ago(30), length=timedelta(hours=2))
    old_v = make_shift(volunteer, starts_at=_ago(200), length=timedelta(hours=2))
    wang, li = make_user("王秀英", phone="13800001111"), make_user("李建国", phone="13800002222")
    return {
        "old_c": [
            make_signup(old_c, wang, reason="家里有事", hours_note="x"),
            make_signup(old_c, li),
        ],
        "recent_c": make_signup(recent_c, wang),
        "old_v": make_signup(old_v, wang),
        "wang": wang,
    }


def test_old_community_signups_are_anonymised_and_nothing_else(app, db, runner, past):
    result = runner.invoke(args=["purge-expired"])
    assert result.exit_code == 0, result.output
    assert "Community sign-ups anonymised: 2" in result.output
    db.session.expire_all()
    for signup in past["old_c"]:
        signup = db.session.get(Signup, signup.id)
        assert signup.user.real_name == "匿名参与者" and signup.user.phone is None
        assert not signup.user.is_active and signup.reason == "" and signup.hours_note == ""
    assert len({db.session.get(Signup, s.id).user_id for s in past["old_c"]}) == 2
    # Recent community sign-ups and volunteer service records stay with the person.
    assert db.session.get(Signup, past["recent_c"].id).user_id == past["wang"].id
    assert db.session.get(Signup, past["old_v"].id).user_id == past["wang"].id
    assert db.session.get(User, past["wang"].id).real_name == "王秀英"
    # Running it again finds nothing more.
    again = runner.invoke(args=["purge-expired"])
    assert "Community sign-ups anonymised: 0" in again.output


@pytest.mark.parametrize("app_config", [{"COMMUNITY_SIGNUP_RETENTION_DAYS": 10}])
def test_the_period_is_configuration(app, db, runner, past):
    result = runner.invoke(args=["purge-expired"])
    assert "Community sign-ups anonymised: 3" in result.output


def _audit(db, days_old: float) -> AuditEntry:
    entry = AuditEntry(action="test.entry", summary=f"age {days_old}", created_at=_ago(days_old))
    db.session.add(entry)
    db.session.commit()
    return entry


@pytest.mark.parametrize(("days", "kept"), [(365, {10, 179, 181, 364}), (180, {10, 179})])
def test_audit_entries_older_than_retention_go_younger_stay(app, db, runner, days, kept):
    app.config["AUDIT_RETENTION_DAYS"] = days
    for age in (10, 179, 181, 364, 400):
        _audit(db, age)
    result = runner.invoke(args=["purge-expired"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    left = set(db.session.scalars(db.select(AuditEntry.summary).filter_by(action="test.entry")))
    assert left == {f"age {age}" for age in kept}
    # The purge itself is logged.
    assert db.session.scalar(db.select(AuditEntry.summary).filter_by(action="retention.purge"))


@pytest.mark.parametrize("days", [0, 30, 179])
def test_audit_retention_below_180_days_is_refused_and_nothing_is_purged(
    app, db, runner, days, past
):
    app.config["AUDIT_RETENTION_DAYS"] = days
    _audit(db, 200)
    result = runner.invoke(args=["purge-expired"])
    assert result.exit_code != 0 and "at least 180 days" in result.output
    db.session.expire_all()
    assert db.session.scalar(db.select(AuditEntry.summary)) == "age 200"
    assert db.session.get(Signup, past["old_c"][0].id).user_id == past["wang"].id
