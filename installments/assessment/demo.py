"""Scoring demo data (called by `manage.py seed_demo`): the shipped default model (trained on the
consumer-credit book, `scoring.consumer_credit`) active, the default knock-out rules, a score for
any application still waiting for one (demo data made before the model existed, or submitted while
no worker ran), and a queue of recent applications for the officers. Idempotent: a second run
changes nothing.

The demo's history of applications, decisions and repayments is replayed by `collections_app.demo`
(it needs servicing); the queue here is only what is waiting today.
"""

from datetime import timedelta

import numpy as np
from django.utils import timezone

from customers.demo import demo_clock
from customers.models import CustomerProfile
from installments.assessment import monitoring, online, policy
from installments.demo import loan_request
from installments.models import Application, LoanProduct
from scoring import registry
from scoring.models import ScoreResult, ScoringModelVersion

DEMO_LABEL = "consumer-credit-demo"
DEMO_APPLICATIONS = 20
QUEUE_SEED = 20_260_102
# Left alone: the demo login's own journey belongs to the customer pages.
RESERVED_EMAILS = {"customer@example.com"}


def ensure_default_model(stdout=None) -> ScoringModelVersion:
    """The active model; when there is none, the shipped default (trained once, then activated)."""
    version = ScoringModelVersion.objects.filter(is_active=True).first()
    if version is not None:
        return version
    version = ScoringModelVersion.objects.filter(label=DEMO_LABEL).first()
    if version is None:
        version = registry.model_version_train_default(label=DEMO_LABEL, activate=False)
    version = registry.model_version_activate(version=version, by=None)
    if stdout is not None:
        stdout.write(f"Scoring: model {version.label} active (AUC {version.cv_auc:.3f} by cross-validation).")
    return version


def _demo_applications(stdout, limit: int) -> None:
    """The officers' queue: up to `limit` demo customers (the last ones; the replayed history leaves
    customers with an application alone) submitted an application in the last three days, each scored at once. Only while
    no application has a score yet. Requests are drawn like the history's (`loan_request`)."""
    from installments.origination.applications import application_create, application_transition

    products = {p.code: p for p in LoanProduct.objects.filter(is_active=True)}
    if not products or ScoreResult.objects.exists():
        return
    # Customers without an application or anything overdue with us (those would only show the
    # knock-out rule), so the queue shows the spread of grades.
    profiles = list(CustomerProfile.objects.exclude(user__email__in=RESERVED_EMAILS)
                    .filter(user__applications__isnull=True).exclude(current_overdue__gt=0)
                    .select_related("user").prefetch_related("incomes", "debts").order_by("-pk")[:limit])
    now = timezone.now()
    scored = 0
    for profile in reversed(profiles):
        g = np.random.default_rng([QUEUE_SEED, profile.pk])
        income = sum((line.monthly_amount for line in profile.incomes.all()), start=0)
        debt_payments = sum((debt.monthly_payment for debt in profile.debts.all()), start=0)
        request = loan_request(g, monthly_income=income, employment_type=profile.employment_type,
                               debt_payments=debt_payments)
        product = products.get(request["product"]) or next(iter(products.values()))
        amount = min(max(request["amount"], product.min_amount), product.max_amount)
        term = min(max(request["term_months"], product.min_term_months), product.max_term_months)
        submitted = now - timedelta(hours=float(g.uniform(0.5, 72)))
        with demo_clock(submitted):
            application = application_create(customer=profile.user, product=product, amount=amount,
                                             term_months=term, purpose=request["purpose"])
            application_transition(application=application, to=Application.State.SUBMITTED, by=profile.user)
            online.application_score(application_id=application.pk)
        scored += 1
    if scored:
        monitoring.monitoring_snapshot_record()
        stdout.write(f"Scoring: {scored} recent applications submitted and scored (the officers' queue); "
                     "stability recorded.")


def seed_demo(*, stdout, customers=None) -> None:
    ensure_default_model(stdout)
    created = policy.policy_rules_ensure_defaults()
    if created:
        stdout.write(f"Scoring: {created} default knock-out rules created.")
    report = online.applications_score_pending(older_than=timedelta(0))
    if report.scored:
        stdout.write(f"Scoring: scored {len(report.scored)} applications that were waiting for a score.")
    # A fifth of the customers at most: the rest are the replayed history's.
    _demo_applications(stdout, DEMO_APPLICATIONS if customers is None else min(customers // 5, DEMO_APPLICATIONS))
