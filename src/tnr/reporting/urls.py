"""URLconf of the reporter zone, the whole of what a TNR_ZONE=reporter process serves.

Language is the first path segment, chosen by the person on the first page; nothing is
guessed from the address. The staff zone's URLs do not exist in this process at all.
"""

from django.conf.urls.i18n import i18n_patterns
from django.urls import include, path

from tnr.reporting import views

zone_patterns = [
    path("", views.home, name="home"),
    path("understand/", views.assess, name="assess"),
    path("report/", views.report, name="report"),
    path("follow-up/", views.followup, name="followup"),
    path("follow-up/report/", views.thread, name="thread"),
    path("follow-up/consent/", views.withdraw, name="withdraw"),
    path("follow-up/delete/", views.delete, name="delete"),
    path("follow-up/files/<int:file_id>/", views.download, name="download"),
    path("follow-up/sign-out/", views.sign_out, name="sign-out"),
]

handler400 = "tnr.reporting.views.bad_request"

urlpatterns = [
    path("", views.languages, name="reporter-languages"),
    path("zone.css", views.stylesheet, name="reporter-css"),
    *i18n_patterns(path("", include((zone_patterns, "reporting"))), prefix_default_language=True),
]
