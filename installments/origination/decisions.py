"""The loan officers' and approvers' verbs on an application: assign, review, ask for documents,
approve the chosen offer, approve with changes (counter-offer), decline, and the four-eyes
confirmation. Every verb is one transaction, audited with who, when and why.

Who may do what
---------------
* DECIDE_ROLES (loan officer, approver, admin) take first decisions. A loan officer decides only
  on applications assigned to them; an unassigned one is assigned to whoever starts its review.
* CONFIRM_ROLES (approver) confirm a decision waiting for a second approval; never the person who
  decided it, nor the officer the case is assigned to, nor the customer.
* Collectors, managers and customers decide nothing (PermissionDenied).

The model's recommendation (`recommendation_for`)
-------------------------------------------------
decline on a knock-out rule hit or grade G; approve for grades A-E without a knock-out and
without anomaly flags; refer (the officer's judgement, no recommendation) otherwise: grade F,
anomaly flags, or no score. Approving or counter-offering against "decline", or declining against
"approve", is an override: it needs a written reason and a second person.

A customer in arrears with us now (`gates.customer_arrears`: a live plan past due or an overdue
amount, read at decision time) is never "approve": refer, or decline when the score says so.

Four-eyes (`DecisionPolicy`, admin-editable with an effective date)
-------------------------------------------------------------------
An approval or counter-offer whose amount financed is above `four_eyes_amount`, any override, and
an approval or counter-offer whose installment is not affordable on the customer's finances now
(the offer engine's rule, `gates.offer_affordability`) or for a customer in arrears with us now
(`decision_gates`) waits in `awaiting_approval` until an approver confirms it (it then takes
effect) or returns it to review; the last two, like an override, need the officer's written
reason (`override_reason`). Otherwise the decision takes effect at once.

Open document requests are closed by the decision that resumes the review; the decision's audit
record lists them (`document_requests_closed`) and so does the decision
(`DocumentRequest.closed_by_decision`). An approval that takes effect moves the
application to `approved` and generates contract version 1 (installments.origination.contracts).

Concurrency
-----------
Every verb locks the application row first (select_for_update) and re-checks its state under the
lock, then locks its offers / pending decision in pk order. Two approvers confirming at once: the
second waits for the first, then finds nothing awaiting approval (DomainError); exactly one
confirmation is recorded. The database also keeps one pending decision per application and never
the same person as decider and confirmer.
"""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from config.errors import DomainError
from customers.audit import audit_record
from customers.models import DocumentKind
from customers.roles import Role
from installments.engine.offers import METHOD_NAMES, CustomerFinances, offer_terms_to_dict, price
from installments.engine.schedules import schedule_to_dict
from installments.models import Application, Decision, DecisionPolicy, DocumentRequest, Offer
from installments.origination import gates, notices, selectors
from installments.origination.contracts import contract_generate
from installments.origination.reasons import DECLINE_REASON_TEXTS, DeclineReason
from installments.origination.selectors import DECIDE_ROLES

State = Application.State

CONFIRM_ROLES = (Role.APPROVER,)
ASSIGN_ROLES = (Role.LOAN_OFFICER, Role.APPROVER, Role.MANAGER, Role.ADMIN)
ASSIGNABLE_ROLES = (Role.LOAN_OFFICER, Role.APPROVER)
# A first decision is taken on a scored application, in review, or while documents are awaited
# (deciding then closes the request and resumes the review first, both recorded).
DECIDABLE_STATES = (State.SCORED, State.IN_REVIEW, State.DOCUMENTS_REQUESTED)
ASSIGN_STATES = (*Application.OPEN_STATES, State.APPROVED, State.CONTRACTED)
# States in which the application waits for staff: these count against the review time limit.
SLA_STATES = (State.SCORED, State.IN_REVIEW, State.AWAITING_APPROVAL)
# Counter-offers are plain amortising plans; other plan types need parameters people choose in the offer engine.
COUNTER_OFFER_METHODS = ("annuity", "equal_principal")

FOUR_EYES_AMOUNT = "amount_over_threshold"
FOUR_EYES_OVERRIDE = "override"
FOUR_EYES_UNAFFORDABLE = "unaffordable"
FOUR_EYES_ARREARS = "arrears"
FOUR_EYES_LABELS = {
    FOUR_EYES_AMOUNT: gettext_lazy("the amount is above the four-eyes limit"),
    FOUR_EYES_OVERRIDE: gettext_lazy("it overrides the model's recommendation"),
    FOUR_EYES_UNAFFORDABLE: gettext_lazy("the installment is more than the customer can afford"),
    FOUR_EYES_ARREARS: gettext_lazy("the customer is in arrears with us"),
}
# The reasons the officer must explain in writing (`override_reason`) before a second approver sees them.
FOUR_EYES_NEED_REASON = (FOUR_EYES_OVERRIDE, FOUR_EYES_UNAFFORDABLE, FOUR_EYES_ARREARS)

