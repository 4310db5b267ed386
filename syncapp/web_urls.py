"""syncapp/web_urls.py: filled in by its room."""
urlpatterns: list = []
