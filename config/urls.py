from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from config import views

handler400 = "config.views.error_400"
handler403 = "config.views.error_403"
handler404 = "config.views.error_404"
handler500 = "config.views.error_500"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("staff/", views.staff_home, name="staff_home"),
    path("", include("customers.urls")),
    path("me/", include("portal.urls")),
    path("staff/", include("installments.workbench.urls")),
    path("scoring/", include("installments.assessment.urls")),
    path("plans/", include("installments.urls")),
    path("servicing/", include("collections_app.urls")),
    path("manager/", include("installments.analytics.urls")),
    path("merchant/", include("installments.merchants.urls")),
    # Two-factor pages and the TOTP-aware API token view (before api/v1/, so it replaces DRF's plain one).
    path("", include("customers.two_factor")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/merchant/", include("installments.merchants.api_urls")),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]

if settings.DEBUG:
    urlpatterns += [
        path("403/", views.error_403),
        path("404/", views.error_404),
        path("500/", views.error_500),
    ]
