from django.urls import path

from tnr.accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.account_view, name="account"),
    path("login/", views.login_view, name="login"),
    path("login/code/", views.verify_view, name="verify"),
    path("enrol/", views.enrol_view, name="enrol"),
    path("logout/", views.logout_view, name="logout"),
    path("recovery-codes/", views.recovery_codes_view, name="recovery-codes"),
    path("authenticator/replace/", views.replace_authenticator_view, name="replace-authenticator"),
    path("password/", views.password_change_view, name="password-change"),
    path("recover/", views.recover_view, name="recover"),
    path("invitations/<str:token>/", views.accept_invitation_view, name="accept-invitation"),
    path("organisations/<slug:slug>/members/", views.members_view, name="members"),
    path("organisations/<slug:slug>/invitations/", views.invite_view, name="invite"),
    path(
        "organisations/<slug:slug>/invitations/<int:pk>/revoke/",
        views.revoke_invitation_view,
        name="revoke-invitation",
    ),
    path("organisations/<slug:slug>/members/<int:pk>/role/", views.change_role_view, name="change-role"),
    path("organisations/<slug:slug>/members/<int:pk>/remove/", views.remove_member_view, name="remove-member"),
    path("organisations/<slug:slug>/members/<int:pk>/unlock/", views.unlock_member_view, name="unlock-member"),
    path("organisations/<slug:slug>/members/<int:pk>/grant/", views.grant_access_view, name="grant-access"),
    path("organisations/<slug:slug>/key/", views.org_key_view, name="org-key"),
    path("organisations/<slug:slug>/key/create/", views.org_key_create_view, name="org-key-create"),
    path("organisations/<slug:slug>/key/recovery/", views.recovery_key_renew_view, name="recovery-key-renew"),
]
