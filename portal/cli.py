"""Command-line tasks: ``flask --app portal seed-demo`` and friends."""

from __future__ import annotations

import click
from flask import Flask


def register_cli(app: Flask) -> None:
    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Only seed when the database has no zones.")
    def seed_demo_command(if_empty: bool) -> None:
        """Load the demo district (idempotent: running it twice changes nothing)."""
        from portal.demo import DEMO_ACCOUNTS, database_is_empty, seed_demo
        from portal.extensions import db

        if if_empty and not database_is_empty():
            click.echo("Database already has data; demo district not loaded again.")
        else:
            stats = seed_demo()
            db.session.commit()
            click.echo(
                "Demo district ready: "
                + ", ".join(f"{count} new {name}" for name, count in stats.items())
            )
        click.echo("Demo logins (phone / password):")
        for role, phone, password in DEMO_ACCOUNTS:
            click.echo(f"  {role:<12} {phone} / {password}")

    @app.cli.command("send-reminders")
    def send_reminders_command() -> None:
        """Remind confirmed volunteers about shifts starting within 25 hours (run from cron)."""
        from portal.extensions import db
        from portal.organize.services import send_due_reminders

        sent = send_due_reminders()
        db.session.commit()
        click.echo(f"Reminders sent: {sent}")
