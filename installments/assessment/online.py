"""Online scoring of one application (`application_score`) and the sweep that scores what was missed.

Every path (the Celery task, the sweep, management commands, the demo) calls `application_score`,
so each gets the same validation, audit record and transaction:
    1. lock the application; only a `submitted` one is scored (a result that exists already is
       returned as it is: scoring twice never creates two results);
    2. features from the customer profile, the latest bank-statement summary and the application
       (`installments.assessment.applicant.applicant_features`; the same schema as training, protected attributes
       never included);
    3. knock-out / policy rules (`installments.assessment.policy`, `scoring.rules`), the active scorecard
       (`scoring.registry`), anomaly flags;
    4. store one `ScoreResult`, move the application to `scored` (or `declined` with the reason
       "knock-out: <rule>"), then let installments generate offers -- all in one transaction.

    Reads are few and the registry is not read at all on most scorings: the locked application
    comes in one query with its product, stored result, customer and profile, and with the keys
    of this process's copies of the active scorecard (version id + `updated_at`) and of the
    policy rules (row count + latest `updated_at`), so a newly activated model or an edited rule
    is used from the next scoring on, whichever process saved it (`_application_to_score`); the
    profile's latest bank statement comes with it too. One more query reads the profile's finance
    lines with the product's price tiers and the earlier results carrying the applicant's ID number
    (`_profile_lines_tier_rates_and_identity_rows`); those, the statement and the anomaly evidence
    are read afresh on every scoring, never cached. The hot queries are
    compiled to SQL once per process (`config.prepared.PreparedQuery`), and the state change
    moves the already locked application (`application_transition(..., locked=True)`).
    Occupation income peers are kept per process for a minute in front of the shared cache.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import DecimalField, ExpressionWrapper, F, Max, OuterRef, QuerySet, Subquery, Value
from django.utils import timezone
from django.utils.translation import gettext

from config.errors import DomainError
from config.prepared import PreparedQuery
from customers.audit import audit_record
from customers.models import AssetLine, CustomerProfile, DebtLine, ExpenseLine, IncomeLine, StatementSummary, User
from customers.pii import search_hash
from customers.selectors import ProfileLines
from installments.assessment import policy
from installments.assessment.applicant import applicant_features, applicant_summary, requested_plan
from installments.assessment.policy import (
    _MARKER_ID,
    _MARKER_OTHER_ID,
    IdentityHistory,
    _live_plans,
    _policy_rules_stamp_subqueries,
    applicant_anomalies,
    applicant_facts,
    policy_rules_in_force,
)
from installments.models import Application, Offer, PriceTier
from installments.origination.applications import application_offers_generate, application_transition
from scoring import anomalies, registry, rules
from scoring.models import ScoreResult, ScoringModelVersion
from scoring.registry import _model_loaded, _no_active_model

logger = logging.getLogger(__name__)

PD_QUANTUM = Decimal("0.000001")
PENDING_AFTER = timedelta(minutes=2)


def _name_hash(profile: CustomerProfile | None) -> str:
    if profile is None or not profile.full_name.strip():
        return ""
    return search_hash("name:" + anomalies.normalised_name(profile.full_name))


def _reason_dicts(reasons) -> list[dict]:
    return [{"code": r.code, "feature": r.feature, "points_lost": r.points_lost, "text_en": r.text_en,
             "text_zh": r.text_zh} for r in reasons]


def _pd_decimal(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(PD_QUANTUM, rounding=ROUND_HALF_UP)


def _previous(result: ScoreResult) -> dict:
    return {"score": result.score, "pd": str(result.pd), "grade": result.grade, "outcome": result.outcome,
            "model_version": result.model_version_id, "scored_at": result.scored_at.isoformat(),
            "rule_hits": [h.get("rule") for h in result.rule_hits]}


def _generate_offers(application: Application, *, score: ScoreResult, summary: dict | None) -> None:
    """Let origination generate the personalised offers. A business refusal (DomainError, e.g.
    nothing affordable) leaves the application scored and is recorded; any other error rolls the
    whole scoring back so the task or the sweep retries it.

    `application_offers_generate` runs in a transaction of its own (here a savepoint of the
    scoring's), which takes back its writes when it raises: no second savepoint around it. The
    application is locked by the scoring's transaction; its score and profile summary are passed on."""
    try:
        application_offers_generate(application=application, locked=True, score=score, summary=summary)
    except DomainError as error:
        logger.info("No offers for application %s: %s", application.pk, error.message)
        audit_record(actor=None, action="scoring.offers_not_generated", target=application, reason=error.message)


def _application_to_score(application_id: int) -> Application | None:
    """The application with its row locked, read in one query with what scoring needs besides the
    profile's lines: its product, stored result, customer and profile (joined), and as `scoring_*`
    annotations the active model version's id and `updated_at` and the policy rules' stamp (the
    keys of the in-process copies), the worst days past due of the customer's live plans, the id of
    the offer the customer chose, if any, and the profile's latest bank statement."""
    found = _APPLICATION_TO_SCORE.instances(application_id=application_id)
    return found[0] if found else None


# The latest statement's fields read with the application (`_latest_statement` puts them together).
STATEMENT_FIELDS = ("pk", "average_monthly_inflow", "income_volatility", "income_regularity", "overdraft_days",
                    "summary")


def _applications_to_score(application_id: int) -> QuerySet[Application]:
    """The query of `_application_to_score`, compiled once per process and connection
    (`_APPLICATION_TO_SCORE`): compiling its annotations costs more than running it.

    Only the application's row is locked (of=self), not its product or customer: scoring must not
    serialise on them.
    """
    active = ScoringModelVersion.objects.filter(is_active=True).order_by()
    worst = (_live_plans(customer_id=OuterRef("customer_id")).order_by().values("customer_id")
             .annotate(worst=Max("days_past_due")).values("worst"))
    chosen = Offer.objects.filter(application_id=OuterRef("pk"), chosen_at__isnull=False).order_by().values("pk")
    # The order of customers.selectors.statement_latest.
    statement = (StatementSummary.objects.filter(profile_id=OuterRef("customer__profile__id"))
                 .order_by("-period_end", "-imported_at", "-pk"))
    return (Application.objects.select_for_update(of=("self",))
            .select_related("product", "score_result", "customer__profile")
            .filter(pk=application_id)
            .annotate(scoring_active_model_id=Subquery(active.values("pk")[:1]),
                      scoring_active_model_updated_at=Subquery(active.values("updated_at")[:1]),
                      scoring_worst_days_past_due=Subquery(worst),
                      scoring_chosen_offer_id=Subquery(chosen[:1]),
                      **{f"scoring_statement_{name}": Subquery(statement.values(name)[:1])
                         for name in STATEMENT_FIELDS},
                      **_policy_rules_stamp_subqueries())
            .order_by())


_APPLICATION_TO_SCORE = PreparedQuery(_applications_to_score, {"application_id": _MARKER_ID})


def _latest_statement(application: Application) -> StatementSummary | None:
    """The customer's latest statement as read with the application (the fields scoring reads)."""
    if application.scoring_statement_pk is None:
        return None
    return StatementSummary(**{name: getattr(application, f"scoring_statement_{name}") for name in STATEMENT_FIELDS})


def _lines_and_tiers(profile_id: int, product_id: int) -> QuerySet:
    """(source, kind, amount, other amount) rows: the profile's income, expense, debt and asset lines,
    the product's price tiers and, as ("identity", name hash, customer id, application id), the
    earlier score results carrying the profile's ID number hash (`identity_history`'s rows), in one
    query (`_LINES_AND_TIERS`); see `_profile_lines_and_tier_rates`."""
    def rows(queryset: QuerySet, source: str, kind: Any, amount: str, other: str | None = None) -> QuerySet:
        # Amounts as plain decimals: the first part's column would otherwise set every part's rounding
        # (SQLite); the caller restores each column's places. Without a second amount the first is
        # repeated (an untyped NULL would not match the other parts' numeric type on PostgreSQL).
        return queryset.order_by().annotate(
            line_source=Value(source), line_kind=kind,
            line_amount=ExpressionWrapper(F(amount), output_field=DecimalField()),
            line_other=ExpressionWrapper(F(other or amount), output_field=DecimalField()),
        ).values_list("line_source", "line_kind", "line_amount", "line_other")

    no_kind = Value("")
    id_number_hash = CustomerProfile.objects.filter(pk=profile_id).values("id_number_hash")[:1]
    return rows(IncomeLine.objects.filter(profile_id=profile_id), "income", no_kind, "monthly_amount").union(
        rows(ExpenseLine.objects.filter(profile_id=profile_id), "expense", no_kind, "monthly_amount"),
        rows(DebtLine.objects.filter(profile_id=profile_id), "debt", F("kind"), "outstanding_balance",
             "monthly_payment"),
        rows(AssetLine.objects.filter(profile_id=profile_id), "asset", F("kind"), "value"),
        rows(PriceTier.objects.filter(product_id=product_id), "tier", F("grade"), "annual_rate"),
        rows(ScoreResult.objects.filter(id_number_hash=Subquery(id_number_hash)).exclude(id_number_hash=""),
             "identity", F("name_hash"), "application__customer_id", "application_id"),
        all=True)


_LINES_AND_TIERS = PreparedQuery(_lines_and_tiers, {"profile_id": _MARKER_ID, "product_id": _MARKER_OTHER_ID})


def _places(model, field: str) -> Decimal:
    return Decimal(1).scaleb(-model._meta.get_field(field).decimal_places)


def _profile_lines_and_tier_rates(*, profile: CustomerProfile | None,
                                  product_id: int) -> tuple[ProfileLines | None, list[Decimal]]:
    """The profile's finance lines (None without a profile) and the annual rates of the product's
    price tiers in grade order, read in one query."""
    lines, tier_rates, _ = _profile_lines_tier_rates_and_identity_rows(profile=profile, product_id=product_id)
    return lines, tier_rates


def _profile_lines_tier_rates_and_identity_rows(
        *, profile: CustomerProfile | None, product_id: int) -> tuple[ProfileLines | None, list[Decimal], list]:
    """`_profile_lines_and_tier_rates` and the (name hash, customer id, application id) of the
    score results carrying the profile's ID number hash (`_identity_history`), read in one query."""
    found: dict[str, list] = {"income": [], "expense": [], "debt": [], "asset": [], "tier": [], "identity": []}
    for source, kind, amount, other in _LINES_AND_TIERS.tuples(profile_id=profile.pk if profile else None,
                                                               product_id=product_id):
        found[source].append((kind, amount, other))
    cent = _places(IncomeLine, "monthly_amount")
    rate_places = _places(PriceTier, "annual_rate")
    lines = None
    if profile is not None:
        lines = ProfileLines(
            incomes=tuple(amount.quantize(cent) for _, amount, _ in found["income"]),
            expenses=tuple(amount.quantize(cent) for _, amount, _ in found["expense"]),
            debts=tuple((kind, balance.quantize(cent), payment.quantize(cent))
                        for kind, balance, payment in found["debt"]),
            assets=tuple((kind, value.quantize(cent)) for kind, value, _ in found["asset"]))
    tiers = sorted((grade, rate.quantize(rate_places)) for grade, rate, _ in found["tier"])
    return lines, [rate for _, rate in tiers], found["identity"]


def _identity_history(*, application: Application, profile: CustomerProfile | None,
                      rows: list) -> IdentityHistory:
    """`policy.identity_history` from the rows read with the profile's lines: the other
    applications' results carrying the profile's ID number hash (none without a profile or hash)."""
    if profile is None or not profile.id_number_hash:
        return IdentityHistory()
    others = [(name_hash, int(customer_id)) for name_hash, customer_id, application_id in rows
              if int(application_id) != application.pk]
    return IdentityHistory(name_hashes=frozenset(n for n, _ in others if n),
                           other_customer=any(c != application.customer_id for _, c in others))


def _profile_of(customer: User) -> CustomerProfile | None:
    try:
        return customer.profile
    except CustomerProfile.DoesNotExist:
        return None


def application_score(*, application_id: int) -> ScoreResult:
    """Score a submitted application once: features, knock-out rules, scorecard, anomaly flags.

    Stores the ScoreResult, moves the application to `scored` (or `declined` with the reason
    "knock-out: <rule names>") and then asks installments for offers, in one transaction. An
    application that already has its result and is no longer `submitted` gets that result back
    unchanged; a re-submitted one is re-scored in place (the previous result moves to `history`).
    Raises DomainError when the application does not exist, is not submitted, no model is
    active or its data does not fit the feature schema; nothing is changed then.
    """
    started = time.perf_counter()
    with transaction.atomic():
        application = _application_to_score(application_id)
        if application is None:
            raise DomainError(gettext("No such application."), field="application_id", code="not_found")
        existing = getattr(application, "score_result", None)
        if application.state != Application.State.SUBMITTED:
            if existing is not None:
                return existing
            raise DomainError(gettext("Only a submitted application can be scored; this one is %(state)s.")
                              % {"state": application.get_state_display()}, field="state", code="invalid_state")

        if application.scoring_active_model_id is None:
            raise _no_active_model()
        model = _model_loaded(application.scoring_active_model_id, application.scoring_active_model_updated_at)
        profile = _profile_of(application.customer)
        lines, tier_rates, identity_rows = _profile_lines_tier_rates_and_identity_rows(
            profile=profile, product_id=application.product_id)
        summary = applicant_summary(profile, lines=lines, statement=_latest_statement(application))
        chosen_offer_id = application.scoring_chosen_offer_id
        plan = requested_plan(application, chosen_offer=Offer.objects.get(pk=chosen_offer_id) if chosen_offer_id
                              else None, tier_rates=tier_rates)
        features = applicant_features(application=application, summary=summary, plan=plan)
        identity = _identity_history(application=application, profile=profile, rows=identity_rows)
        in_force = policy_rules_in_force(stamp=(application.scoring_policy_rules_count,
                                                application.scoring_policy_rules_updated_at))
        hits = rules.evaluate_rules(in_force, applicant_facts(
            application=application, profile=profile, summary=summary, plan=plan, identity=identity,
            worst_days_past_due=application.scoring_worst_days_past_due))
        outcome = model.scorecard.score_one(features)
        name_hash = _name_hash(profile)
        flags = applicant_anomalies(application=application, profile=profile, summary=summary, name_hash=name_hash,
                                    identity=identity)
        knock_outs = [hit for hit in hits if hit.knock_out]
        values = {
            "model_version_id": model.pk,
            "outcome": ScoreResult.Outcome.KNOCKED_OUT if knock_outs else ScoreResult.Outcome.SCORED,
            "score": outcome.score,
            "pd": _pd_decimal(outcome.pd),
            "grade": outcome.grade,
            "reason_codes": _reason_dicts(outcome.reason_codes),
            "points_by_feature": outcome.points_by_feature,
            "features": features,
            "context": {**plan.as_context(), "product": application.product.code,
                        "currency": application.product.currency, "model_version": model.label},
            "rule_hits": [hit.to_dict() for hit in hits],
            "anomaly_flags": flags,
            "id_number_hash": profile.id_number_hash if profile else "",
            "name_hash": name_hash,
            "scored_at": timezone.now(),
            "duration_ms": (time.perf_counter() - started) * 1000,
        }
        if existing is None and transaction.get_connection().features.has_select_for_update:
            # The application's row lock keeps any other run from storing a result meanwhile.
            result = ScoreResult.objects.create(application=application, **values)
        elif existing is None:
            try:
                with transaction.atomic():
                    result = ScoreResult.objects.create(application=application, **values)
            except IntegrityError:  # a concurrent run stored it first (no row locks on SQLite)
                return ScoreResult.objects.get(application_id=application.pk)
        else:
            history = [*existing.history, _previous(existing)]
            for key, value in values.items():
                setattr(existing, key, value)
            existing.history = history
            existing.rescored_at = None
            existing.save()
            result = existing

        data = {"score": result.score, "grade": result.grade, "pd": str(result.pd), "model_version": model.label}
        # locked=True: this transaction has held the application's row lock since it was read.
        if knock_outs:
            application_transition(application=application, to=Application.State.DECLINED, by=None,
                                   reason="knock-out: " + ", ".join(hit.rule for hit in knock_outs),
                                   data={**data, "rules": [hit.rule for hit in knock_outs]}, locked=True)
        else:
            scored = application_transition(application=application, to=Application.State.SCORED, by=None,
                                            reason=f"scored {result.score} (grade {result.grade})", data=data,
                                            locked=True)
            _generate_offers(scored, score=result, summary=summary)
    logger.info("Application %s scored %s grade %s%s in %.1f ms", application.pk, result.score, result.grade,
                " (knock-out)" if knock_outs else "", result.duration_ms)
    return result


@dataclass
class SweepReport:
    scored: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


def applications_score_pending(*, older_than: timedelta = PENDING_AFTER, limit: int = 500) -> SweepReport:
    """Score applications left in `submitted` for longer than `older_than` (the broker or worker
    was down when they were submitted, or a task failed). Oldest first, at most `limit`."""
    cutoff = timezone.now() - older_than
    pending = list(Application.objects.filter(state=Application.State.SUBMITTED, updated_at__lte=cutoff)
                   .order_by("updated_at", "pk").values_list("pk", flat=True)[:limit])
    report = SweepReport()
    for application_id in pending:
        try:
            application_score(application_id=application_id)
        except DomainError as error:
            report.failed[application_id] = error.message
            logger.warning("Sweep could not score application %s: %s", application_id, error.message)
            if error.code == "no_active_model":
                break
        else:
            report.scored.append(application_id)
    return report


def process_caches_clear() -> None:
    """Forget this process's copies of the model versions (`scoring.registry`), the policy rules and
    the occupation peers (`installments.assessment.policy`), which online scoring reads (tests; a process that must
    see a change at once). The shared cache is not touched."""
    registry._LOADED_MODELS.clear()
    policy._POLICY_RULES = None
    policy._OCCUPATION_PEERS.clear()
