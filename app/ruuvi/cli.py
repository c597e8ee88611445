"""``flask ruuvi …``: the operator's view of Ruuvi accounts' sessions."""

from __future__ import annotations

import click

from app.cli import HomepairGroup
from app.extensions import db
from app.ruuvi import service


@click.group(cls=HomepairGroup)
def ruuvi() -> None:
    """Ruuvi Cloud accounts."""


def _account(email: str) -> service.Caller:
    caller = service.account_of(email)
    if caller is None:
        raise click.ClickException(f"no account for {email}")
    return caller


@ruuvi.command("sessions")
@click.argument("email")
def sessions(email: str) -> None:
    """List EMAIL's sessions: id, created and last used (epoch seconds, UTC)."""
    for item in service.sessions_of(_account(email)):
        click.echo(f"{item['id']}\tcreated {item['createdAt']}\tlast used {item['lastAccessed']}")


@ruuvi.command("revoke")
@click.argument("email")
@click.option("--session", "session_id", help="Revoke only this session id (default: all).")
def revoke(email: str, session_id: str | None) -> None:
    """Sign EMAIL out: one session, or all of them."""
    caller = _account(email)
    if session_id is None:
        service.revoke_all(caller)
        db.session.commit()
        click.echo(f"Every session of {email} revoked")
        return
    if not service.revoke_session(caller, session_id):
        raise click.ClickException(f"{email} has no session {session_id}")
    db.session.commit()
    click.echo(f"Session {session_id} of {email} revoked")