RECOMMEND_APPROVE_GRADES = "ABCDE"
RECOMMEND_DECLINE_GRADES = "G"


# --- Questions the verbs (and the pages) ask -------------------------------------------------------

def decision_policy_in_force(on: date | None = None) -> DecisionPolicy:
    """The decision policy effective on `on` (default today); an unsaved row of defaults when none is."""
    on = on or timezone.localdate()
    policy = DecisionPolicy.objects.filter(effective_from__lte=on).order_by("-effective_from", "-pk").first()
    return policy or DecisionPolicy(effective_from=on)


@dataclass(frozen=True)
class Recommendation:
    """The model's recommendation and the reasons for it (translated for the active language)."""

    code: str
    reasons: tuple[str, ...]

    @property
    def label(self) -> str:
        return str(Decision.Recommendation(self.code).label)


def recommendation_for(application: Application) -> Recommendation:
    """approve / decline / refer from the score result and the customer's arrears with us now (see
    the module docstring): arrears turn "approve" into "refer" and come first among the reasons."""
    recommendation = _score_recommendation(application)
    arrears = gates.customer_arrears(application.customer_id)
    if not arrears.in_arrears:
        return recommendation
    code = (Decision.Recommendation.DECLINE if recommendation.code == Decision.Recommendation.DECLINE
            else Decision.Recommendation.REFER)
    kept = () if recommendation.code == Decision.Recommendation.APPROVE else recommendation.reasons
    return Recommendation(code, (_arrears_text(arrears), *kept))


def _arrears_text(arrears: gates.Arrears) -> str:
    """"Customer is N days past due with us, X overdue" (the parts that apply)."""
    values = {"days": arrears.days_past_due, "amount": arrears.overdue_text}
    if not arrears.days_past_due:
        return _("The customer has %(amount)s overdue with us.") % values
    if arrears.overdue_text:
        return ngettext("The customer is %(days)s day past due with us, %(amount)s overdue.",
                        "The customer is %(days)s days past due with us, %(amount)s overdue.",
                        arrears.days_past_due) % values
    return ngettext("The customer is %(days)s day past due with us.", "The customer is %(days)s days past due with us.",
                    arrears.days_past_due) % values


def _score_recommendation(application: Application) -> Recommendation:
    score = selectors.application_score(application)
    if score is None:
        return Recommendation(Decision.Recommendation.REFER, (_("The application has no credit score yet."),))
    knock_outs = [hit for hit in score.rule_hits if hit.get("knock_out")]
    if score.knocked_out or knock_outs:
        names = ", ".join(hit.get("rule", "") for hit in knock_outs) or _("a knock-out rule")
        return Recommendation(Decision.Recommendation.DECLINE, (_("Knock-out rule hit: %(rules)s.") % {"rules": names},))
    if score.grade in RECOMMEND_DECLINE_GRADES:
        return Recommendation(Decision.Recommendation.DECLINE,
                              (_("Risk grade %(grade)s is below the lending standard.") % {"grade": score.grade},))
    if score.grade in RECOMMEND_APPROVE_GRADES and not score.anomaly_flags:
        return Recommendation(Decision.Recommendation.APPROVE,
                              (_("Risk grade %(grade)s, no knock-out rule, no anomaly flag.") % {"grade": score.grade},))
    reasons = []
    if score.anomaly_flags:
        reasons.append(_("Anomaly flags need an officer's judgement: %(flags)s.")
                       % {"flags": ", ".join(flag.get("code", "") for flag in score.anomaly_flags)})
    if score.grade not in RECOMMEND_APPROVE_GRADES:
        reasons.append(_("Risk grade %(grade)s is borderline.") % {"grade": score.grade})
    return Recommendation(Decision.Recommendation.REFER, tuple(reasons))


def is_override(recommendation: str, kind: str) -> bool:
    """Deciding against the model: approving (with or without changes) on "decline", declining on "approve"."""
    if kind == Decision.Kind.DECLINE:
        return recommendation == Decision.Recommendation.APPROVE
    return recommendation == Decision.Recommendation.DECLINE


