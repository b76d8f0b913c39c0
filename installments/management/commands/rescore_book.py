"""Rescore the book with the active model, vectorised (pandas / numpy), never row by row.

    manage.py rescore_book [--all] [--dry-run] [--output FILE.csv]

Open applications get their stored score updated (the earlier one is kept in its history); with
--all, decided applications are scored too and reported, but their stored result -- the record of
the decision -- is never changed. Prints the scoring rate in rows per second.
"""

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from installments.assessment import rescoring


class Command(BaseCommand):
    help = "Rescore open applications (or --all) with the active scoring model, vectorised."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Score every application with a stored result.")
        parser.add_argument("--dry-run", action="store_true", help="Score and report; write nothing.")
        parser.add_argument("--output", help="Write every row's new score, PD and grade to this CSV file.")

    def handle(self, *args, **options):
        try:
            report = rescoring.book_rescore(include_decided=options["all"], write=not options["dry_run"])
        except DomainError as error:
            raise CommandError(error.message)
        if not report.rows:
            self.stdout.write("No applications to rescore.")
            return
        self.stdout.write(f"Model {report.model_version}: scored {report.rows} applications in "
                          f"{report.scoring_seconds * 1000:.1f} ms ({report.rows_per_second:,.0f} rows/s scoring; "
                          f"{report.rows / report.total_seconds:,.0f} rows/s with the database).")
        self.stdout.write("Grades: " + ", ".join(f"{g} {n}" for g, n in report.grades.items()))
        self.stdout.write(f"Updated {report.written} open applications' stored scores"
                          + (" (dry run: nothing written)." if options["dry_run"] else "."))
        if options["output"]:
            report.frame.rename_axis("score_result").to_csv(options["output"])
            self.stdout.write(f"Wrote {options['output']}.")
