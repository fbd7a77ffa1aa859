from django.urls import path

from tnr.records import views

app_name = "records"

urlpatterns = [
    path("", views.incident_list, name="incident-list"),
    path("<uuid:uid>/", views.incident_detail, name="incident-detail"),
    path("person/<int:pk>/identity/", views.person_identity, name="person-identity"),
]
