"""Product experiments: a manager's price or term variant, and the customers assigned to its arms.

The verbs (define, start, stop, assign) and the hook through which a running experiment shapes an
application's offers (`experiment_variant_for`, applied with `variant_apply`). The comparison of
the arms is the manager's analytics (`installments.analytics.experiments`).

Assignment. A customer's arm is decided by hashing (experiment key, customer id) with SHA-256 into
a number u uniformly spread over [0, 1): u < ratio puts them in the variant, otherwise in control.
The same customer always lands in the same arm of an experiment (no state needed, so a retry or a
second application never flips it), different experiments split independently, and the share in
the variant converges to the ratio.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from config.errors import DomainError
from customers.audit import audit_record, transition
from customers.roles import Role
from installments.models import Application, Experiment, ExperimentAssignment, LoanProduct

EXPERIMENT_ROLES = (Role.MANAGER, Role.ADMIN)
MAX_EXPERIMENT_RATE_ADJUSTMENT = Decimal(5)
MIN_EXPERIMENT_RATIO, MAX_EXPERIMENT_RATIO = Decimal("0.05"), Decimal("0.95")
CONTROL = "control"
VARIANT = "variant"
ARMS = (CONTROL, VARIANT)


def assignment_point(key: str, customer_id: int) -> float:
    """Where (key, customer) falls in [0, 1): the first 64 bits of SHA-256("key:id") / 2**64."""
    digest = hashlib.sha256(f"{key}:{int(customer_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_arm(key: str, customer_id: int, ratio: Decimal | float) -> str:
    """The customer's arm: VARIANT with probability `ratio` (the variant's share, 0 to 1), else CONTROL."""
    ratio = float(ratio)
    if not 0 <= ratio <= 1:
        raise ValueError("ratio must be between 0 and 1")
    return VARIANT if assignment_point(key, customer_id) < ratio else CONTROL


def variant_apply(variant: Mapping | None, *, stance, preference):
    """The offer engine's inputs with an experiment's variant applied; unchanged for control or None.

    `stance` is an `offers.CreditStance`, `preference` an `offers.Preference` (frozen dataclasses).
    The variant's `rate_adjustment` (percentage points) is added to the stance's; its
    `default_term_months` becomes the preferred term when the customer stated none.
    """
    if not variant or variant.get("arm") != VARIANT:
        return stance, preference
    adjustment = Decimal(str(variant.get("rate_adjustment") or 0))
    if adjustment:
        stance = replace(stance, rate_adjustment=stance.rate_adjustment + adjustment)
    term = variant.get("default_term_months")
    if term and preference.term is None:
        preference = replace(preference, term=int(term))
    return stance, preference


def _check_experiment_role(by) -> None:
    if by is None or not by.has_role(*EXPERIMENT_ROLES):
        raise PermissionDenied


def experiment_create(*, by, key: str, name: str, product: LoanProduct, rate_adjustment: Decimal = Decimal(0),
                      default_term_months: int | None = None, ratio: Decimal = Decimal("0.5"), hypothesis: str = "",
                      start: bool = False) -> Experiment:
    """A manager defines a product variant: a rate adjustment (percentage points, within ±5) and/or
    a default term (within the product's terms), and the share of customers who get it (5 % to
    95 %). Created as a draft, or started at once with `start`. Raises DomainError naming the field."""
    _check_experiment_role(by)
    key = slugify(key or "")
    if not key:
        raise DomainError(_("Give the experiment a key (letters, digits and dashes)."), field="key")
    if not (name or "").strip():
        raise DomainError(_("Give the experiment a name."), field="name")
    rate_adjustment = Decimal(rate_adjustment or 0)
    if abs(rate_adjustment) > MAX_EXPERIMENT_RATE_ADJUSTMENT:
        raise DomainError(_("The rate adjustment must be within ±%(limit)s percentage points.")
                          % {"limit": MAX_EXPERIMENT_RATE_ADJUSTMENT}, field="rate_adjustment")
    if default_term_months is not None and not product.min_term_months <= default_term_months <= product.max_term_months:
        raise DomainError(_("The default term must be between %(low)s and %(high)s months for this product.")
                          % {"low": product.min_term_months, "high": product.max_term_months},
                          field="default_term_months")
    if not rate_adjustment and default_term_months is None:
        raise DomainError(_("The variant must change something: a rate adjustment or a default term."),
                          field="rate_adjustment")
    ratio = Decimal(ratio)
    if not MIN_EXPERIMENT_RATIO <= ratio <= MAX_EXPERIMENT_RATIO:
        raise DomainError(_("The share in the variant must be between %(low)s and %(high)s.")
                          % {"low": MIN_EXPERIMENT_RATIO, "high": MAX_EXPERIMENT_RATIO}, field="ratio")
    if Experiment.objects.filter(key=key).exists():
        raise DomainError(_("An experiment with this key exists already; keys are never reused."), field="key")
    with transaction.atomic():
        experiment = Experiment.objects.create(
            key=key, name=name.strip(), hypothesis=hypothesis, product=product, rate_adjustment=rate_adjustment,
            default_term_months=default_term_months, ratio=ratio, created_by=by)
        audit_record(actor=by, action="experiment.create", target=experiment, to_state=experiment.state, data={
            "product": product.code, "rate_adjustment": str(rate_adjustment),
            "default_term_months": default_term_months, "ratio": str(ratio)})
    if start:
        experiment = experiment_start(experiment=experiment, by=by)
    return experiment


def experiment_start(*, experiment: Experiment, by) -> Experiment:
    """Start assigning the product's new applicants. One running experiment per product."""
    _check_experiment_role(by)
    try:
        with transaction.atomic():
            experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
            running = Experiment.objects.filter(product_id=experiment.product_id,
                                                state=Experiment.State.RUNNING).exclude(pk=experiment.pk).first()
            if running is not None:
                raise DomainError(_("“%(name)s” is already running for this product; stop it first.")
                                  % {"name": running.name}, field="state")
            experiment.started_by, experiment.started_at = by, timezone.now()
            transition(experiment, to=Experiment.State.RUNNING, by=by, allowed=Experiment.TRANSITIONS,
                       extra_update_fields=("started_by", "started_at"))
    except IntegrityError:  # another start won the race for the product
        raise DomainError(_("Another experiment was just started for this product."), field="state")
    return experiment


