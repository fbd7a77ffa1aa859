"""Staff-zone pages of reporting: the caseworkers' triage inbox."""

from django.urls import URLPattern

app_name = "reporting_staff"

urlpatterns: list[URLPattern] = []
