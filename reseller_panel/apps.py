from django.apps import AppConfig


class ResellerPanelConfig(AppConfig):
    name = "reseller_panel"
    verbose_name = "Reseller panel"
