"""The routing service: live inventory, reservations and order life cycle over a database.

Calls the pure solver (``router.single``, ``router.batch``); never imported by it.
"""

from router.service.core import RoutingService
from router.service.errors import Conflict, NotFound, ServiceError
from router.service.settings import Settings
from router.service.store import Store

__all__ = ["Conflict", "NotFound", "RoutingService", "ServiceError", "Settings", "Store"]
