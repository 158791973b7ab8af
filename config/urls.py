"""Top-level URLs: the reseller panel at the root, the classic panel under
``/classic/``, the reseller API under ``/api/v1/``, Django admin under
``/admin/`` and the language switch (``set_language``) under ``/i18n/``."""

from django.contrib import admin
from django.urls import include, path

from api.endpoints import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("classic/", include("classic_panel.urls")),
    path("api/v1/", api.urls),
    path("", include("reseller_panel.urls")),
]
