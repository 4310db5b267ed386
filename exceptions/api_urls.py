"""REST API of the exceptions room, under /api/."""
from rest_framework.routers import SimpleRouter

from .api import ConflictViewSet, SyncExceptionViewSet

router = SimpleRouter()
router.register("exceptions", SyncExceptionViewSet, basename="exceptions-api")
router.register("conflicts", ConflictViewSet, basename="conflicts-api")

urlpatterns = router.urls
