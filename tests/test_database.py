"""Write transactions: the lock comes first, and nothing is ever committed half-way."""

from __future__ import annotations

import pytest

from portal.database import begin_write
from portal.models import Zone

pytestmark = pytest.mark.both_databases


def test_begin_write_is_idempotent_within_a_transaction(db):
    session = db.session()
    begin_write(session)
    tx = session.get_transaction()
    session.add(Zone(name="甲"))
    session.flush()
    begin_write(session)  # a service called by another service: same transaction, no commit
    assert session.get_transaction() is tx
    session.rollback()
    assert db.session.scalar(db.select(Zone).where(Zone.name == "甲")) is None


@pytest.mark.parametrize("flushed", [False, True])
def test_begin_write_after_a_write_is_refused_not_committed(db, flushed):
    session = db.session()
    session.add(Zone(name="半截"))
    if flushed:
        session.flush()
    with pytest.raises(RuntimeError):
        begin_write(session)
    session.rollback()
    assert db.session.scalar(db.select(Zone).where(Zone.name == "半截")) is None


def test_begin_write_after_reads_starts_a_fresh_transaction(db, make_zone):
    make_zone("乙")
    session = db.session()
    session.scalar(db.select(Zone))
    begin_write(session)
    session.add(Zone(name="丙"))
    session.commit()
    assert db.session.scalar(db.select(Zone).where(Zone.name == "丙")) is not None
