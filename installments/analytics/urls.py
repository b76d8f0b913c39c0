"""The manager's dashboard, under /manager/ (config.urls)."""

from django.urls import path

from installments.analytics import views as dashboard

app_name = "dashboard"

urlpatterns = [
    path("", dashboard.overview, name="overview"),
    path("segments/", dashboard.segments, name="segments"),
    path("satisfaction/", dashboard.satisfaction, name="satisfaction"),
    path("experiments/", dashboard.experiments, name="experiments"),
    path("experiments/<int:pk>/", dashboard.experiment_detail, name="experiment"),
    path("experiments/<int:pk>/start/", dashboard.experiment_start, name="experiment_start"),
    path("experiments/<int:pk>/stop/", dashboard.experiment_stop, name="experiment_stop"),
    path("refresh/", dashboard.refresh, name="refresh"),
    path("export/<slug:table>.csv", dashboard.export_csv, name="export"),
]