def four_eyes_reasons(*, kind: str, amount: Decimal | None, override: bool, policy: DecisionPolicy,
                      gates_hit: tuple["Gate", ...] = ()) -> list[str]:
    """Why a second approver must confirm (empty: the decision takes effect at once)."""
    reasons = []
    if kind != Decision.Kind.DECLINE and amount is not None and amount > policy.four_eyes_amount:
        reasons.append(FOUR_EYES_AMOUNT)
    if override:
        reasons.append(FOUR_EYES_OVERRIDE)
    if kind != Decision.Kind.DECLINE:
        reasons.extend(gate.code for gate in gates_hit if gate.code not in reasons)
    return reasons


def four_eyes_labels(codes: list[str]) -> list[tuple[str, str]]:
    """(code, translated label) of a decision's four-eyes reasons, in order."""
    return [(code, str(FOUR_EYES_LABELS.get(code, code))) for code in codes]


@dataclass(frozen=True)
class Gate:
    """A fact that stops one officer approving alone: its four-eyes code, the warning shown to the
    officer and the approver (translated) and its figures (JSON-ready, for the audit record)."""

    code: str
    message: str
    data: dict


def decision_gates(application: Application, *, offer: Offer | None) -> tuple[Gate, ...]:
    """What makes approving `offer` (the chosen offer or a counter-offer) a four-eyes decision, read
    now: its installment not affordable on the customer's finances (the offer engine's rule), the
    customer in arrears with us. Empty when neither; declines are never gated."""
    found = []
    if offer is not None:
        found.extend(_affordability_gates(application, offer))
    arrears = gates.customer_arrears(application.customer_id)
    if arrears.in_arrears:
        found.append(Gate(FOUR_EYES_ARREARS, _arrears_text(arrears), {
            "days_past_due": arrears.days_past_due,
            "amount_overdue": {currency: str(amount) for currency, amount in arrears.overdue.items()}}))
    return tuple(found)


def _affordability_gates(application: Application, offer: Offer) -> list[Gate]:
    check = gates.offer_affordability(application=application, offer=offer)
    if check.affordable:
        return []
    values = {"installment": f"{check.installment:,}", "currency": check.currency,
              "affordable": f"{check.affordable_installment:,}" if check.affordable_installment is not None else "",
              "final": f"{check.final_payment:,}", "savings": f"{check.savings or 0:,}"}
    if check.problem == "no_income":
        message = _("Installment %(installment)s %(currency)s cannot be shown affordable: the customer's income is "
                    "unknown.") % values
    elif check.problem == "final_payment":
        message = _("The final payment of %(final)s %(currency)s is more than the customer's savings "
                    "(%(savings)s).") % values
    else:
        message = _("Installment %(installment)s exceeds the affordable %(affordable)s %(currency)s.") % values
    return [Gate(FOUR_EYES_UNAFFORDABLE, message, {
        "problem": check.problem, "installment": str(check.installment),
        "affordable_installment": str(check.affordable_installment) if check.affordable_installment is not None
        else None, "final_payment": str(check.final_payment), "currency": check.currency})]


def pending_decision(application: Application) -> Decision | None:
    return (Decision.objects.filter(application=application, status=Decision.Status.PENDING)
            .select_related("offer", "decided_by").first())


def chosen_offer(application: Application) -> Offer | None:
    return Offer.objects.filter(application=application, chosen_at__isnull=False).first()


def document_requests_open_for_customer(user):
    """The customer's open document requests (newest first), for the self-service pages."""
    return (DocumentRequest.objects.filter(application__customer=user, resolved_at__isnull=True,
                                           application__state=State.DOCUMENTS_REQUESTED)
            .select_related("application").order_by("-requested_at", "-pk"))


def decline_reasons_for_customer(application: Application, *, language: str = "en") -> list[str]:
    """What a declined customer is told, in plain words, from the decline in effect (empty if none)."""
    decision = (Decision.objects.filter(application=application, kind=Decision.Kind.DECLINE,
                                        status__in=(Decision.Status.FINAL, Decision.Status.CONFIRMED))
                .order_by("-decided_at", "-pk").first())
    if decision is None:
        return []
    index = 1 if language.startswith("zh") else 0
    return [DECLINE_REASON_TEXTS[DeclineReason(code)][index] for code in decision.reason_codes
            if code in DeclineReason.values]


