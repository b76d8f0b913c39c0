from django.urls import path

from installments.assessment import api

urlpatterns = [
    path("applications/<int:pk>/score/", api.ApplicationScoreApi.as_view(), name="api-application-score"),
]
