"""Pages of installments: the public plan calculator, a customer's offers for an application, and
the approvers' credit policy page. Thin: parse the form, call a service or selector, render."""

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import DomainError
from customers.permissions import role_required
from customers.roles import Role
from installments.engine.offers import LABELS
from installments.engine.schedules import Schedule
from installments.forms import OFFER_LABELS, CalculatorForm, CreditPolicyForm, method_label
from installments.origination import applications as services
from installments.origination import selectors

CALCULATOR_DEFAULTS = {"amount": "10000", "term_months": "12", "methods": ["annuity", "equal_principal", "step_up"]}
POLICY_VIEW_ROLES = (Role.APPROVER, Role.MANAGER, Role.LOAN_OFFICER, Role.ADMIN)


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _form_error(form, error: DomainError) -> None:
    """Show a service's refusal next to the field it names (or above the form)."""
    field = {"annual_interest_rate": "annual_rate"}.get(error.field, error.field)
    form.add_error(field if field in form.fields else None, error.message)


def schedule_totals(rows) -> dict:
    """Column totals of a schedule table; rows are Installment values or schedule_to_dict rows."""
    def total(key):
        return sum((Decimal(str(row[key] if isinstance(row, dict) else getattr(row, key))) for row in rows),
                   Decimal(0))

    return {key: total(key) for key in ("payment", "principal", "interest", "fee")}


def _comparison(index: int, schedule: Schedule) -> dict:
    rows = schedule.installments
    payments = [r.payment for r in rows]
    return {
        "id": f"plan-{index}",
        "data_id": f"plan-{index}-data",
        "totals": schedule_totals(rows),
        "method": schedule.terms.method,
        "label": method_label(schedule.terms.method),
        "schedule": schedule,
        "rows": rows,
        "first_payment": payments[0],
        "highest_payment": max(payments),
        "lowest_payment": min(payments),
        "last_payment": payments[-1],
        "level": len(set(payments[:-1])) <= 1,
        "chart": {
            "labels": [r.number for r in rows],
            "principal": [str(r.principal) for r in rows],
            "interest": [str(r.interest) for r in rows],
            "fee": [str(r.fee) for r in rows] if any(r.fee for r in rows) else [],
            "names": {"principal": _("Principal"), "interest": _("Interest"), "fee": _("Fees"),
                      "x": _("Installment"), "title": method_label(schedule.terms.method)},
        },
    }


@require_GET
def calculator(request):
    """The public plan calculator: up to three plan types side by side, each schedule with a
    chart of principal vs interest. Works without JavaScript (a GET form); with htmx only the
    results (and each field's message) are swapped in."""
    products = list(selectors.product_list_public())
    data = request.GET.copy() if request.GET else None
    if data is None and products:
        entry = min(products, key=lambda p: (p.min_amount, p.code))  # the everyday product, usually
        data = {"product": entry.code, **CALCULATOR_DEFAULTS}
    form = CalculatorForm(data)
    comparisons, product = [], None
    if data is not None and form.is_valid():
        values = form.cleaned_data
        product = values["product"]
        try:
            schedules = services.calculator_compare(
                product=product, amount=values["amount"], term_months=values["term_months"],
                methods=values["methods"], annual_rate=values["annual_rate"], upfront_fee=values["upfront_fee"],
                monthly_fee=values["monthly_fee"], seasonal_months=frozenset(values["seasonal_months"]) or None,
            )
        except DomainError as error:
            _form_error(form, error)
        else:
            comparisons = [_comparison(i, s) for i, s in enumerate(schedules)]
    if product is None and form.is_bound and "product" in form.cleaned_data:
        product = form.cleaned_data["product"]
    context = {
        "form": form,
        "comparisons": comparisons,
        "product": product,
        "public_rate": selectors.product_public_rate(product) if product else None,
        "nominal_rate": next((c["schedule"].terms.annual_rate for c in comparisons
                              if c["method"] != "zero_interest"), Decimal(0)),
        "oob": _is_htmx(request),
    }
    template = "installments/_calculator_results.html" if _is_htmx(request) else "installments/calculator.html"
    return render(request, template, context)


