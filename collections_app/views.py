"""Pages of servicing and collections: the customer's plans, the staff plan and payment pages, the
collector workbench and the overdue analysis. Thin: parse the form, call a service or selector,
render. A customer reaches only their own plans and a collector only assigned cases (404 otherwise).
"""

import csv
from datetime import date

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from collections_app import selectors
from collections_app.collections import cases
from collections_app.collections.buckets import buckets
from collections_app.forms import (
    AssignForm,
    ContactForm,
    CreditRefundForm,
    CustomerPaymentForm,
    CustomerRequestForm,
    DecisionForm,
    MeasureForm,
    NoteForm,
    PaymentImportForm,
    PayoffQuoteForm,
    PlanListFilterForm,
    PromiseForm,
    QueueFilterForm,
    ReversalForm,
    StaffPaymentForm,
    fresh_payment_form,
)
from collections_app.ledger.provisioning import plan_classification_history
from collections_app.models import CobRun, Payment, ServicingRequest
from collections_app.servicing import bank_import, intents, payments, policy, quotes, receipts, requests
from config.errors import DomainError
from config.redirects import safe_next_url
from customers.models import User
from customers.permissions import role_required
from customers.roles import Role
from installments.models import LoanProduct, Plan

STAFF_PLAN_ROLES = selectors.PLAN_STAFF_ROLES
REQUEST_DECIDERS = (Role.LOAN_OFFICER, Role.APPROVER, Role.MANAGER, Role.ADMIN)
COUNTER_PARAM = {
    ServicingRequest.Kind.PAYMENT_HOLIDAY: "periods", ServicingRequest.Kind.EXTENSION: "days",
    ServicingRequest.Kind.REINSTALLMENT: "months",
}


def _form_error(form, error: DomainError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


# --- The customer's plans ---------------------------------------------------------------------------

@require_GET
@role_required(Role.CUSTOMER)
def my_plans(request):
    plans = list(selectors.plans_for_customer(request.user))
    rows = [(plan, selectors.plan_summary(plan)) for plan in plans]
    return render(request, "collections_app/my_plans.html", {"rows": rows})


def _pay_amount(request):
    """The amount a link asks the pay form to show (the payoff quote's "Pay this amount")."""
    from decimal import Decimal, InvalidOperation

    try:
        amount = Decimal(request.GET.get("pay_amount", ""))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and amount > 0 else None


def _my_plan_context(request, plan: Plan, **forms) -> dict:
    schedule = selectors.plan_schedule(plan)
    quote = quote_form = None
    if "on_date" in request.GET:
        quote_form = PayoffQuoteForm(request.GET)
        if quote_form.is_valid():
            try:
                quote = quotes.plan_payoff_quote(plan=plan, on_date=quote_form.cleaned_data["on_date"])
            except DomainError as error:
                _form_error(quote_form, error)
    summary = selectors.plan_summary(plan, schedule)
    return {
        "plan": plan, "schedule": schedule, "summary": summary, "today": timezone.localdate(),
        "payments": selectors.plan_payments(plan), "reminders": selectors.plan_reminders(plan).exclude(
            status="queued")[:50],
        "requests": selectors.with_previews(selectors.plan_requests(plan)), "waivers": selectors.plan_waivers(plan),
        "pay_form": forms.get("pay_form") or CustomerPaymentForm(
            initial={"amount": _pay_amount(request) or summary.next_due_amount or None}),
        "payment_test_mode": intents.provider_test_mode(),
        "quote_form": quote_form or PayoffQuoteForm(initial={"on_date": timezone.localdate()}), "quote": quote,
        "request_form": forms.get("request_form") or CustomerRequestForm(),
        "can_pay": plan.state in policy.PAYABLE_STATES,
    }


@require_GET
@role_required(Role.CUSTOMER)
def my_plan(request, pk: int):
    plan = selectors.plan_for_customer(request.user, pk)
    return render(request, "collections_app/my_plan.html", _my_plan_context(request, plan))


def pay_outcome_message(request, intent) -> None:
    """Tell the customer what became of their payment (the plan page and the portal's pay page)."""
    replayed = getattr(intent, "replayed", False)
    if intent.status == intent.Status.AUTHORISED and replayed:
        messages.info(request, _("This payment was already received; it was not taken twice."))
    elif intent.status == intent.Status.AUTHORISED:
        messages.success(request, _("Thank you: %(amount)s %(currency)s received. Your receipt is in your "
                                    "messages.") % {"amount": f"{intent.amount:,}", "currency": intent.currency})
    elif intent.status in (intent.Status.CREATED, intent.Status.PENDING):
        messages.info(request, intent.message or _("Your bank is confirming the payment; we post it when it does."))
    else:
        messages.error(request, intent.message or _("The payment did not go through."))


@require_POST
@role_required(Role.CUSTOMER)
def my_plan_pay(request, pk: int):
    """Pay on the plan page: through the payment provider (collections_app.servicing.intents), like the portal."""
    plan = selectors.plan_for_customer(request.user, pk, act=True)
    form = CustomerPaymentForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            intent = intents.payment_intent_create(
                plan=plan, by=request.user, amount=data["amount"], overpayment=data["overpayment"],
                idempotency_key=data["idempotency_key"], card_number=data["card_number"])
        except intents.PaymentDeclined as error:
            form = fresh_payment_form(form)
            _form_error(form, error)
        except DomainError as error:
            _form_error(form, error)
        else:
            pay_outcome_message(request, intent)
            return redirect("collections:my_plan", pk=plan.pk)
    plan.refresh_from_db()
    return render(request, "collections_app/my_plan.html", _my_plan_context(request, plan, pay_form=form),
                  status=400)


@require_POST
@role_required(Role.CUSTOMER)
def my_plan_request(request, pk: int):
    plan = selectors.plan_for_customer(request.user, pk, act=True)
    form = CustomerRequestForm(request.POST)
    if form.is_valid():
        try:
            requests.request_create(plan=plan, kind=form.cleaned_data["kind"], by=request.user,
                                    reason=form.cleaned_data["reason"], params=form.params())
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("Your request was sent. We will tell you when it is decided."))
            return redirect("collections:my_plan", pk=plan.pk)
    return render(request, "collections_app/my_plan.html", _my_plan_context(request, plan, request_form=form),
                  status=400)


