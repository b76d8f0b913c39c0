"""Merchant routes under /merchant/ (config.urls), namespace `merchants`: the merchant portal (role
merchant), the customer's checkout page behind a signed link, and the staff onboarding pages."""

from django.urls import path

from installments.merchants import views

app_name = "merchants"

urlpatterns = [
    path("", views.home, name="home"),
    path("baskets/new/", views.basket_new, name="basket_new"),
    path("baskets/<int:pk>/", views.basket_detail, name="basket"),
    path("baskets/<int:pk>/cancel/", views.basket_cancel, name="basket_cancel"),
    path("goods/", views.goods, name="goods"),
    path("goods/import/", views.goods_import, name="goods_import"),
    path("goods/<int:pk>/edit/", views.good_edit, name="good_edit"),
    path("checkout/<str:token>/", views.checkout, name="checkout"),
    path("staff/", views.staff_list, name="staff_list"),
    path("staff/new/", views.staff_new, name="staff_new"),
    path("staff/<int:pk>/", views.staff_detail, name="staff_detail"),
    path("staff/<int:pk>/edit/", views.staff_edit, name="staff_edit"),
    path("staff/<int:pk>/status/", views.staff_status, name="staff_status"),
    path("staff/<int:pk>/users/", views.staff_user_add, name="staff_user_add"),
    path("staff/<int:pk>/api-secret/", views.staff_secret, name="staff_secret"),
]