def experiment_stop(*, experiment: Experiment, by, reason: str = "") -> Experiment:
    """Stop an experiment: no more assignments or variant prices; its assignments and results stay."""
    _check_experiment_role(by)
    with transaction.atomic():
        experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
        experiment.stopped_by, experiment.stopped_at, experiment.stop_reason = by, timezone.now(), reason.strip()
        transition(experiment, to=Experiment.State.STOPPED, by=by, reason=reason, allowed=Experiment.TRANSITIONS,
                   extra_update_fields=("stopped_by", "stopped_at", "stop_reason"))
    return experiment


def experiment_assign(*, experiment: Experiment, customer, application: Application | None = None
                      ) -> ExperimentAssignment:
    """The customer's arm in the experiment: stored the first time (with the application that
    brought them), the same ever after. The arm comes from `assign_arm`."""
    arm = assign_arm(experiment.key, customer.pk, experiment.ratio)
    assignment, _created = ExperimentAssignment.objects.get_or_create(
        experiment=experiment, customer=customer, defaults={"arm": arm, "application": application})
    return assignment


def experiment_variant_for(*, application: Application) -> dict | None:
    """The experiment arm an application's offers are made in, or None when no experiment runs for
    its product. Assigns the customer (stable) on first use.

    Returns {"experiment": key, "experiment_id", "arm": "control" | "variant", "rate_adjustment":
    "0.5000" (percentage points, a string; "0" for control), "default_term_months": int | None} —
    JSON-ready, to be stored in `application.offer_summary["experiment"]`, and applied to the
    offer engine's inputs with `variant_apply(variant, stance=..., preference=...)`.
    """
    experiment = (Experiment.objects.filter(product_id=application.product_id, state=Experiment.State.RUNNING)
                  .order_by("pk").first())
    if experiment is None:
        return None
    assignment = experiment_assign(experiment=experiment, customer=application.customer, application=application)
    variant = assignment.arm == VARIANT
    return {
        "experiment": experiment.key, "experiment_id": experiment.pk, "arm": assignment.arm,
        "rate_adjustment": str(experiment.rate_adjustment) if variant else "0",
        "default_term_months": experiment.default_term_months if variant else None,
    }
