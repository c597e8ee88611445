"""Wake-ups are queued with the change and go out only when its transaction commits."""

from __future__ import annotations

from sqlalchemy import text

from app.extensions import db
from app.pushhub import hub


def test_wakeups_wait_for_the_commit_and_die_with_a_rollback(app):
    with app.app_context():
        waiter = hub.waiter("WAKEUPTEST01")
        try:
            db.session.execute(text("SELECT 1"))
            hub.publish_after_commit(["WAKEUPTEST01"])
            assert not waiter.event.is_set()  # not before the commit
            db.session.rollback()
            db.session.execute(text("SELECT 1"))
            db.session.commit()
            assert not waiter.event.is_set()  # the rolled-back change wakes nobody

            db.session.execute(text("SELECT 1"))
            hub.publish_after_commit(["WAKEUPTEST01"])
            hub.publish_after_commit(["OTHERDEVICE1"])  # one publish for the transaction
            db.session.commit()
            assert waiter.event.is_set()
        finally:
            waiter.close()
