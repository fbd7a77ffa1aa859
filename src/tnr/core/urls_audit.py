from django.urls import path

from tnr.core import views_audit

app_name = "audit"

urlpatterns = [
    path("", views_audit.audit_list, name="list"),
    path("export.csv", views_audit.audit_export, name="export"),
    path("verify/", views_audit.audit_verify, name="verify"),
]
