"""Staff-zone pages of analytics (record-linkage review), mounted at /linkage/."""

from django.urls import path

from tnr.analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.run_list, name="run-list"),
    path("run/", views.run_create, name="run-create"),
    path("<uuid:uid>/", views.run_detail, name="run"),
    path("<uuid:uid>/next/", views.next_pair, name="next-pair"),
    path("<uuid:uid>/pairs/<int:pk>/", views.pair, name="pair"),
]
