"""exceptions/urls.py: filled in by its room."""
urlpatterns: list = []
