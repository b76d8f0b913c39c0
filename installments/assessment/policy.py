"""Knock-out / policy rules and anomaly flags: what online scoring checks besides the scorecard.

- the rules in force (`policy_rules_in_force`), from a per-process copy of the rule table read again
  when its stamp (row count + latest `updated_at`) changes, so an edited rule is used from the next
  scoring on; the default rules (`policy_rules_ensure_defaults`);
- the applicant's facts the rules of `scoring.rules` look at (`applicant_facts`);
- anomaly flags for officers, never a decline (`applicant_anomalies`, see `scoring.anomalies`).
  Occupation income peers are kept per process for a minute in front of the shared cache.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Max, OuterRef, Q, Subquery, Sum, Value
from django.utils import timezone

from config.prepared import PreparedQuery
from customers import national_id
from customers.audit import audit_record
from customers.models import CustomerProfile, IncomeLine, User
from customers.pii import decrypt
from installments.assessment.applicant import _LOOK_UP, RequestedPlan
from installments.models import Application, Plan
from scoring import anomalies, rules
from scoring.models import PolicyRule, ScoreResult

DEFAULT_POLICY_RULES = (
    {"name": "Applicant under 18", "kind": rules.MIN_AGE, "threshold": Decimal("18")},
    {"name": "Applicant over 65", "kind": rules.MAX_AGE, "threshold": Decimal("65")},
    {"name": "Monthly income below 2,000", "kind": rules.MIN_INCOME, "threshold": Decimal("2000")},
    {"name": "Debt-to-income over 60 % with the new plan", "kind": rules.MAX_DEBT_TO_INCOME,
     "threshold": Decimal("0.60")},
    {"name": "ID number invalid", "kind": rules.INVALID_ID, "threshold": None},
    {"name": "ID number used by another customer", "kind": rules.DUPLICATE_ID, "threshold": None},
    {"name": "Overdue with us", "kind": rules.OPEN_DELINQUENCY_WITH_US, "threshold": Decimal("0")},
)


# What identifies the state of the rule table: its row count and latest `updated_at` (a deletion
# changes the count, an addition or an edit through save() the latest time).
PolicyRulesStamp = tuple[int, datetime | None]
# The in-process copy is re-read at least this often whatever the stamp says: the safety net for a
# change the stamp cannot see (an edit saved by a server whose clock runs behind the latest
# `updated_at`, or a bulk update() that does not set `updated_at`).
POLICY_RULES_MAX_AGE_SECONDS = 60.0


@dataclass(frozen=True)
class _PolicyRulesCopy:
    stamp: PolicyRulesStamp
    read_at: float  # time.monotonic()
    rows: tuple[tuple[rules.RuleSpec, bool, date, date | None], ...]  # (spec, is_active, from, to)


_POLICY_RULES: _PolicyRulesCopy | None = None


def _policy_rules_stamp_subqueries() -> dict[str, Subquery]:
    """The stamp as two scalar subqueries, to be read with another query
    (`installments.assessment.online.application_score`)."""
    every_rule = PolicyRule.objects.order_by().values(every_rule=Value(1))  # one group: the whole table
    return {
        "scoring_policy_rules_count": Subquery(every_rule.annotate(n=Count("pk")).values("n")),
        "scoring_policy_rules_updated_at": Subquery(every_rule.annotate(latest=Max("updated_at")).values("latest")),
    }


def policy_rules_in_force(on: date | None = None, *, stamp: PolicyRulesStamp | None = None) -> list[rules.RuleSpec]:
    """The rules that apply on `on` (default today), in a stable order (kind, name).

    From an in-process copy of the rule table, read again when the table's stamp (row count, latest
    `updated_at`) differs from the copy's, and at least every `POLICY_RULES_MAX_AGE_SECONDS`.
    `stamp` is the current stamp when the caller read it already (with the application); otherwise
    it is read here, in one query.
    """
    global _POLICY_RULES
    on = on or timezone.localdate()
    if stamp is None:
        current = PolicyRule.objects.aggregate(n=Count("pk"), latest=Max("updated_at"))
        stamp = (current["n"], current["latest"])
    copy = _POLICY_RULES
    if copy is None or copy.stamp != stamp or time.monotonic() - copy.read_at > POLICY_RULES_MAX_AGE_SECONDS:
        read_at = time.monotonic()
        rows = list(PolicyRule.objects.order_by("kind", "name"))
        copy = _PolicyRulesCopy(
            stamp=(len(rows), max((row.updated_at for row in rows), default=None)), read_at=read_at,
            rows=tuple((row.to_spec(), row.is_active, row.effective_from, row.effective_to) for row in rows),
        )
        _POLICY_RULES = copy
    return [spec for spec, is_active, effective_from, effective_to in copy.rows
            if rules.rule_is_in_force(is_active=is_active, effective_from=effective_from, effective_to=effective_to,
                                      on=on)]


@transaction.atomic
def policy_rules_ensure_defaults(*, by: User | None = None) -> int:
    """Create the default knock-out rules that do not exist yet (by name); returns how many."""
    created = 0
    for spec in DEFAULT_POLICY_RULES:
        rule, made = PolicyRule.objects.get_or_create(name=spec["name"], defaults={
            "kind": spec["kind"], "threshold": spec["threshold"], "effective_from": date(2020, 1, 1),
        })
        if made:
            created += 1
            audit_record(actor=by, action="scoring.policy_rule.create", target=rule,
                         data={"kind": rule.kind, "threshold": str(rule.threshold)})
    return created


def _id_is_valid(profile: CustomerProfile) -> bool:
    """Re-check the stored ID number (decrypted in memory only, never logged or stored)."""
    try:
        number = decrypt(profile.id_number_encrypted)
        national_id.validate_id_number(profile.id_type, number, today=timezone.localdate())
    except (national_id.NationalIdError, InvalidToken, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class IdentityHistory:
    """Earlier score results carrying the applicant's ID number (by its keyed hash)."""

    name_hashes: frozenset[str] = frozenset()
    other_customer: bool = False


