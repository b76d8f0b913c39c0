"""`manage.py refresh_summaries`: recompute the manager's dashboard summaries now, in this process."""

from django.core.management.base import BaseCommand

from installments.analytics import services as dashboard_services


class Command(BaseCommand):
    help = "Recompute the dashboard's KPI snapshots and segment summaries for every range and product."

    def handle(self, *args, **options):
        report = dashboard_services.summaries_refresh(triggered_by="command")
        if report.skipped:
            self.stdout.write(self.style.WARNING("Another refresh is running; nothing done."))
            return
        self.stdout.write(self.style.SUCCESS(
            f"{report.snapshots} KPI snapshots and {report.segments} segment summaries from {report.plans} plans "
            f"in {report.duration_ms} ms."))
