import hashlib

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import DomainError
from customers import selectors, services
from customers.filters import CustomerProfileFilter, id_number_search_hash
from customers.forms import (
    LINE_FORMS,
    BackgroundForm,
    DocumentReviewForm,
    DocumentUploadForm,
    IdentityForm,
    InterviewNoteForm,
    RevealIdForm,
    SignUpForm,
    StatementUploadForm,
    within_hourly_limit,
)
from customers.models import CONSENT_TEXTS, CustomerDocument, CustomerProfile
from customers.national_id import normalise as normalise_id_number
from customers.permissions import role_required
from customers.roles import Role

LINE_TITLES = {
    "income": gettext_lazy("Monthly income"),
    "expense": gettext_lazy("Monthly expenses"),
    "debt": gettext_lazy("Existing debts"),
    "asset": gettext_lazy("Assets"),
}
LINE_RELATIONS = {line_type: collection for collection, line_type in services.LINE_COLLECTIONS.items()}


@require_http_methods(["GET", "POST"])
def sign_up(request):
    """The same answer for every valid form, whether or not the address has an account: the "check your
    e-mail" page (customers.services.sign_up_request sends the link, or tells the owner). At most
    SIGN_UP_MAILS_PER_EMAIL mails an hour go to one address and SIGN_UP_MAILS_PER_IP for one client."""
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None, initial={"preferred_language": request.LANGUAGE_CODE})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        hashed = hashlib.sha256(data["email"].encode()).hexdigest()  # no address in the cache keys
        if (within_hourly_limit(f"sign-up:email:{hashed}", getattr(settings, "SIGN_UP_MAILS_PER_EMAIL", 3))
                and within_hourly_limit(f"sign-up:ip:{_client_ip(request) or ''}",
                                        getattr(settings, "SIGN_UP_MAILS_PER_IP", 20))):
            services.sign_up_request(email=data["email"], password=data["password1"], full_name=data["full_name"],
                                     preferred_language=data["preferred_language"])
        return redirect("sign_up_done")
    return render(request, "registration/sign_up.html", {"form": form})