def can_decide(user, application: Application) -> bool:
    """May `user` take a first decision on `application` now (role, assignment, not their own)?"""
    if not (user and user.is_authenticated and user.has_role(*DECIDE_ROLES)):
        return False
    if user.pk == application.customer_id:
        return False
    if user.has_role(Role.APPROVER, Role.ADMIN):
        return True
    return application.assigned_officer_id in (None, user.pk)


def can_confirm(user, decision: Decision | None, application: Application) -> bool:
    """May `user` confirm `decision` (an approver who neither decided it nor owns the case)?"""
    return bool(
        decision is not None and user and user.is_authenticated and user.has_role(*CONFIRM_ROLES)
        and user.pk not in (decision.decided_by_id, application.assigned_officer_id, application.customer_id)
    )


@dataclass(frozen=True)
class CounterOfferLimits:
    """What a counter-offer may be under the credit policy in force (for the form and the check)."""

    grade: str
    currency: str
    min_amount: Decimal
    max_amount: Decimal
    min_term: int
    max_term: int
    priced_rate: Decimal
    min_rate: Decimal
    max_rate: Decimal
    methods: tuple[str, ...]
    refused: str | None = None


def counter_offer_limits(application: Application) -> CounterOfferLimits:
    """The price tier's limits for the application's grade under the credit policy in force, the
    product's APR cap and the decision policy's largest rate discount."""
    from installments.origination.applications import _customer_summary

    product = selectors.product_get(pk=application.product_id, active_only=False)
    score = selectors.application_score(application)
    policy = selectors.credit_policy_in_force(product=product)
    summary = _customer_summary(application.customer)
    terms = selectors.product_terms(product)
    pricing = price(terms, selectors.credit_stance(policy), score.grade if score and score.grade in "ABCDEFG" else None,
                    CustomerFinances.from_summary(summary))
    discount = decision_policy_in_force().max_rate_discount
    methods = tuple(m for m in COUNTER_OFFER_METHODS if m in product.methods())
    return CounterOfferLimits(
        grade=pricing.grade, currency=product.currency, min_amount=product.min_amount,
        max_amount=pricing.max_amount, min_term=pricing.min_term, max_term=pricing.max_term,
        priced_rate=pricing.annual_rate, min_rate=max(pricing.annual_rate - discount, Decimal(0)),
        max_rate=product.max_apr, methods=methods,
        refused=pricing.refused.en if pricing.refused else None,
    )


# --- Internals -------------------------------------------------------------------------------------

def _lock(application: Application) -> Application:
    return Application.objects.select_for_update().select_related("product", "customer").get(pk=application.pk)


def _transition(application: Application, *, to: str, by, reason: str = "", data: dict | None = None) -> Application:
    from installments.origination.applications import application_transition

    return application_transition(application=application, to=to, by=by, reason=reason, data=data)


def _require_decider(application: Application, by) -> None:
    if by is None or not by.is_authenticated or not by.has_role(*DECIDE_ROLES):
        raise PermissionDenied
    if by.pk == application.customer_id:
        raise DomainError(_("You cannot decide on your own application."), field="application")
    if not can_decide(by, application):
        raise PermissionDenied(_("This application is assigned to another officer."))


def _ensure_in_review(application: Application, by) -> tuple[Application, list[int]]:
    """Bring a scored application (or one awaiting documents) into review, assigned, both audited.
    Returns the application and the document requests this closed (their ids, oldest first)."""
    if application.state not in DECIDABLE_STATES:
        raise DomainError(_("A decision cannot be taken on an application that is %(state)s.")
                          % {"state": application.get_state_display()}, field="state", code="invalid_state")
    if application.assigned_officer_id is None and by.has_role(*ASSIGNABLE_ROLES):
        _assign(application, officer=by, by=by)
    closed: list[int] = []
    if application.state == State.SCORED:
        application = _transition(application, to=State.IN_REVIEW, by=by, reason="review started")
    elif application.state == State.DOCUMENTS_REQUESTED:
        closed = _resolve_document_requests(application, by=by)
        application = _transition(application, to=State.IN_REVIEW, by=by,
                                  reason=f"review resumed; document requests closed: {len(closed)}",
                                  data={"document_requests_closed": closed})
    return application, closed


def _assign(application: Application, *, officer, by) -> None:
    previous = application.assigned_officer
    application.assigned_officer = officer
    application.save(update_fields=["assigned_officer", "updated_at"])
    audit_record(actor=by, action="application.assign", target=application,
                 reason="" if officer is None else f"assigned to {officer}",
                 data={"from": previous.pk if previous else None, "to": officer.pk if officer else None})


