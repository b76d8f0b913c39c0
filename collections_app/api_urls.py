"""Servicing API under /api/v1/ (config.api_urls)."""

from django.urls import path

from collections_app import api
from collections_app.ledger import api as books_api

urlpatterns = [
    path("plans/", api.PlanListApi.as_view(), name="api-plans"),
    path("plans/<int:pk>/", api.PlanDetailApi.as_view(), name="api-plan-detail"),
    path("plans/<int:pk>/payments/", api.PlanPaymentsApi.as_view(), name="api-plan-payments"),
    path("plans/<int:pk>/payment-intents/", api.PlanPaymentIntentsApi.as_view(), name="api-plan-payment-intents"),
    path("payment-intents/<int:pk>/", api.PaymentIntentDetailApi.as_view(), name="api-payment-intent"),
    path("payments/provider-callback/", api.ProviderCallbackApi.as_view(), name="api-payment-provider-callback"),
    path("plans/<int:pk>/payoff-quote/", api.PayoffQuoteApi.as_view(), name="api-plan-payoff-quote"),
    path("plans/<int:pk>/requests/", api.PlanRequestsApi.as_view(), name="api-plan-requests"),
    path("payments/<int:pk>/reverse/", api.PaymentReverseApi.as_view(), name="api-payment-reverse"),
    # The books (read-only; manager, accountant, admin).
    path("books/trial-balance/", books_api.TrialBalanceApi.as_view(), name="api-books-trial-balance"),
    path("books/journal-lines/", books_api.JournalLinesApi.as_view(), name="api-books-journal-lines"),
]
