from django.urls import path

from installments.assessment import views

urlpatterns = [
    path("monitoring/", views.monitoring, name="scoring_monitoring"),
    path("monitoring/record/", views.monitoring_record, name="scoring_monitoring_record"),
    path("applications/<int:pk>/", views.application_score, name="scoring_application_score"),
]