def _resolve_document_requests(application: Application, *, by) -> list[int]:
    """Close the application's open document requests (whether or not the documents came); their ids."""
    open_requests = DocumentRequest.objects.filter(application=application, resolved_at__isnull=True)
    closed = list(open_requests.select_for_update().order_by("pk").values_list("pk", flat=True))
    DocumentRequest.objects.filter(pk__in=closed).update(resolved_at=timezone.now(), resolved_by=by)
    return closed


def document_requests_open(application: Application) -> int:
    """How many document requests a decision (or resuming the review) would close now."""
    return DocumentRequest.objects.filter(application=application, resolved_at__isnull=True).count()


def _clean_reason(text: str | None) -> str:
    return (text or "").strip()


def _override_check(*, recommendation: Recommendation, kind: str, override_reason: str,
                    gates_hit: tuple[Gate, ...] = ()) -> bool:
    """Is this an override of the recommendation? Raises DomainError naming `override_reason` when
    it is, or when a gate applies (unaffordable, arrears), and no reason is written."""
    override = is_override(recommendation.code, kind)
    if override and not override_reason:
        raise DomainError(_("This decision goes against the model's recommendation (%(rec)s): write the reason "
                            "for the override.") % {"rec": recommendation.label}, field="override_reason",
                          code="override_reason_required")
    if gates_hit and not override_reason:
        raise DomainError(" ".join([gate.message for gate in gates_hit] + [
            _("Write the override reason: a second approver must confirm this decision.")]),
            field="override_reason", code="override_reason_required")
    return override


def _record(*, application: Application, kind: str, by, offer: Offer | None, recommendation: Recommendation,
            override: bool, override_reason: str, note: str, reason_codes: list[str], amount: Decimal | None,
            gates_hit: tuple[Gate, ...] = (), closed_requests: list[int] = ()) -> Decision:
    policy = decision_policy_in_force()
    needs = four_eyes_reasons(kind=kind, amount=amount, override=override, policy=policy, gates_hit=gates_hit)
    explained = override or any(code in FOUR_EYES_NEED_REASON for code in needs)
    decision = Decision.objects.create(
        application=application, kind=kind, offer=offer, recommendation=recommendation.code, is_override=override,
        override_reason=override_reason if explained else "", reason_codes=reason_codes, note=note,
        four_eyes_reasons=needs, status=Decision.Status.PENDING if needs else Decision.Status.FINAL,
        decided_by=by, decision_policy=policy if policy.pk else None,
    )
    if closed_requests:
        DocumentRequest.objects.filter(pk__in=closed_requests).update(closed_by_decision=decision)
    audit_record(
        actor=by, action=f"decision.{kind}", target=application, reason=override_reason or note,
        data={"decision": decision.pk, "offer": offer.pk if offer else None, "recommendation": recommendation.code,
              "override": override, "reason_codes": reason_codes, "four_eyes": needs,
              "amount": str(amount) if amount is not None else None,
              "gates": [{"code": gate.code, **gate.data} for gate in gates_hit],
              "document_requests_closed": list(closed_requests)},
    )
    if needs:
        _transition(application, to=State.AWAITING_APPROVAL, by=by,
                    reason="second approval needed: " + ", ".join(needs), data={"decision": decision.pk})
    else:
        _take_effect(decision, application=application, by=by)
    return decision


def _take_effect(decision: Decision, *, application: Application, by) -> None:
    """Apply a final or confirmed decision: approved (with contract v1) or declined."""
    data = {"decision": decision.pk, "kind": decision.kind}
    if decision.kind == Decision.Kind.DECLINE:
        _transition(application, to=State.DECLINED, by=by, reason="declined: " + ", ".join(decision.reason_codes),
                    data={**data, "reason_codes": decision.reason_codes})
        notices.decision_took_effect(decision)
        return
    approved = _transition(application, to=State.APPROVED, by=by,
                           reason="approved with changes" if decision.kind == Decision.Kind.COUNTER_OFFER else "approved",
                           data={**data, "offer": decision.offer_id})
    contract_generate(application=approved, by=by, offer=decision.offer)
    notices.decision_took_effect(decision)


# --- The verbs ---------------------------------------------------------------------------------------

