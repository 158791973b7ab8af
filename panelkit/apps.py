from django.apps import AppConfig


class PanelKitConfig(AppConfig):
    name = "panelkit"
    verbose_name = "Panel kit"