def _offer_cards(application) -> list[dict]:
    chinese = (get_language() or "").startswith("zh")
    cards = []
    for offer in selectors.offers_for_application(application):
        rows = offer.schedule.get("installments", []) if isinstance(offer.schedule, dict) else []
        cards.append({
            "offer": offer,
            "label": method_label(offer.method),
            "letter": chr(ord("A") + (offer.rank - 1) % 26),
            "labels": [LABELS[code][1] if chinese else OFFER_LABELS[code] for code in offer.labels if code in LABELS],
            "explanation": offer.explanation_zh if chinese else offer.explanation_en,
            # a level plan's last installment differs by cents; only a real rise is worth a line
            "show_highest": bool(offer.highest_installment
                                 and offer.highest_installment - offer.installment > offer.installment / 100),
            "rows": rows,
            "totals": schedule_totals(rows),
            "final_payment": selectors.offer_final_payment(offer),
        })
    return cards


def _summary_messages(summary: dict, key: str) -> list[str]:
    chinese = (get_language() or "").startswith("zh")
    return [m.get("zh" if chinese else "en", "") for m in (summary or {}).get(key) or []]


def _offers_context(request, application) -> dict:
    if selectors.application_declined_by_policy(application):
        # Declined, or a knock-out rule hit: the decline and its reasons, never priced plans.
        reasons = selectors.customer_decline_reasons(application, language=get_language() or "en")
        return {"application": application, "declined": True, "decline_reasons": reasons,
                "cards": [], "notes": [], "reasons": [], "suggestion": None, "can_choose": False}
    summary = application.offer_summary or {}
    suggestion = summary.get("suggestion")
    chinese = (get_language() or "").startswith("zh")
    return {
        "application": application,
        "declined": False,
        "cards": _offer_cards(application),
        "notes": _summary_messages(summary, "notes"),
        "reasons": _summary_messages(summary, "reasons"),
        "suggestion": (suggestion or {}).get("zh" if chinese else "en") if suggestion else None,
        "can_choose": application.state in services.CHOOSE_STATES and (
            request.user.pk == application.customer_id or request.user.has_role(*services.CHOOSE_ON_BEHALF_ROLES)),
    }


@login_required
@require_GET
def application_offers(request, pk: int):
    """The offers of one application, compared, with their schedules; the customer chooses one here."""
    application = selectors.application_for_user(request.user, pk)
    if application is None:
        raise Http404
    return render(request, "installments/application_offers.html", _offers_context(request, application))


@login_required
@require_POST
def offer_choose(request, pk: int):
    offer = selectors.offer_list_for_user(request.user).filter(pk=pk).first()
    if offer is None:
        raise Http404
    application = offer.application
    try:
        services.offer_choose(application=application, offer=offer, by=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("You chose plan %(letter)s. We will review your application with it.")
                         % {"letter": chr(ord("A") + (offer.rank - 1) % 26)})
    if _is_htmx(request):
        application.refresh_from_db()
        return render(request, "installments/_offer_list.html", _offers_context(request, application))
    return redirect("application_offers", pk=application.pk)


@role_required(*POLICY_VIEW_ROLES)
@require_http_methods(["GET", "POST"])
def credit_policy_list(request):
    """Every credit stance with its effective date (the one in force marked); approvers add new ones."""
    can_edit = request.user.has_role(*services.POLICY_ROLES)
    form = CreditPolicyForm(request.POST or None) if can_edit else None
    if request.method == "POST":
        if not can_edit:
            return render(request, "errors/403.html", status=403)
        if form.is_valid():
            try:
                policy = services.credit_policy_create(by=request.user, **form.cleaned_data)
            except DomainError as error:
                _form_error(form, error)
            else:
                messages.success(request, _("Credit policy “%(name)s” takes effect on %(date)s.")
                                 % {"name": policy.name, "date": policy.effective_from})
                return redirect("credit_policy_list")
    in_force_global = selectors.credit_policy_in_force()
    policies = list(selectors.credit_policy_list())
    in_force_ids = {p.pk for p in (in_force_global,) if p}
    for product in selectors.product_list_public():
        own = selectors.credit_policy_in_force(product=product)
        if own is not None:
            in_force_ids.add(own.pk)
    return render(request, "installments/credit_policy_list.html", {
        "form": form, "policies": policies, "in_force_ids": in_force_ids, "can_edit": can_edit,
    })
