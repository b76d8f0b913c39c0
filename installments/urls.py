"""Pages under /plans/ (config.urls)."""

from django.urls import path

from installments import views

urlpatterns = [
    path("calculator/", views.calculator, name="calculator"),
    path("applications/<int:pk>/offers/", views.application_offers, name="application_offers"),
    path("offers/<int:pk>/choose/", views.offer_choose, name="offer_choose"),
    path("staff/credit-policies/", views.credit_policy_list, name="credit_policy_list"),
]