def application_assign(*, application: Application, officer, by) -> Application:
    """Assign the application to `officer` (a loan officer or approver; None: unassign). Loan
    officers, approvers, managers and admins assign, to themselves or to a colleague. Audited."""
    if by is None or not by.is_authenticated or not by.has_role(*ASSIGN_ROLES):
        raise PermissionDenied
    with transaction.atomic():
        application = _lock(application)
        if application.state not in ASSIGN_STATES:
            raise DomainError(_("An application that is %(state)s cannot be assigned.")
                              % {"state": application.get_state_display()}, field="state")
        if officer is not None:
            if not officer.is_active or not officer.has_role(*ASSIGNABLE_ROLES):
                raise DomainError(_("Assign to a loan officer or an approver."), field="officer")
            if officer.pk == application.customer_id:
                raise DomainError(_("Nobody may handle their own application."), field="officer")
        if application.assigned_officer_id != (officer.pk if officer else None):
            _assign(application, officer=officer, by=by)
    return application


def application_start_review(*, application: Application, by) -> Application:
    """Start the review of a scored application (or resume it when documents were requested:
    the open requests are closed). Assigns the application to `by` when unassigned."""
    with transaction.atomic():
        application = _lock(application)
        _require_decider(application, by)
        if application.state not in (State.SCORED, State.DOCUMENTS_REQUESTED):
            raise DomainError(_("Only a scored application, or one waiting for documents, can be taken into review; "
                                "this one is %(state)s.") % {"state": application.get_state_display()}, field="state")
        return _ensure_in_review(application, by)[0]


def application_request_documents(*, application: Application, by, message: str, kinds: list[str]) -> DocumentRequest:
    """Ask the customer for more documents: a message and a checklist of document kinds.

    Stored as a DocumentRequest; the application waits in `documents_requested` until the review
    resumes (start review or any decision). Raises DomainError naming `message` or `kinds`."""
    message = _clean_reason(message)
    kinds = list(dict.fromkeys(kinds or ()))
    if not message:
        raise DomainError(_("Write a message telling the customer what is needed."), field="message")
    if not kinds:
        raise DomainError(_("Tick at least one document."), field="kinds")
    unknown = [k for k in kinds if k not in DocumentKind.values]
    if unknown:
        raise DomainError(_("Unknown document kind: %(kinds)s.") % {"kinds": ", ".join(unknown)}, field="kinds")
    with transaction.atomic():
        application = _lock(application)
        _require_decider(application, by)
        if application.state not in (State.SCORED, State.IN_REVIEW):
            raise DomainError(_("Documents can be requested while the application is scored or in review; it is "
                                "%(state)s.") % {"state": application.get_state_display()}, field="state")
        application, _closed = _ensure_in_review(application, by)
        request = DocumentRequest.objects.create(application=application, message=message, kinds=kinds,
                                                 requested_by=by)
        _transition(application, to=State.DOCUMENTS_REQUESTED, by=by, reason=message,
                    data={"document_request": request.pk, "kinds": kinds})
        notices.documents_requested(request)
    return request


def application_approve(*, application: Application, by, note: str = "", override_reason: str = "") -> Decision:
    """Approve the offer the customer chose. Takes effect at once (approved, contract generated)
    unless four-eyes applies (amount over the threshold, an override, an installment not affordable
    now, the customer in arrears with us now), then it waits for an approver. Raises DomainError
    without a chosen offer, or naming `override_reason` for an override or a gate without a reason."""
    note, override_reason = _clean_reason(note), _clean_reason(override_reason)
    with transaction.atomic():
        application = _lock(application)
        _require_decider(application, by)
        application, closed = _ensure_in_review(application, by)
        offer = Offer.objects.select_for_update().filter(application=application, chosen_at__isnull=False).first()
        if offer is None:
            raise DomainError(_("The customer has not chosen an offer yet: choose one with them, or make a "
                                "counter-offer."), field="offer", code="no_chosen_offer")
        recommendation = recommendation_for(application)
        gates_hit = decision_gates(application, offer=offer)
        override = _override_check(recommendation=recommendation, kind=Decision.Kind.APPROVE,
                                   override_reason=override_reason, gates_hit=gates_hit)
        return _record(application=application, kind=Decision.Kind.APPROVE, by=by, offer=offer,
                       recommendation=recommendation, override=override, override_reason=override_reason, note=note,
                       reason_codes=[], amount=offer.amount, gates_hit=gates_hit, closed_requests=closed)


