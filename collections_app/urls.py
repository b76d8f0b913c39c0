"""Pages under /servicing/ (config.urls): the customer's plans, staff servicing, collections."""

from django.urls import path

from collections_app import views
from collections_app.ledger import classification_views
from collections_app.ledger import views as books_views

app_name = "collections"

urlpatterns = [
    # The customer's own plans.
    path("my/plans/", views.my_plans, name="my_plans"),
    path("my/plans/<int:pk>/", views.my_plan, name="my_plan"),
    path("my/plans/<int:pk>/pay/", views.my_plan_pay, name="my_plan_pay"),
    path("my/plans/<int:pk>/requests/", views.my_plan_request, name="my_plan_request"),
    path("my/payments/<int:pk>/receipt/", views.my_payment_receipt, name="my_payment_receipt"),
    path("my/messages/", views.my_messages, name="my_messages"),
    # Staff servicing.
    path("staff/plans/", views.staff_plans, name="staff_plans"),
    path("staff/plans/<int:pk>/", views.staff_plan, name="staff_plan"),
    path("staff/plans/<int:pk>/history/", views.staff_plan_history, name="staff_plan_history"),
    path("staff/plans/<int:pk>/payments/", views.staff_payment_take, name="staff_payment_take"),
    path("staff/plans/<int:pk>/credit-refund/", views.staff_credit_refund, name="staff_credit_refund"),
    path("staff/payments/<int:pk>/reverse/", views.staff_payment_reverse, name="staff_payment_reverse"),
    path("staff/payments/<int:pk>/receipt/", views.staff_payment_receipt, name="staff_payment_receipt"),
    path("staff/payments/import/", views.staff_payment_import, name="staff_payment_import"),
    path("staff/requests/", views.staff_requests, name="staff_requests"),
    path("staff/requests/<int:pk>/decide/", views.staff_request_decide, name="staff_request_decide"),
    path("staff/close-of-business/", views.staff_cob_runs, name="staff_cob_runs"),
    # The books (manager, accountant, admin).
    path("books/trial-balance/", books_views.trial_balance, name="books_trial_balance"),
    path("books/accounts/<str:code>/", books_views.account_ledger, name="books_account"),
    path("books/classification/", classification_views.classification, name="books_classification"),
    path("books/entries/<int:pk>/", books_views.journal_entry, name="books_entry"),
    path("books/income/", books_views.income_report, name="books_income"),
    path("books/provisions/", books_views.provision_report, name="books_provisions"),
    path("books/periods/", books_views.periods, name="books_periods"),
    path("books/chart-changes/", books_views.chart_changes, name="books_chart_changes"),
    path("books/journal-lines.csv", books_views.journal_lines_csv, name="books_journal_lines_csv"),
    # Collector workbench.
    path("collections/", views.collections_queue, name="queue"),
    path("collections/analysis/", views.collections_analysis, name="analysis"),
    path("collections/cases/<int:pk>/", views.collections_case, name="case"),
    path("collections/cases/<int:pk>/contacts/", views.case_contact_add, name="case_contact_add"),
    path("collections/cases/<int:pk>/promises/", views.case_promise_add, name="case_promise_add"),
    path("collections/cases/<int:pk>/notes/", views.case_note_add, name="case_note_add"),
    path("collections/cases/<int:pk>/measures/", views.case_measure_request, name="case_measure_request"),
    path("collections/cases/<int:pk>/assign/", views.case_assign, name="case_assign"),
]
