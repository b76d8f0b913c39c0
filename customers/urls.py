from django.contrib.auth import views as auth_views
from django.urls import path

from customers import views
from customers.forms import EmailAuthenticationForm, ThrottledPasswordResetForm

urlpatterns = [
    path("accounts/sign-up/", views.sign_up, name="sign_up"),
    path("accounts/sign-up/done/", views.sign_up_done, name="sign_up_done"),
    path("accounts/sign-up/confirm/<str:token>/", views.sign_up_confirm, name="sign_up_confirm"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=EmailAuthenticationForm, redirect_authenticated_user=True),
        name="login",
    ),
    # Django's reset view with mails throttled per address and per client (before accounts/ in config.urls).
    path("accounts/password_reset/", auth_views.PasswordResetView.as_view(form_class=ThrottledPasswordResetForm),
         name="password_reset"),
    # The customer's own profile.
    path("profile/", views.profile_page, name="profile"),
    path("profile/identity/", views.profile_identity, name="profile_identity"),
    path("profile/background/", views.profile_background, name="profile_background"),
    path("profile/lines/<str:line_type>/add/", views.finance_line_add, name="profile_line_add"),
    path("profile/lines/<str:line_type>/<int:pk>/remove/", views.finance_line_remove, name="profile_line_remove"),
    path("profile/documents/", views.document_upload, name="profile_document_upload"),
    path("profile/statements/", views.statement_upload, name="profile_statement_upload"),
    path("profile/consents/<str:kind>/grant/", views.consent_grant, name="profile_consent_grant"),
    path("profile/consents/<int:pk>/withdraw/", views.consent_withdraw, name="profile_consent_withdraw"),
    # Documents are served only here, after the permission check (owner or staff; others 404).
    path("documents/<int:pk>/download/", views.document_download, name="document_download"),
    # Staff.
    path("staff/customers/", views.staff_customer_list, name="staff_customer_list"),
    path("staff/customers/find-by-id/", views.staff_customer_find_by_id, name="staff_customer_find_by_id"),
    path("staff/customers/<int:pk>/", views.staff_customer_detail, name="staff_customer_detail"),
    path("staff/customers/<int:pk>/reveal-id/", views.staff_reveal_id, name="staff_reveal_id"),
    path("staff/customers/<int:pk>/notes/", views.staff_interview_note_add, name="staff_interview_note_add"),
    path("staff/documents/<int:pk>/review/", views.staff_document_review, name="staff_document_review"),
]