def _money(value: Decimal, places: int) -> Decimal:
    return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _counter_offer_row(*, application: Application, schedule, limits: CounterOfferLimits) -> Offer:
    product = application.product
    places = product.currency_decimals
    payments = [row.payment for row in schedule.installments]
    regular = payments[:-1] or payments
    name_en, name_zh = METHOD_NAMES.get(schedule.terms.method, (schedule.terms.method, schedule.terms.method))
    total = f"{schedule.total_payable:,.{places}f}"
    return Offer(
        application=application,
        rank=0,
        method=schedule.terms.method,
        amount=schedule.amount_financed,
        term_months=schedule.terms.term,
        annual_rate=schedule.terms.annual_rate,
        installment=payments[0],
        highest_installment=max(regular),
        total_interest=schedule.total_interest,
        total_fees=schedule.total_fees,
        total_payable=schedule.total_payable,
        apr=schedule.apr,
        effective_annual_rate=schedule.effective_annual_rate,
        terms=offer_terms_to_dict(schedule.terms),
        schedule=schedule_to_dict(schedule),
        labels=["counter_offer"],
        explanation_en=(f"Counter-offer from your loan officer: {name_en}, {schedule.amount_financed:,.{places}f} "
                        f"{product.currency} over {schedule.terms.term} months at {schedule.terms.annual_rate}% a year "
                        f"(APR {schedule.apr}%), {total} {product.currency} in total. Accept it by accepting the "
                        f"contract."),
        explanation_zh=(f"信贷员为您调整的方案：{name_zh}，{schedule.amount_financed:,.{places}f} {product.currency}，"
                        f"{schedule.terms.term} 期，年利率 {schedule.terms.annual_rate}%（年化费率 APR {schedule.apr}%），"
                        f"合计还款 {total} {product.currency}。接受合同即接受此方案。"),
        is_counter_offer=True,
        currency=product.currency,
        grade=limits.grade,
        credit_policy=selectors.credit_policy_in_force(product=product),
    )


def application_counter_offer(*, application: Application, by, amount: Decimal, term_months: int,
                              annual_rate: Decimal, method: str | None = None, note: str = "",
                              override_reason: str = "") -> Decision:
    """Approve with changes: a new offer (`is_counter_offer`) of `amount` over `term_months` at
    `annual_rate` %, within policy: the amount between the product's minimum and the grade's limit,
    the term within the grade's range, the rate from the priced rate less the largest discount up
    to the APR cap, its APR (fees included) within the cap. It is disclosed in full (schedule, fees,
    APR) like any offer; the customer accepts it by accepting the contract. Four-eyes as for an
    approval: an installment the customer cannot afford now (the offer engine's rule) needs an
    override reason and a second approver."""
    from installments.origination.applications import quote_build

    note, override_reason = _clean_reason(note), _clean_reason(override_reason)
    with transaction.atomic():
        application = _lock(application)
        _require_decider(application, by)
        application, closed = _ensure_in_review(application, by)
        product = application.product
        limits = counter_offer_limits(application)
        if limits.refused:
            raise DomainError(limits.refused, field="amount", code="outside_policy")
        method = method or (limits.methods[0] if limits.methods else "annuity")
        if method not in limits.methods:
            raise DomainError(_("A counter-offer is an equal-installment or equal-principal plan this product offers."),
                              field="method")
        if amount is None or not limits.min_amount <= amount <= limits.max_amount:
            raise DomainError(_("The amount must be between %(low)s and %(high)s %(currency)s for grade %(grade)s.")
                              % {"low": f"{limits.min_amount:,}", "high": f"{limits.max_amount:,}",
                                 "currency": limits.currency, "grade": limits.grade}, field="amount")
        if term_months is None or not limits.min_term <= term_months <= limits.max_term:
            raise DomainError(_("The term must be between %(low)s and %(high)s months for grade %(grade)s.")
                              % {"low": limits.min_term, "high": limits.max_term, "grade": limits.grade},
                              field="term_months")
        if annual_rate is None or not limits.min_rate <= annual_rate <= limits.max_rate:
            raise DomainError(_("The rate must be between %(low)s%% and %(high)s%% (the priced rate is %(rate)s%%).")
                              % {"low": limits.min_rate, "high": limits.max_rate, "rate": limits.priced_rate},
                              field="annual_rate")
        places = product.currency_decimals
        schedule = quote_build(
            amount=_money(amount, places), annual_interest_rate=annual_rate, term_months=term_months, method=method,
            disbursement_date=timezone.localdate(), upfront_fee=_money(amount * product.upfront_fee_rate / 100, places),
            upfront_fee_financed=product.upfront_fee_financed, monthly_fee=product.monthly_fee,
            currency_decimals=places, max_apr=product.max_apr,
        )
        offer = _counter_offer_row(application=application, schedule=schedule, limits=limits)
        recommendation = recommendation_for(application)
        gates_hit = decision_gates(application, offer=offer)
        override = _override_check(recommendation=recommendation, kind=Decision.Kind.COUNTER_OFFER,
                                   override_reason=override_reason, gates_hit=gates_hit)
        offer.save()
        audit_record(actor=by, action="offer.counter_offer", target=application, reason=note, data={
            "offer": offer.pk, "amount": str(offer.amount), "term_months": offer.term_months,
            "annual_rate": str(offer.annual_rate), "apr": str(offer.apr), "method": offer.method,
            "requested_amount": str(application.amount)})
        return _record(application=application, kind=Decision.Kind.COUNTER_OFFER, by=by, offer=offer,
                       recommendation=recommendation, override=override, override_reason=override_reason, note=note,
                       reason_codes=[], amount=offer.amount, gates_hit=gates_hit, closed_requests=closed)


