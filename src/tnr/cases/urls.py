from django.urls import path

from tnr.cases import views

app_name = "cases"

urlpatterns = [
    path("", views.directory_search, name="directory-search"),
    path("manage/", views.directory_manage, name="directory-manage"),
    path("new/", views.mechanism_create, name="mechanism-create"),
    path("<int:pk>/edit/", views.mechanism_edit, name="mechanism-edit"),
    path("<int:pk>/deactivate/", views.mechanism_deactivate, name="mechanism-deactivate"),
    path("<int:pk>/reactivate/", views.mechanism_reactivate, name="mechanism-reactivate"),
    path("import/", views.directory_import, name="directory-import"),
    path("export.csv", views.directory_export, name="directory-export"),
]
