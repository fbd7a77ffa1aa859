"""Staff-zone pages of analytics (record-linkage review)."""

from django.urls import URLPattern

app_name = "analytics"

urlpatterns: list[URLPattern] = []