def application_decline(*, application: Application, by, reason_codes: list[str], note: str = "",
                        override_reason: str = "") -> Decision:
    """Decline with one or more DeclineReason codes (the customer is told their plain texts).
    Declining against an "approve" recommendation is an override: reason and second approver."""
    note, override_reason = _clean_reason(note), _clean_reason(override_reason)
    codes = list(dict.fromkeys(reason_codes or ()))
    if not codes:
        raise DomainError(_("Choose at least one reason."), field="reason_codes")
    unknown = [c for c in codes if c not in DeclineReason.values]
    if unknown:
        raise DomainError(_("Unknown reason: %(codes)s.") % {"codes": ", ".join(unknown)}, field="reason_codes")
    if DeclineReason.OTHER in codes and not note:
        raise DomainError(_("Explain the reason 'other' in the note."), field="note")
    with transaction.atomic():
        application = _lock(application)
        _require_decider(application, by)
        application, closed = _ensure_in_review(application, by)
        recommendation = recommendation_for(application)
        override = _override_check(recommendation=recommendation, kind=Decision.Kind.DECLINE,
                                   override_reason=override_reason)
        return _record(application=application, kind=Decision.Kind.DECLINE, by=by, offer=None,
                       recommendation=recommendation, override=override, override_reason=override_reason, note=note,
                       reason_codes=codes, amount=None, closed_requests=closed)


def application_confirm(*, application: Application, by, approve: bool = True, note: str = "") -> Decision:
    """The second approver's four-eyes step on the decision waiting for it: confirm it (it takes
    effect) or return the application to review (a note is required).

    Only an approver who neither took the decision nor is the case's officer (nor its customer).
    The application row is locked first, so of two approvers clicking at once exactly one
    confirms; the other gets DomainError("state")."""
    note = _clean_reason(note)
    if by is None or not by.is_authenticated or not by.has_role(*CONFIRM_ROLES):
        raise PermissionDenied
    if not approve and not note:
        raise DomainError(_("Say why the application goes back to review."), field="note")
    with transaction.atomic():
        application = _lock(application)
        if application.state != State.AWAITING_APPROVAL:
            raise DomainError(_("Nothing is awaiting a second approval on this application (it is %(state)s).")
                              % {"state": application.get_state_display()}, field="state", code="not_pending")
        decision = (Decision.objects.select_for_update().filter(application=application,
                                                               status=Decision.Status.PENDING).first())
        if decision is None:
            raise DomainError(_("Nothing is awaiting a second approval on this application."), field="state",
                              code="not_pending")
        if by.pk == decision.decided_by_id:
            raise DomainError(_("The second approval must come from someone else: you took this decision."),
                              field="confirmed_by", code="four_eyes")
        if by.pk in (application.assigned_officer_id, application.customer_id):
            raise DomainError(_("You cannot be the second approver of a case you handle."), field="confirmed_by",
                              code="four_eyes")
        decision.confirmed_by, decision.confirmed_at, decision.confirmation_note = by, timezone.now(), note
        decision.status = Decision.Status.CONFIRMED if approve else Decision.Status.RETURNED
        decision.save(update_fields=["confirmed_by", "confirmed_at", "confirmation_note", "status"])
        audit_record(actor=by, action="decision.confirm" if approve else "decision.return", target=application,
                     reason=note, data={"decision": decision.pk, "kind": decision.kind,
                                        "decided_by": decision.decided_by_id})
        if approve:
            _take_effect(decision, application=application, by=by)
        else:
            _transition(application, to=State.IN_REVIEW, by=by, reason=note or "returned to review",
                        data={"decision": decision.pk})
    return decision
