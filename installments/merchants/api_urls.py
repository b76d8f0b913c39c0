"""The merchants' signed API under /api/v1/merchant/ (config.urls)."""

from django.urls import path

from installments.merchants import api

urlpatterns = [
    path("baskets/", api.BasketCreateApi.as_view(), name="api-merchant-baskets"),
    path("baskets/<uuid:public_id>/", api.BasketStatusApi.as_view(), name="api-merchant-basket"),
]
