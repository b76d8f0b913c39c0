"""Scoring demo data (called by `manage.py seed_demo`): an active model trained on German Credit, the
default knock-out rules, and a score for any application still waiting for one (demo data made
before the model existed, or submitted while no worker ran). Idempotent: a second run changes
nothing."""

from datetime import timedelta
from decimal import Decimal

from customers.models import CustomerProfile
from installments.assessment import applicant, monitoring, online, policy
from installments.models import Application, LoanProduct
from scoring import registry
from scoring.german_credit import SOURCE, TARGET_NAME, load_german_credit
from scoring.models import ScoreResult, ScoringModelVersion

DEMO_LABEL = "german-credit-demo"
DEMO_APPLICATIONS = 60
# Left alone: the demo login's own journey belongs to the customer pages.
RESERVED_EMAILS = {"customer@example.com"}


def _demo_applications(stdout, limit: int) -> None:
    """Submit and score one application for each of up to `limit` demo customers, so the monitoring
    page and the officers' queue have scores to show. Only while no application has a score yet."""
    from installments.origination.applications import application_create, application_transition

    product = LoanProduct.objects.filter(is_active=True).order_by("pk").first()
    if product is None or ScoreResult.objects.exists():
        return
    # Customers without an open application or anything overdue with us (those would only show the
    # knock-out rule), so the demo shows the spread of grades.
    profiles = (CustomerProfile.objects.exclude(user__email__in=RESERVED_EMAILS)
                .exclude(user__applications__state__in=Application.OPEN_STATES)
                .exclude(current_overdue__gt=0).exclude(user__plans__days_past_due__gt=0)
                .select_related("user").distinct().order_by("pk")[:limit])
    scored = 0
    for n, profile in enumerate(profiles):
        amount = min(product.max_amount, max(product.min_amount, Decimal(3000 + 1500 * (n % 12))))
        term = min(product.max_term_months, max(product.min_term_months, (6, 12, 18, 24)[n % 4]))
        application = application_create(customer=profile.user, product=product, amount=amount, term_months=term,
                                         purpose=list(applicant.PURPOSES)[n % len(applicant.PURPOSES)])
        application_transition(application=application, to=Application.State.SUBMITTED, by=profile.user)
        online.application_score(application_id=application.pk)
        scored += 1
    if scored:
        monitoring.monitoring_snapshot_record()
        stdout.write(f"Scoring: {scored} demo applications submitted and scored; stability recorded.")


def seed_demo(*, stdout, customers=None) -> None:
    version = ScoringModelVersion.objects.filter(is_active=True).first()
    if version is None:
        version = ScoringModelVersion.objects.filter(label=DEMO_LABEL).first()
        if version is None:
            features, target = load_german_credit()
            version = registry.model_version_train(
                features=features, target=target, source=SOURCE, label=DEMO_LABEL,
                target_definition=f"{TARGET_NAME}: creditability 'bad' in the source data",
            )
        version = registry.model_version_activate(version=version, by=None)
        stdout.write(f"Scoring: model {version.label} active (AUC {version.cv_auc:.3f} by cross-validation).")
    created = policy.policy_rules_ensure_defaults()
    if created:
        stdout.write(f"Scoring: {created} default knock-out rules created.")
    report = online.applications_score_pending(older_than=timedelta(0))
    if report.scored:
        stdout.write(f"Scoring: scored {len(report.scored)} applications that were waiting for a score.")
    _demo_applications(stdout, DEMO_APPLICATIONS if customers is None else min(customers, DEMO_APPLICATIONS))