# Markers of the prepared queries' per-call parameters (here and in `installments.assessment.online`): values no real
# parameter takes.
_MARKER_ID = -7_000_000_001
_MARKER_OTHER_ID = -7_000_000_002
_MARKER_TEXT = "scoring:prepared-query-marker:text"
_MARKER_OTHER_TEXT = "scoring:prepared-query-marker:other-text"
_MARKER_TIME = datetime(1901, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)

_IDENTITY_ROWS = PreparedQuery(
    lambda id_number_hash, application_id: (ScoreResult.objects.filter(id_number_hash=id_number_hash)
                                            .exclude(application_id=application_id)
                                            .values_list("name_hash", "application__customer_id")),
    {"id_number_hash": _MARKER_TEXT, "application_id": _MARKER_ID},
)


def identity_history(*, application: Application, profile: CustomerProfile | None) -> IdentityHistory:
    if profile is None or not profile.id_number_hash:
        return IdentityHistory()
    rows = _IDENTITY_ROWS.tuples(id_number_hash=profile.id_number_hash, application_id=application.pk)
    return IdentityHistory(name_hashes=frozenset(n for n, _ in rows if n),
                           other_customer=any(c != application.customer_id for _, c in rows))


def applicant_facts(*, application: Application, profile: CustomerProfile | None,
                    summary: Mapping[str, Any] | None, plan: RequestedPlan,
                    identity: IdentityHistory | None = None,
                    worst_days_past_due: int | None = _LOOK_UP) -> rules.ApplicantFacts:
    """What the knock-out rules look at, gathered from the profile, our book and the request.
    `worst_days_past_due`: of the customer's live plans with us (None: no live plan), when the
    caller has read it already."""
    s = summary or {}
    id_valid = duplicate = None
    if profile is not None:
        id_valid = bool(profile.id_number_hash) and _id_is_valid(profile)
        identity = identity or identity_history(application=application, profile=profile)
        duplicate = identity.other_customer
    worst = worst_days_past_due
    if worst is _LOOK_UP:
        worst = _live_plans(customer_id=application.customer_id).aggregate(dpd=Max("days_past_due"))["dpd"]
    return rules.ApplicantFacts(
        age=s.get("age"),
        monthly_income=s.get("monthly_income"),
        monthly_expenses=s.get("monthly_expenses"),
        existing_debt_monthly_payment=s.get("existing_debt_monthly_payment"),
        new_installment=plan.installment,
        past_delinquencies=s.get("past_delinquencies"),
        id_valid=id_valid,
        id_used_by_another_customer=duplicate,
        days_past_due_with_us=worst or 0,
        amount_overdue_with_us=s.get("current_overdue"),
    )


