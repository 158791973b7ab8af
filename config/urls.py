"""Top-level URLs: the reseller panel at the root, the classic panel under
``/classic/``, Django admin under ``/admin/`` and the language switch
(``set_language``) under ``/i18n/``."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("classic/", include("classic_panel.urls")),
    path("", include("reseller_panel.urls")),
]
