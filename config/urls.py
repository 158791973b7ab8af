"""Top-level URLs: the reseller panel at the root, the classic panel under
``/classic/``, the reseller API under ``/api/v1/``, Django admin under
``/admin/``, the language switch (``set_language``) under ``/i18n/`` and the
load balancer's ``/health/``; the error pages of both panels."""

from django.contrib import admin
from django.urls import include, path

from api.endpoints import api
from config.health import health

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"

urlpatterns = [
    path("health/", health, name="health"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("classic/", include("classic_panel.urls")),
    path("api/v1/", api.urls),
    path("", include("reseller_panel.urls")),
]