def _live_plans(*, customer_id: int | OuterRef):
    return Plan.objects.filter(customer_id=customer_id, state__in=Plan.LIVE_STATES)


def anomaly_thresholds() -> anomalies.AnomalyThresholds:
    """Thresholds from settings (`SCORING_ANOMALY_*`), with the defaults of AnomalyThresholds."""
    d = anomalies.AnomalyThresholds()
    return anomalies.AnomalyThresholds(
        burst_window_hours=float(getattr(settings, "SCORING_ANOMALY_BURST_WINDOW_HOURS", d.burst_window_hours)),
        burst_count=int(getattr(settings, "SCORING_ANOMALY_BURST_COUNT", d.burst_count)),
        income_multiple=float(getattr(settings, "SCORING_ANOMALY_INCOME_MULTIPLE", d.income_multiple)),
        income_robust_z=float(getattr(settings, "SCORING_ANOMALY_INCOME_ROBUST_Z", d.income_robust_z)),
        income_min_peers=int(getattr(settings, "SCORING_ANOMALY_INCOME_MIN_PEERS", d.income_min_peers)),
        inflow_multiple=float(getattr(settings, "SCORING_ANOMALY_INFLOW_MULTIPLE", d.inflow_multiple)),
    )


OCCUPATION_PEER_SAMPLE = 2_000
OCCUPATION_INCOME_CACHE_SECONDS = 600
# Each process keeps the prepared peers of an occupation this long before asking the shared cache
# again (a Redis round trip and unpickling up to 2,000 Decimals per scoring otherwise).
OCCUPATION_PEERS_PROCESS_SECONDS = 60.0


def occupation_incomes(occupation: str) -> list[tuple[int, Decimal]]:
    """(profile id, declared monthly income) of up to 2,000 recent customers in an occupation.

    Cached for 10 minutes: the peer median moves slowly and the query scans every peer."""
    key = f"scoring:occupation-incomes:{occupation}"
    cached = cache.get(key)
    if cached is None:
        cached = list(IncomeLine.objects.filter(profile__occupation=occupation).values("profile_id")
                      .annotate(total=Sum("monthly_amount")).order_by("-profile_id")
                      .values_list("profile_id", "total")[:OCCUPATION_PEER_SAMPLE])
        cache.set(key, cached, OCCUPATION_INCOME_CACHE_SECONDS)
    return cached


@dataclass(frozen=True)
class OccupationPeers:
    """An occupation's peers prepared for `anomalies.income_outlier`: every peer's income by profile
    id (to leave the applicant out) and the incomes sorted with their logs."""

    income_by_profile: dict[int, Decimal]
    incomes: anomalies.PeerIncomes
    expires_at: float  # time.monotonic()

    def without(self, profile_id: int) -> anomalies.PeerIncomes:
        return self.incomes.without(self.income_by_profile.get(profile_id))


_OCCUPATION_PEERS: dict[str, OccupationPeers] = {}


