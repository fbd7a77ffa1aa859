"""Staff-zone pages of reporting: the caseworkers' triage inbox."""

from django.urls import path

from tnr.reporting import views_staff as views

app_name = "reporting_staff"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("intake/<slug:slug>/", views.intake, name="intake"),
    path("<str:uid>/", views.detail, name="detail"),
    path("<str:uid>/reply/", views.reply, name="reply"),
    path("<str:uid>/status/", views.status, name="status"),
    path("<str:uid>/tags/", views.tags, name="tags"),
    path("<str:uid>/derive/", views.derive, name="derive"),
    path("<str:uid>/delete/", views.delete, name="delete"),
    path("<str:uid>/files/<int:file_id>/<str:which>/", views.download, name="file"),
]
