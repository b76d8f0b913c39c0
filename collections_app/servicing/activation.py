"""Activation: an accepted contract becomes an active plan, its schedule rebuilt from the offer's terms
with the actual disbursement date as version 1.
"""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

from collections_app.ledger.posting import plan_disbursement_post
from collections_app.servicing import engine
from collections_app.servicing.policy import business_date
from collections_app.servicing.versions import _plan_number, _schedule_error, _version_create
from config.errors import DomainError
from customers.audit import audit_record
from installments.engine.schedules import ScheduleError, build_schedule
from installments.models import Application, Contract, Plan


def terms_for_activation(*, contract: Contract, disbursement_date: date):
    """The engine terms of the accepted offer with the actual disbursement date.

    The offer's stored terms (`Offer.terms`, PlanTerms field names) are used as they were shown;
    the disbursement date is the real one and the first due date is recomputed from it (a customer's
    chosen due day is kept). Missing keys fall back to the offer's own columns.
    """
    offer = contract.offer
    product = contract.application.product
    stored = dict(offer.terms or {})
    stored.pop("first_due_date", None)
    stored.setdefault("amount", str(offer.amount))
    stored.setdefault("annual_rate", str(offer.annual_rate))
    stored.setdefault("term", offer.term_months)
    stored.setdefault("method", offer.method)
    stored.setdefault("currency_decimals", product.currency_decimals)
    return engine.terms_from_json(stored, disbursement_date=disbursement_date)


def plan_activate(*, contract: Contract, by, disbursement_date: date) -> Plan:
    """Turn an accepted contract into an active plan: the schedule rebuilt from the offer's terms with
    the actual disbursement date as version 1 and its installments; the application becomes active.

    Refuses (DomainError) a contract that is not accepted or not the latest version, an application
    not in `contracted`, a second activation, and a disbursement date before acceptance or in the future.
    """
    from installments.origination.applications import application_transition

    with transaction.atomic():
        application = Application.objects.select_for_update().get(pk=contract.application_id)
        contract = Contract.objects.select_related("offer", "application__product").get(pk=contract.pk)
        if Plan.objects.filter(application=application).exists():
            raise DomainError("This application already has an active plan.", field="contract", code="already_active")
        if application.state != Application.State.CONTRACTED:
            raise DomainError(f"The application is '{application.state}', not 'contracted'.", field="contract",
                              code="invalid_state")
        if contract.accepted_at is None:
            raise DomainError("The customer has not accepted this contract yet.", field="contract",
                              code="not_accepted")
        latest = application.contracts.order_by("-version").values_list("pk", flat=True).first()
        if latest != contract.pk:
            raise DomainError("A newer version of the contract exists.", field="contract", code="stale_contract")
        if disbursement_date > business_date():
            raise DomainError("The disbursement date cannot be in the future.", field="disbursement_date")
        if disbursement_date < timezone.localtime(contract.accepted_at).date():
            raise DomainError("The money cannot be paid out before the contract was accepted.",
                              field="disbursement_date")
        product = application.product
        try:
            terms = terms_for_activation(contract=contract, disbursement_date=disbursement_date)
            schedule = build_schedule(terms)
        except ScheduleError as error:
            raise _schedule_error(error)
        plan = Plan.objects.create(
            number=_plan_number(), application=application, contract=contract, customer=application.customer,
            product=product, currency=product.currency, method=terms.method, principal=schedule.amount_financed,
            annual_rate=terms.annual_rate, disbursement_date=disbursement_date, state=Plan.State.ACTIVE,
            current_version=0,
        )
        _version_create(plan=plan, schedule=schedule, reason="activation", by=by,
                        disclosure={"contract": contract.disclosure, "contract_version": contract.version},
                        on_date=business_date())
        plan_disbursement_post(plan=plan, upfront_fee=schedule.terms.upfront_fee, by=by)
        application_transition(application=application, to=Application.State.ACTIVE, by=by,
                               reason=f"plan {plan.number} activated")
        audit_record(actor=by, action="plan.activate", target=plan, to_state=plan.state, data={
            "contract": contract.pk, "disbursement_date": disbursement_date.isoformat(),
            "principal": str(plan.principal), "installments": len(schedule.installments),
        })
    return plan