def occupation_peers(occupation: str) -> OccupationPeers:
    """`occupation_incomes`, prepared once per process every `OCCUPATION_PEERS_PROCESS_SECONDS`."""
    peers = _OCCUPATION_PEERS.get(occupation)
    if peers is None or time.monotonic() >= peers.expires_at:
        rows = occupation_incomes(occupation)
        peers = OccupationPeers(income_by_profile=dict(rows),
                                incomes=anomalies.PeerIncomes.from_values(total for _, total in rows),
                                expires_at=time.monotonic() + OCCUPATION_PEERS_PROCESS_SECONDS)
        _OCCUPATION_PEERS[occupation] = peers
    return peers


_NOTHING = Q(pk__in=[])
_RECENT_APPLICATIONS = PreparedQuery(
    # The ORM path is called with None for an empty phone or e-mail: it matches nothing there, as the
    # prepared SQL's comparison with NULL does.
    lambda since, phone, email: (
        Application.objects.filter(submitted_at__gte=since)
        .filter((Q(customer__profile__phone=phone) if phone else _NOTHING)
                | (Q(customer__email__iexact=email) | Q(customer__profile__email__iexact=email) if email
                   else _NOTHING))
        .values_list("pk", "customer_id", "customer__profile__phone", "customer__email", "customer__profile__email")
        .distinct()),
    {"since": _MARKER_TIME, "phone": _MARKER_TEXT, "email": _MARKER_OTHER_TEXT},
    to_db={"since": lambda ops, since: ops.adapt_datetimefield_value(since),
           "email": lambda ops, email: ops.prep_for_iexact_query(email) if email else None},
)


def _recent_applications(*, since: datetime, phone: str, email: str) -> list[tuple]:
    """(pk, customer id, profile phone, user e-mail, profile e-mail) of the applications submitted
    since `since` whose customer has this phone or (case-insensitively) this e-mail; an empty phone
    or e-mail matches nothing."""
    return _RECENT_APPLICATIONS.tuples(since=since, phone=phone or None, email=email or None)


def applicant_anomalies(*, application: Application, profile: CustomerProfile | None,
                        summary: Mapping[str, Any] | None, name_hash: str,
                        identity: IdentityHistory | None = None) -> list[dict]:
    """Anomaly flags for officers (never a decline); see `scoring.anomalies`."""
    if profile is None:
        return []
    thresholds = anomaly_thresholds()
    s = summary or {}
    flags: list[anomalies.AnomalyFlag | None] = []

    identity = identity or identity_history(application=application, profile=profile)
    flags.append(anomalies.same_id_different_names([name_hash, *identity.name_hashes]))

    # One query for both channels: recent applications sharing the phone or the e-mail.
    since = timezone.now() - timedelta(hours=thresholds.burst_window_hours)
    email = (profile.email or "").lower()
    recent = _recent_applications(since=since, phone=profile.phone, email=email) if profile.phone or email else []
    for channel, value in (("phone", profile.phone), ("email", email)):
        if not value:
            continue
        if channel == "phone":
            rows = {(pk, c) for pk, c, phone, _, _ in recent if phone == value}
        else:
            rows = {(pk, c) for pk, c, _, e1, e2 in recent if value in ((e1 or "").lower(), (e2 or "").lower())}
        rows.add((application.pk, application.customer_id))
        flags.append(anomalies.application_burst(channel=channel, count=len({pk for pk, _ in rows}),
                                                 distinct_customers=len({c for _, c in rows}), thresholds=thresholds))

    if profile.occupation and s.get("monthly_income"):
        peers = occupation_peers(profile.occupation).without(profile.pk)
        flags.append(anomalies.income_outlier(s["monthly_income"], peers, occupation=profile.occupation,
                                              thresholds=thresholds))

    flags.append(anomalies.inflow_contradicts_income(s.get("monthly_income"), s.get("average_monthly_inflow"),
                                                     thresholds=thresholds))
    return [flag.to_dict() for flag in flags if flag is not None]
