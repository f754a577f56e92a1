"""HTTP for the routing service: request parsing, auth, status codes. Nothing else.

Every operation is one call on :class:`router.service.RoutingService`; errors become
status codes in one place (:func:`_errors`). Run with ``router serve`` or
``uvicorn api:create_app --factory``.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models import BadInput, FieldError, Order, Plan
from models.errors import format_path
from models.service import (
    Adjustments,
    Availability,
    Health,
    Inventory,
    InventoryUpdate,
    Network,
    NodeRef,
    OrderAnswer,
    Return,
)
from router.service import Conflict, NotFound, RoutingService, ServiceError, Settings
from router.service.metrics import LATENCY, REQUESTS, exposition
from router.service.settings import SCOPES

log = logging.getLogger("router.api")


# -- dependencies --------------------------------------------------------------------


def service(request: Request) -> RoutingService:
    svc: RoutingService = request.app.state.service
    return svc


Service = Annotated[RoutingService, Depends(service)]


class Unauthorized(Exception):
    pass


class Forbidden(Exception):
    pass


def require(scope: str) -> Callable[[Request], None]:
    """A dependency that lets a request through only with a key holding ``scope``."""

    def check(request: Request) -> None:
        header = request.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token:
            raise Unauthorized()
        granted: frozenset[str] = frozenset()
        for key, scopes in request.app.state.keys.items():  # constant time: compare all
            if hmac.compare_digest(key.encode(), token.strip().encode()):
                granted = scopes
        if not granted:
            raise Unauthorized()
        if scope not in granted:
            raise Forbidden(scope)

    return check


Read = Depends(require("read"))
Route = Depends(require("route"))
Admin = Depends(require("admin"))


# -- routers -------------------------------------------------------------------------

network = APIRouter(prefix="/v1", tags=["network and stock"])


@network.put("/network", dependencies=[Admin])
def put_network(body: Network, svc: Service) -> Network:
    """Replace nodes, skus and rate bands; stock of nodes or skus that are gone is dropped."""
    return svc.put_network(body)


@network.get("/network", dependencies=[Read])
def get_network(svc: Service) -> Network:
    return svc.get_network()


@network.put("/inventory", dependencies=[Admin])
def put_inventory(body: InventoryUpdate, svc: Service) -> Inventory:
    """Set on-hand and safety stock of the listed (node, sku) pairs."""
    return svc.put_inventory(body)


@network.post("/inventory/adjustments", dependencies=[Admin])
def post_adjustments(body: Adjustments, svc: Service) -> Inventory:
    """Signed on-hand changes with a reason: all applied, or none."""
    return svc.adjust(body)


@network.get("/inventory", dependencies=[Read])
def get_inventory(
    svc: Service,
    node: Annotated[str | None, Query()] = None,
    sku: Annotated[str | None, Query()] = None,
) -> Inventory:
    return svc.inventory(node=node, sku=sku)


@network.get("/availability", dependencies=[Read])
def get_availability(
    svc: Service,
    sku: Annotated[str, Query(min_length=1)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    radius_km: Annotated[float, Query(ge=0, le=20_037.6)] = 50.0,
) -> Availability:
    """ATP of a sku by node within a radius, nearest first: "is it in a store near me?"."""
    return svc.availability(sku, lat, lon, radius_km)


orders = APIRouter(prefix="/v1", tags=["orders"])


@orders.post("/orders", status_code=201, dependencies=[Route])
def post_order(
    body: Order,
    svc: Service,
    response: Response,
    explain: Annotated[bool, Query()] = False,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> OrderAnswer:
    """Route an order against live stock and reserve what its plan takes.

    The same ``Idempotency-Key`` with the same body returns the first answer and
    reserves nothing more; with another body it is refused (409).
    """
    answer, replayed = svc.route(body, idempotency_key=idempotency_key, explain=explain)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return answer


@orders.get("/orders/{order_id}", dependencies=[Read])
def get_order(order_id: str, svc: Service) -> OrderAnswer:
    return svc.order(order_id)


@orders.post("/orders/{order_id}/cancel", dependencies=[Route])
def cancel_order(order_id: str, svc: Service) -> OrderAnswer:
    return svc.cancel(order_id)


@orders.post("/orders/{order_id}/fulfil", dependencies=[Route])
def fulfil_order(order_id: str, body: NodeRef, svc: Service) -> OrderAnswer:
    """The node shipped (or handed over) its shipment of this order."""
    return svc.fulfil(order_id, body)


@orders.post("/orders/{order_id}/reject", dependencies=[Route])
def reject_order(order_id: str, body: NodeRef, svc: Service) -> OrderAnswer:
    """The node cannot pick its shipment: release it and reroute without that node."""
    return svc.reject(order_id, body)


@orders.post("/orders/{order_id}/returns", dependencies=[Route])
def return_order(order_id: str, body: Return, svc: Service) -> OrderAnswer:
    """Units of a shipped order brought back to a node, sellable there again."""
    return svc.return_units(order_id, body)


plans = APIRouter(prefix="/v1", tags=["batch"])


@plans.post("/plans/optimize", dependencies=[Route])
def post_optimize(
    svc: Service,
    body: Annotated[dict[str, Any], Body(description="A whole problem of the routing contract")],
) -> Plan:
    """Stateless batch optimization of a whole contract problem; live stock is untouched."""
    return svc.optimize(body)


ops = APIRouter(tags=["operations"])


@ops.get("/healthz")
def healthz() -> Health:
    return Health(status="ok")


@ops.get("/readyz", responses={503: {"model": Health}})
def readyz(svc: Service) -> Response:
    ok = svc.ready()
    return JSONResponse({"status": "ok" if ok else "unavailable"}, status_code=200 if ok else 503)


@ops.get("/metrics", response_class=Response)
def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, media_type=content_type)


# -- errors, in one place -------------------------------------------------------------


def _body(error: str, message: str, errors: list[FieldError] | None = None) -> dict[str, Any]:
    return {
        "error": error,
        "message": message,
        "errors": [{"path": e.path, "message": e.message} for e in errors or []],
    }


def _errors(app: FastAPI) -> None:
    @app.exception_handler(BadInput)
    async def bad_input(_: Request, exc: BadInput) -> JSONResponse:
        return JSONResponse(_body("bad_input", str(exc), list(exc.errors)), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            loc = list(err.get("loc", ()))
            where = loc[0] if loc else ""
            path = format_path(loc[1:]) if where == "body" else format_path(loc)
            msg = "required field is missing" if err.get("type") == "missing" else err["msg"]
            errors.append(FieldError(path or str(where), msg))
        text = "\n".join(str(e) for e in errors)
        return JSONResponse(_body("bad_input", text, errors), status_code=422)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(_body(exc.code, exc.message), status_code=404)

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse(_body(exc.code, exc.message), status_code=409)

    @app.exception_handler(ServiceError)
    async def refused(_: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(_body(exc.code, exc.message), status_code=400)

    @app.exception_handler(Unauthorized)
    async def unauthorized(_: Request, __: Unauthorized) -> JSONResponse:
        return JSONResponse(
            _body("unauthorized", "send an API key as 'Authorization: Bearer <key>'"),
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(Forbidden)
    async def forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse(
            _body("forbidden", f"this key lacks the {exc.args[0]!r} scope"), status_code=403
        )

    @app.exception_handler(Exception)
    async def crashed(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(_body("internal", "internal error"), status_code=500)


# -- middleware: body size limit and request metrics ----------------------------------


class Guard:
    """Refuses bodies over ``limit`` bytes (413) and counts requests and their latency."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _too_large(send, self.limit)
            status["code"] = 413
            self._count(scope, status["code"], start)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge()
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, limited, sending)
        except _TooLarge:
            await _too_large(send, self.limit)
            status["code"] = 413
        self._count(scope, status["code"], start)

    @staticmethod
    def _count(scope: Scope, code: int, start: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        REQUESTS.labels(method, path, str(code)).inc()
        LATENCY.labels(method, path).observe(time.perf_counter() - start)


class _TooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    import json

    body = json.dumps(_body("too_large", f"request body over {limit} bytes")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


# -- the application -------------------------------------------------------------------


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service's ASGI app; settings come from ``ROUTER_*`` variables unless given."""
    settings = settings or Settings()
    keys = settings.keys()
    if not keys:
        key = secrets.token_urlsafe(24)
        keys = {key: frozenset(SCOPES)}
        log.warning("ROUTER_API_KEYS is not set: made an all-scope key for this run: %s", key)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.service = RoutingService(settings)
        try:
            yield
        finally:
            app.state.service.close()

    app = FastAPI(
        title="Omnichannel order routing",
        version="1",
        summary="Routes each order to warehouses and stores at least cost, over live stock.",
        lifespan=lifespan,
    )
    app.state.keys = keys
    app.state.settings = settings
    for router in (network, orders, plans, ops):
        app.include_router(router)
    _errors(app)
    app.add_middleware(Guard, limit=settings.max_body_bytes)
    return app
