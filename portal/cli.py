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

    @app.cli.command("deliver")
    @click.option(
        "--limit",
        type=click.IntRange(min=1),
        default=None,
        help="Handle at most this many e-mails in this run (default: all that are due).",
    )
    @click.option(
        "--batch-size",
        type=click.IntRange(1, 500),
        default=20,
        show_default=True,
        help="E-mails claimed, sent and committed together.",
    )
    def deliver_command(limit: int | None, batch_size: int) -> None:
        """Send the e-mails waiting in the outbox (cron, every minute; safe to run in parallel)."""
        from portal.notifications.mail import mail_enabled
        from portal.notifications.outbox import deliver, pending_count

        if not mail_enabled():
            click.echo("Mail is not configured (MAIL_SERVER is not set): nothing delivered.")
            return
        report = deliver(limit=limit, batch_size=batch_size)
        click.echo(
            f"E-mails sent: {report.sent}, to retry: {report.retrying}, "
            f"given up: {report.gave_up}, dropped: {report.dropped}; "
            f"still waiting: {pending_count()}"
        )

    @app.cli.command("seed-bench")
    @click.option(
        "--scale",
        type=click.FloatRange(0.0001, 10),
        default=1.0,
        show_default=True,
        help="1 = the big district (10,000 activities, 1,000,000 sign-ups).",
    )
    @click.option("--seed", type=int, default=20261202, show_default=True)
    def seed_bench_command(scale: float, seed: int) -> None:
        """Build the big benchmark district in an empty database (bulk inserts)."""
        import time

        from portal.benchdata import analyze, seed_bench, total_rows
        from portal.extensions import db
        from portal.models.signups import counter_mismatches

        started = time.perf_counter()
        with click.progressbar(length=total_rows(scale), label="Big district") as bar:
            try:
                report = seed_bench(scale, seed=seed, progress=bar.update)
            except RuntimeError as exc:
                raise click.ClickException(str(exc)) from exc
            db.session.commit()
        analyze()
        db.session.commit()
        mismatches = counter_mismatches(db.session)
        if mismatches:
            raise click.ClickException(f"shift counters disagree: {mismatches[:5]}")
        click.echo(
            f"Built in {time.perf_counter() - started:.1f} s: "
            + ", ".join(f"{count:,} {name}" for name, count in report.counts.items())
        )
        click.echo(f"Activity with {240} upcoming shifts: /activities/{report.long_activity_id}")
        click.echo(
            f"Organizer's activities: {report.organizer_activities}; "
            f"resident's upcoming sign-ups: {report.resident_upcoming}"
        )
        click.echo("Bench logins (phone / password):")
        for role, phone, password in report.accounts:
            click.echo(f"  {role:<12} {phone} / {password}")
        click.echo(f"Resident's feed token: {report.feed_token}")
