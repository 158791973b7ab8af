app_name = "classic"
urlpatterns: list = []
