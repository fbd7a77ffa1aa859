from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="records:incident-list", permanent=False)),
    path("accounts/", include("tnr.accounts.urls")),
    path("incidents/", include("tnr.records.urls")),
    path("protection/", include("tnr.cases.urls")),
    path("audit/", include("tnr.core.urls_audit")),
    path("reports/", include("tnr.reporting.urls_staff")),
    path("linkage/", include("tnr.analytics.urls")),
    path("admin/", admin.site.urls),
]