def _receipt_response(payment) -> HttpResponse:
    response = HttpResponse(receipts.receipt_pdf(payment), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{receipts.receipt_filename(payment)}"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@role_required(Role.CUSTOMER)
def my_payment_receipt(request, pk: int):
    """The receipt of a payment on the customer's own plan, as a PDF in their language."""
    return _receipt_response(selectors.payment_for_receipt(request.user, pk, staff=False))


@require_GET
@role_required(Role.CUSTOMER)
def my_messages(request):
    page = Paginator(selectors.reminders_for_customer(request.user), 25).get_page(request.GET.get("page"))
    return render(request, "collections_app/my_messages.html", {"page": page})


# --- Staff: plans, payments, requests --------------------------------------------------------------------

@require_GET
@role_required(*STAFF_PLAN_ROLES)
def staff_plans(request):
    form = PlanListFilterForm(request.GET, states=Plan.State.choices)
    plans = selectors.plans_visible_to(request.user).select_related("product", "customer").order_by(
        "-created_at", "-id")
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{form.fields[field].label} ({field}): {' '.join(errors)}")
        return render(request, "collections_app/staff_plans.html", {
            "page": Paginator(plans.none(), 25).get_page(1), "q": "", "state": "", "states": Plan.State.choices},
            status=400)
    query, state = form.cleaned_data["q"], form.cleaned_data["state"]
    if query:
        plans = plans.filter(Q(number__icontains=query) | Q(customer__full_name__icontains=query)
                             | Q(customer__email__icontains=query))
    if state:
        plans = plans.filter(state=state)
    page = Paginator(plans, 25).get_page(request.GET.get("page"))
    return render(request, "collections_app/staff_plans.html", {
        "page": page, "q": query, "state": state, "states": Plan.State.choices})


def _staff_plan_context(request, plan: Plan, **forms) -> dict:
    schedule = selectors.plan_schedule(plan)
    return {
        "plan": plan, "schedule": schedule, "summary": selectors.plan_summary(plan, schedule),
        "payments": selectors.plan_payments(plan), "reminders": selectors.plan_reminders(plan)[:50],
        "requests": selectors.with_previews(selectors.plan_requests(plan)), "waivers": selectors.plan_waivers(plan),
        "today": timezone.localdate(),
        "cases": plan.collection_cases.select_related("assigned_to").order_by("-opened_on"),
        "pay_form": forms.get("pay_form") or StaffPaymentForm(),
        "reverse_form": ReversalForm(),
        "can_take_payments": request.user.has_role(*policy.STAFF_PAYMENT_ROLES),
        "can_reverse": request.user.has_role(*policy.REVERSAL_ROLES),
        "can_pay": policy.plan_takes_payment(plan),
        "is_recovery": plan.state == Plan.State.WRITTEN_OFF,
        "classifications": plan_classification_history(plan),
        "refund_form": forms.get("refund_form") or CreditRefundForm(),
        "can_refund": plan.credit_balance > 0 and request.user.has_role(*policy.STAFF_PAYMENT_ROLES),
    }


@require_GET
@role_required(*STAFF_PLAN_ROLES)
def staff_plan(request, pk: int):
    plan = selectors.plan_for_staff(request.user, pk)
    return render(request, "collections_app/staff_plan.html", _staff_plan_context(request, plan))


@require_GET
@role_required(*STAFF_PLAN_ROLES)
def staff_plan_history(request, pk: int):
    plan = selectors.plan_for_staff(request.user, pk)
    return render(request, "collections_app/staff_plan_history.html", {
        "plan": plan, "versions": selectors.plan_versions(plan)})


@require_POST
@role_required(*policy.STAFF_PAYMENT_ROLES)
def staff_payment_take(request, pk: int):
    plan = selectors.plan_for_staff(request.user, pk, act=True)
    form = StaffPaymentForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            payment = payments.payment_record(
                plan=plan, amount=data["amount"], received_on=data["received_on"], channel=Payment.Channel.OFFICER,
                idempotency_key=data["idempotency_key"], by=request.user, reference=data.get("reference", ""),
                overpayment=data["overpayment"])
        except DomainError as error:
            if error.code != "needs_approval":
                _form_error(form, error)
            else:  # maker-checker: a back-dated posting above the threshold waits for a second person
                try:
                    requests.backdated_post_request(
                        plan=plan, amount=data["amount"], received_on=data["received_on"], by=request.user,
                        reason=data.get("reason", ""), reference=data.get("reference", ""),
                        overpayment=data["overpayment"])
                except DomainError as refused:
                    _form_error(form, refused)
                else:
                    messages.info(request, _("The back-dated payment waits for a second person to confirm it."))
                    return redirect("collections:staff_plan", pk=plan.pk)
        else:
            messages.success(request, _("Payment %(id)s posted.") % {"id": payment.pk})
            return redirect("collections:staff_plan", pk=plan.pk)
    return render(request, "collections_app/staff_plan.html", _staff_plan_context(request, plan, pay_form=form),
                  status=400)


@require_POST
@role_required(*policy.STAFF_PAYMENT_ROLES)
def staff_credit_refund(request, pk: int):
    """Ask for a refund of the plan's credit balance (a servicing request a second person confirms)."""
    plan = selectors.plan_for_staff(request.user, pk, act=True)
    form = CreditRefundForm(request.POST)
    if form.is_valid():
        try:
            requests.request_create(plan=plan, kind=ServicingRequest.Kind.CREDIT_REFUND, by=request.user,
                                    reason=form.cleaned_data["reason"], params=form.params())
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.info(request, _("The refund waits for a second person to confirm it."))
            return redirect("collections:staff_plan", pk=plan.pk)
    return render(request, "collections_app/staff_plan.html", _staff_plan_context(request, plan, refund_form=form),
                  status=400)


@require_POST
@role_required(*policy.REVERSAL_ROLES)
def staff_payment_reverse(request, pk: int):
    payment = selectors.payment_for_reversal(request.user, pk)
    form = ReversalForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the payment is reversed."))
    else:
        try:
            payment = requests.payment_reverse(payment=payment, by=request.user, reason=form.cleaned_data["reason"])
        except DomainError as error:
            messages.error(request, error.message)
        else:
            if payment.state == Payment.State.POSTED:
                messages.info(request, _("Payment %(id)s is above the money threshold: the reversal waits for a "
                                         "second person to confirm it.") % {"id": payment.pk})
            else:
                messages.success(request, _("Payment %(id)s reversed; what it paid is owed again.")
                                 % {"id": payment.pk})
    return redirect("collections:staff_plan", pk=payment.plan_id)


@require_GET
@role_required(*STAFF_PLAN_ROLES)
def staff_payment_receipt(request, pk: int):
    """The customer's receipt of a payment on a plan this staff member sees, in the customer's language."""
    return _receipt_response(selectors.payment_for_receipt(request.user, pk, staff=True))


@require_http_methods(["GET", "POST"])
@role_required(*policy.STAFF_PAYMENT_ROLES)
def staff_payment_import(request):
    form = PaymentImportForm(request.POST or None, request.FILES or None)
    result = errors = None
    if request.method == "POST" and form.is_valid():
        try:
            result = bank_import.payments_import_csv(text=form.cleaned_data["file"], by=request.user)
        except bank_import.PaymentImportError as error:
            errors = error.errors
        except DomainError as error:
            errors = [error.message]
    return render(request, "collections_app/payment_import.html", {"form": form, "result": result,
                                                                    "errors": errors},
                  status=400 if errors else 200)


@require_GET
@role_required(*REQUEST_DECIDERS)
def staff_requests(request):
    pending = selectors.requests_pending_for(request.user)
    return render(request, "collections_app/requests.html", {
        "pending": [(r, DecisionForm(prefix=f"r{r.pk}")) for r in selectors.with_previews(pending)],
        "recent": ServicingRequest.objects.exclude(status=ServicingRequest.Status.PENDING).select_related(
            "plan", "requested_by", "decided_by")[:30]})


@require_POST
@role_required(*REQUEST_DECIDERS)
def staff_request_decide(request, pk: int):
    servicing_request = get_object_or_404(selectors.requests_actionable_by(request.user), pk=pk)
    form = DecisionForm(request.POST, prefix=f"r{pk}")
    if not form.is_valid():
        messages.error(request, _("Choose confirm or reject."))
        return redirect("collections:staff_requests")
    data = form.cleaned_data
    params = None
    counter = data.get("counter_value")
    if counter and servicing_request.kind in COUNTER_PARAM:
        params = {**servicing_request.params, COUNTER_PARAM[servicing_request.kind]: counter}
        params.pop("counter_offer", None)
        params.pop("asked", None)
    try:
        requests.request_decide(request=servicing_request, by=request.user, approve=data["decision"] == "approve",
                                note=data.get("note", ""), params=params)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Decision recorded."))
    return redirect(safe_next_url(request, request.POST.get("next"), reverse("collections:staff_requests")))


@require_GET
@role_required(Role.MANAGER, Role.ADMIN, Role.APPROVER)
def staff_cob_runs(request):
    return render(request, "collections_app/cob_runs.html", {"runs": CobRun.objects.all()[:60]})


# --- Collector workbench -------------------------------------------------------------------------------

@require_GET
@role_required(*selectors.CASE_ROLES)
def collections_queue(request):
    collectors = User.objects.filter(groups__name=Role.COLLECTOR, is_active=True).order_by("full_name", "email")
    products = LoanProduct.objects.order_by("name")
    form = QueueFilterForm(request.GET or None, products=products, collectors=collectors)
    filters = form.cleaned_data if form.is_valid() else {}
    queue = selectors.case_queue(request.user, bucket=filters.get("bucket", ""), product=filters.get("product", ""),
                                 collector=filters.get("collector", "") if request.user.has_role(
                                     *selectors.CASE_ALL_ROLES) else "")
    page = Paginator(queue, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "collections_app/queue.html", {
        "page": page, "filter_form": form, "query": query.urlencode(), "today": timezone.localdate(),
        "sees_all": request.user.has_role(*selectors.CASE_ALL_ROLES)})


def _case_context(request, case, **forms) -> dict:
    context = selectors.case_detail(case)
    context.update({
        "contact_form": forms.get("contact_form") or ContactForm(),
        "promise_form": forms.get("promise_form") or PromiseForm(),
        "note_form": forms.get("note_form") or NoteForm(),
        "measure_form": forms.get("measure_form") or MeasureForm(),
        "assign_form": AssignForm(initial={"collector": case.assigned_to_id}),
        "can_assign": request.user.has_role(*policy.APPROVER_ROLES),
        "can_decide": request.user.has_role(*policy.APPROVER_ROLES),
        "policy": policy.policy_for(case.plan.product),
    })
    return context


@require_GET
@role_required(*selectors.CASE_ROLES)
def collections_case(request, pk: int):
    case = selectors.case_for_user(request.user, pk)
    return render(request, "collections_app/case.html", _case_context(request, case))


def _case_post(request, pk: int, form_class, form_name: str, action):
    case = selectors.case_for_user(request.user, pk, act=True)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            message = action(case, form)
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.success(request, message)
            return redirect("collections:case", pk=case.pk)
    return render(request, "collections_app/case.html", _case_context(request, case, **{form_name: form}),
                  status=400)


@require_POST
@role_required(*selectors.CASE_ROLES)
def case_contact_add(request, pk: int):
    def action(case, form):
        cases.contact_log_add(case=case, by=request.user, **form.cleaned_data)
        return _("Contact recorded.")
    return _case_post(request, pk, ContactForm, "contact_form", action)


@require_POST
@role_required(*selectors.CASE_ROLES)
def case_promise_add(request, pk: int):
    def action(case, form):
        cases.promise_create(case=case, by=request.user, amount=form.cleaned_data["amount"],
                                promised_date=form.cleaned_data["promised_date"])
        return _("Promise to pay recorded.")
    return _case_post(request, pk, PromiseForm, "promise_form", action)


@require_POST
@role_required(*selectors.CASE_ROLES)
def case_note_add(request, pk: int):
    def action(case, form):
        cases.case_note_add(case=case, by=request.user, text=form.cleaned_data["text"])
        return _("Note added.")
    return _case_post(request, pk, NoteForm, "note_form", action)


@require_POST
@role_required(*selectors.CASE_ROLES)
def case_measure_request(request, pk: int):
    def action(case, form):
        made = requests.request_create(plan=case.plan, kind=form.cleaned_data["kind"], by=request.user,
                                       reason=form.cleaned_data["reason"], params=form.params(), case=case)
        if made.status == ServicingRequest.Status.APPLIED:
            return _("Measure applied.")
        return _("Measure requested; an approver must confirm it.")
    return _case_post(request, pk, MeasureForm, "measure_form", action)


@require_POST
@role_required(*policy.APPROVER_ROLES)
def case_assign(request, pk: int):
    case = selectors.case_for_user(request.user, pk, act=True)
    form = AssignForm(request.POST)
    if form.is_valid():
        try:
            cases.case_assign(case=case, collector=form.cleaned_data["collector"], by=request.user)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Case assigned."))
    return redirect("collections:case", pk=case.pk)


# --- Overdue analysis ----------------------------------------------------------------------------------

DIMENSIONS = {
    "bucket": _("Bucket"), "purpose": _("Purpose"), "employment": _("Employment type"), "age_band": _("Age band"),
    "cause": _("Cause"),
}


@require_GET
@role_required(*selectors.ANALYSIS_ROLES)
def collections_analysis(request):
    analysis = selectors.overdue_analysis()
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="overdue-analysis-{date.today():%Y%m%d}.csv"'
        response.write("\ufeff")  # Excel opens UTF-8 (Chinese labels) correctly with a BOM
        writer = csv.writer(response)
        writer.writerow(["dimension", "group", "count", "amount_overdue"])
        for dimension in DIMENSIONS:
            for row in analysis[dimension]:
                writer.writerow([dimension, row["group"], row["count"], f"{row['amount']:.2f}"])
        return response
    chart_data = {
        dimension: {"title": str(title), "labels": [r["group"] for r in analysis[dimension]],
                    "counts": [r["count"] for r in analysis[dimension]],
                    "amounts": [str(r["amount"]) for r in analysis[dimension]]}
        for dimension, title in DIMENSIONS.items()
    }
    return render(request, "collections_app/analysis.html", {
        "analysis": analysis, "dimensions": [(k, v, analysis[k]) for k, v in DIMENSIONS.items()],
        "chart_data": chart_data, "buckets": buckets()})