@require_GET
def sign_up_done(request):
    return render(request, "registration/sign_up_done.html",
                  {"hours": services.sign_up_link_max_age() // 3600})


@require_http_methods(["GET", "POST"])
def sign_up_confirm(request, token: str):
    """The link of the sign-up mail: a page with one button (so a mail scanner that opens links creates
    nothing); the POST creates the account, signs its owner in and opens the home page."""
    try:
        data = services.sign_up_link_read(token)
    except services.SignUpLinkError:
        return render(request, "registration/sign_up_confirm.html", {"state": "invalid"})
    if request.method == "POST":
        try:
            user = services.sign_up_confirm(token=token)
        except services.SignUpLinkError:
            return render(request, "registration/sign_up_confirm.html", {"state": "invalid"})
        if user is None:
            return render(request, "registration/sign_up_confirm.html", {"state": "used"})
        login(request, user, backend="customers.backends.ModelBackendWithRoles")
        messages.success(request, _("Welcome! Your account is ready."))
        return redirect("home")
    state = "used" if services.sign_up_link_used(data) else "ready"
    return render(request, "registration/sign_up_confirm.html", {"state": state, "email": data["email"]})


# --- The customer's own profile ("My profile") ---------------------------------------------------

def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _form_error(form: forms.Form, error: DomainError) -> None:
    """Show a service's refusal next to the field it names (or above the form)."""
    form.add_error(error.field if error.field in form.fields else None, error.message)


def _own_profile_or_404(request) -> CustomerProfile:
    profile = selectors.profile_for_user(request.user)
    if profile is None:
        raise Http404
    return profile


def _finance_context(profile: CustomerProfile, *, forms_by_type: dict | None = None) -> dict:
    profile = selectors.profile_get(profile.pk)
    sections = []
    for line_type, title in LINE_TITLES.items():
        form = (forms_by_type or {}).get(line_type) or LINE_FORMS[line_type](prefix=line_type)
        lines = getattr(profile, LINE_RELATIONS[line_type]).all()
        sections.append({"type": line_type, "title": title, "lines": lines, "form": form})
    return {"profile": profile, "finance_sections": sections, "finances": selectors.profile_finances(profile)}


def _profile_page(request, profile: CustomerProfile | None, **forms_) -> HttpResponse:
    """The whole "My profile" page; `forms_` carries bound forms with errors to show in place."""
    context = {"profile": profile, "consent_texts": CONSENT_TEXTS}
    context["identity_form"] = forms_.get("identity_form") or IdentityForm(instance=profile)
    if profile is not None:
        context.update(_finance_context(profile, forms_by_type=forms_.get("finance_forms")))
        context.update(
            background_form=forms_.get("background_form") or BackgroundForm(instance=profile),
            document_form=forms_.get("document_form") or DocumentUploadForm(),
            statement_form=forms_.get("statement_form") or StatementUploadForm(),
            documents=selectors.documents_for_profile(profile),
            statement=selectors.statement_latest(profile),
        )
    context["active_consents"] = selectors.consents_active(request.user)
    return render(request, "customers/profile.html", context)


@role_required(Role.CUSTOMER)
@require_GET
def profile_page(request):
    return _profile_page(request, selectors.profile_for_user(request.user))


@role_required(Role.CUSTOMER)
@require_POST
def profile_identity(request):
    profile = selectors.profile_for_user(request.user)
    form = IdentityForm(request.POST, instance=profile)
    if form.is_valid():
        try:
            if profile is None:
                services.profile_create(user=request.user, data=form.cleaned_data)
                messages.success(request, _("Your profile is created. Please add your background and finances."))
            else:
                data = {k: v for k, v in form.cleaned_data.items() if k != "id_number" or v}
                services.profile_update(profile=profile, data=data, by=request.user)
                messages.success(request, _("Your details are saved."))
            return redirect(reverse("profile") + "#identity")
        except DomainError as error:
            _form_error(form, error)
    return _profile_page(request, profile, identity_form=form)


@role_required(Role.CUSTOMER)
@require_POST
def profile_background(request):
    profile = _own_profile_or_404(request)
    form = BackgroundForm(request.POST, instance=profile)
    if form.is_valid():
        try:
            services.profile_update(profile=profile, data=form.cleaned_data, by=request.user)
            messages.success(request, _("Your background is saved."))
            return redirect(reverse("profile") + "#background")
        except DomainError as error:
            _form_error(form, error)
    return _profile_page(request, profile, background_form=form)


def _finance_response(request, profile: CustomerProfile, *, forms_by_type: dict | None = None) -> HttpResponse:
    """htmx: the finances section again (lines, totals, ratios, forms with any errors).
    Without htmx: back to the page, or the page with the errors. Errors answer 200 so htmx swaps them in."""
    if _is_htmx(request):
        return render(request, "customers/_finances.html", _finance_context(profile, forms_by_type=forms_by_type))
    if forms_by_type:
        return _profile_page(request, profile, finance_forms=forms_by_type)
    return redirect(reverse("profile") + "#finances")


@role_required(Role.CUSTOMER)
@require_POST
def finance_line_add(request, line_type: str):
    profile = _own_profile_or_404(request)
    if line_type not in LINE_FORMS:
        raise Http404
    form = LINE_FORMS[line_type](request.POST, prefix=line_type)
    if form.is_valid():
        try:
            services.finance_line_add(profile=profile, line_type=line_type, data=form.cleaned_data, by=request.user)
            return _finance_response(request, profile)
        except DomainError as error:
            _form_error(form, error)
    return _finance_response(request, profile, forms_by_type={line_type: form})


@role_required(Role.CUSTOMER)
@require_POST
def finance_line_remove(request, line_type: str, pk: int):
    profile = _own_profile_or_404(request)
    if line_type not in LINE_RELATIONS:
        raise Http404
    line = get_object_or_404(getattr(profile, LINE_RELATIONS[line_type]), pk=pk)
    services.finance_line_remove(line=line, by=request.user)
    return _finance_response(request, profile)


@role_required(Role.CUSTOMER)
@require_POST
def document_upload(request):
    profile = _own_profile_or_404(request)
    form = DocumentUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.document_upload(profile=profile, kind=form.cleaned_data["kind"], file=form.cleaned_data["file"],
                                     by=request.user)
            messages.success(request, _("Thank you. We will review the document shortly."))
            return redirect(reverse("profile") + "#documents")
        except DomainError as error:
            _form_error(form, error)
    return _profile_page(request, profile, document_form=form)


@role_required(Role.CUSTOMER)
@require_POST
def statement_upload(request):
    profile = _own_profile_or_404(request)
    form = StatementUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.statement_import(profile=profile, file=form.cleaned_data["file"], by=request.user)
            messages.success(request, _("Your statement is imported; the summary is below."))
            return redirect(reverse("profile") + "#statement")
        except DomainError as error:
            _form_error(form, error)
    return _profile_page(request, profile, statement_form=form)


@role_required(Role.CUSTOMER)
@require_POST
def consent_grant(request, kind: str):
    try:
        services.consent_record(user=request.user, kind=kind, ip_address=_client_ip(request))
    except DomainError:
        raise Http404
    messages.success(request, _("Thank you, your consent is recorded."))
    return redirect(reverse("profile") + "#consents")


@role_required(Role.CUSTOMER)
@require_POST
def consent_withdraw(request, pk: int):
    consent = get_object_or_404(selectors.consents_for_user(request.user), pk=pk)
    services.consent_withdraw(consent=consent, by=request.user, ip_address=_client_ip(request))
    messages.info(request, _("Your consent is withdrawn."))
    return redirect(reverse("profile") + "#consents")


@login_required
@require_GET
def document_download(request, pk: int):
    """The only way to a document's bytes: its owner or staff who may open customer files; others 404."""
    document = selectors.document_get_for_download(user=request.user, pk=pk)
    if document is None:
        raise Http404
    response = FileResponse(services.document_open(document=document, by=request.user), as_attachment=True,
                            filename=document.original_filename, content_type=document.content_type)
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- Staff: customers ----------------------------------------------------------------------------------

customer_file_required = role_required(*selectors.CUSTOMER_FILE_ROLES)


@customer_file_required
@require_GET
def staff_customer_list(request):
    customer_filter = CustomerProfileFilter(request.GET or None, queryset=selectors.customer_list().order_by(
        "-updated_at", "-pk"))
    # A bad `id_hash` (e.g. a number typed into the address) finds nobody rather than everybody.
    id_hash_error = " ".join(customer_filter.errors.get("id_hash", []))
    customers = customer_filter.qs.none() if id_hash_error else customer_filter.qs
    page = Paginator(customers, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "customers/staff_customer_list.html", {
        "filter": customer_filter, "page": page, "query": query.urlencode(),
        "by_id_number": bool(request.GET.get("id_hash")), "id_hash_error": id_hash_error,
    })


@customer_file_required
@require_POST
def staff_customer_find_by_id(request):
    """Find a customer by the exact ID number without putting it in a URL or an access log: the number
    comes in the POST body and the list is shown filtered by its keyed search hash (`id_hash`)."""
    number = normalise_id_number(request.POST.get("id_number", ""))
    if not number or len(number) > 32:
        messages.error(request, _("Enter the exact ID number."))
        return redirect("staff_customer_list")
    return redirect(reverse("staff_customer_list") + "?" + urlencode({"id_hash": id_number_search_hash(number)}))


def _staff_detail(request, profile: CustomerProfile, **extra) -> HttpResponse:
    context = {
        **_finance_context(profile),
        "documents": selectors.documents_for_profile(profile),
        "statement": selectors.statement_latest(profile),
        "notes": profile.interview_notes.select_related("author"),
        "note_form": extra.pop("note_form", None) or InterviewNoteForm(),
        "reveal_form": RevealIdForm(),
        "consents": selectors.consents_for_user(profile.user),
        "history": selectors.profile_history(profile)[:100],
        "summary": selectors.profile_summary(profile),
        **extra,
    }
    return render(request, "customers/staff_customer_detail.html", context)


def _staff_profile_or_404(pk: int) -> CustomerProfile:
    profile = selectors.profile_get(pk)
    if profile is None:
        raise Http404
    return profile


@customer_file_required
@require_GET
def staff_customer_detail(request, pk: int):
    return _staff_detail(request, _staff_profile_or_404(pk))


@customer_file_required
@require_POST
def staff_reveal_id(request, pk: int):
    """Show the full ID number once, on an explicit request; the service writes `pii.view_full_id`."""
    profile = _staff_profile_or_404(pk)
    form = RevealIdForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    full_id = services.customer_reveal_id(profile=profile, by=request.user, reason=reason,
                                          ip_address=_client_ip(request))
    if _is_htmx(request):
        response = render(request, "customers/_full_id.html", {"full_id": full_id})
    else:
        response = _staff_detail(request, profile, full_id=full_id)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@customer_file_required
@require_POST
def staff_document_review(request, pk: int):
    document = get_object_or_404(CustomerDocument.objects.select_related("profile"), pk=pk)
    form = DocumentReviewForm(request.POST)
    error = None
    if form.is_valid():
        try:
            document = services.document_review(document=document, to=form.cleaned_data["to"], by=request.user,
                                                 reason=form.cleaned_data["reason"])
        except DomainError as refusal:
            error = refusal.message
    else:
        error = _("Choose verify or reject.")
    if _is_htmx(request):
        return render(request, "customers/_document_row.html",
                      {"document": document, "staff": True, "review_error": error})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("The document review is saved."))
    return redirect(reverse("staff_customer_detail", args=[document.profile_id]) + "#documents")


@customer_file_required
@require_POST
def staff_interview_note_add(request, pk: int):
    profile = _staff_profile_or_404(pk)
    form = InterviewNoteForm(request.POST)
    if form.is_valid():
        try:
            services.interview_note_add(profile=profile, author=request.user, **form.cleaned_data)
            form = InterviewNoteForm()
            if not _is_htmx(request):
                messages.success(request, _("The interview note is saved."))
                return redirect(reverse("staff_customer_detail", args=[pk]) + "#notes")
        except DomainError as error:
            _form_error(form, error)
    if _is_htmx(request):
        return render(request, "customers/_interview_notes.html",
                      {"profile": profile, "notes": profile.interview_notes.select_related("author"),
                       "note_form": form})
    return _staff_detail(request, profile, note_form=form)
