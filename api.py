"""HTTP for the routing service: request parsing, auth, status codes. Nothing else.

Every operation is one call on :class:`router.service.RoutingService`; errors become
status codes in one place (:func:`_errors`). Run with ``router serve`` or
``uvicorn api:create_app --factory``.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import (
    APIRouter,
    Body,
    Depends,
    FastAPI,
    Header,
    Query,
    Request,
    Response,
    Security,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Route as PathRoute
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
    ServiceErrorBody,
    SimulationJob,
    SimulationRequest,
)
from router.service import Conflict, NotFound, RoutingService, ServiceError, Settings
from router.service.metrics import LATENCY, REQUESTS, exposition
from router.service.rebalance import RebalancePlanAnswer, RebalanceRequest
from router.service.settings import SCOPES
from router.service.store import RetryTransaction

log = logging.getLogger("router.api")

T = TypeVar("T")


# -- dependencies --------------------------------------------------------------------


async def service(request: Request) -> RoutingService:
    """The app's service. Dependencies that do no I/O are ``async`` so that FastAPI runs
    them on the event loop instead of handing each to the thread pool."""
    svc: RoutingService = request.app.state.service
    return svc


async def quick(svc: RoutingService, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one of the per-order calls (a few milliseconds of work).

    On SQLite the writes of this process run one at a time anyway, so the call runs
    right on the event loop: no thread hand-off, no contention for the interpreter
    between threads. On PostgreSQL it goes to the thread pool, so that one worker can
    wait on several database round trips at once.
    """
    if svc.store.is_sqlite:
        return fn(*args, **kwargs)
    return await run_in_threadpool(fn, *args, **kwargs)


Service = Annotated[RoutingService, Depends(service)]


class Unauthorized(Exception):
    pass


class Forbidden(Exception):
    pass


_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`")


def require(scope: str) -> Callable[..., Awaitable[None]]:
    """A dependency that lets a request through only with a key holding ``scope``.

    Declared through FastAPI's ``HTTPBearer`` so that the OpenAPI document (and /docs)
    shows the scheme; the check itself compares against every key in constant time.
    """

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> None:
        if credentials is None or not credentials.credentials:
            raise Unauthorized()
        token = credentials.credentials.strip().encode()
        granted: frozenset[str] = frozenset()
        for key, scopes in request.app.state.keys.items():  # constant time: compare all
            if hmac.compare_digest(key.encode(), token):
                granted = scopes
        if not granted:
            raise Unauthorized()
        if scope not in granted:
            raise Forbidden(scope)

    return check


Read = Depends(require("read"))
Route = Depends(require("route"))
Admin = Depends(require("admin"))

_ERROR_TEXT = {
    401: "No API key, or an unknown one",
    403: "The API key lacks the scope this operation needs",
    404: "No such order, or no shipment of it from that node",
    409: "Clashes with the current state (or with an earlier use of the Idempotency-Key)",
    413: "Request body over the configured size",
    422: "Bad input: each offending field named by its path; nothing was changed",
    503: "Lost the race for stock too often under load; nothing was changed: retry",
}


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the error answers an operation may give (one body shape)."""
    docs: dict[int | str, dict[str, Any]] = {
        code: {"model": ServiceErrorBody, "description": _ERROR_TEXT[code]} for code in codes
    }
    if 401 in docs:
        docs[401]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return docs


# -- routers -------------------------------------------------------------------------

network = APIRouter(prefix="/v1", tags=["network and stock"], responses=refusals(401, 403))


@network.put("/network", dependencies=[Admin], responses=refusals(409, 413, 422))
def put_network(body: Network, svc: Service) -> Network:
    """Replace nodes, skus and rate bands; stock of nodes or skus that are gone is dropped."""
    return svc.put_network(body)


@network.get("/network", dependencies=[Read])
def get_network(svc: Service) -> Network:
    return svc.get_network()


@network.put("/inventory", dependencies=[Admin], responses=refusals(413, 422))
def put_inventory(body: InventoryUpdate, svc: Service) -> Inventory:
    """Set on-hand and safety stock of the listed (node, sku) pairs."""
    return svc.put_inventory(body)


@network.post("/inventory/adjustments", dependencies=[Admin], responses=refusals(413, 422))
def post_adjustments(body: Adjustments, svc: Service) -> Inventory:
    """Signed on-hand changes with a reason: all applied, or none."""
    return svc.adjust(body)


@network.get("/inventory", dependencies=[Read], responses=refusals(422))
def get_inventory(
    svc: Service,
    node: Annotated[str | None, Query()] = None,
    sku: Annotated[str | None, Query()] = None,
) -> Inventory:
    return svc.inventory(node=node, sku=sku)


@network.get("/availability", dependencies=[Read], responses=refusals(422))
def get_availability(
    svc: Service,
    sku: Annotated[str, Query(min_length=1)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    radius_km: Annotated[float, Query(ge=0, le=20_037.6)] = 50.0,
) -> Availability:
    """ATP of a sku by node within a radius, nearest first: "is it in a store near me?"."""
    return svc.availability(sku, lat, lon, radius_km)


orders = APIRouter(prefix="/v1", tags=["orders"], responses=refusals(401, 403))


@orders.post(
    "/orders",
    status_code=201,
    dependencies=[Route],
    responses={
        201: {"headers": {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}}}},
        **refusals(409, 413, 422, 503),
    },
)
async def post_order(
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
    answer, replayed = await quick(
        svc, svc.route, body, idempotency_key=idempotency_key, explain=explain
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return answer


@orders.get("/orders/{order_id}", dependencies=[Read], responses=refusals(404, 422))
async def get_order(order_id: str, svc: Service) -> OrderAnswer:
    return await quick(svc, svc.order, order_id)


@orders.post("/orders/{order_id}/cancel", dependencies=[Route], responses=refusals(404, 409, 422))
async def cancel_order(order_id: str, svc: Service) -> OrderAnswer:
    return await quick(svc, svc.cancel, order_id)


@orders.post(
    "/orders/{order_id}/fulfil", dependencies=[Route], responses=refusals(404, 409, 413, 422)
)
async def fulfil_order(order_id: str, body: NodeRef, svc: Service) -> OrderAnswer:
    """The node shipped (or handed over) its shipment of this order."""
    return await quick(svc, svc.fulfil, order_id, body)


@orders.post(
    "/orders/{order_id}/reject",
    dependencies=[Route],
    responses=refusals(404, 409, 413, 422, 503),
)
async def reject_order(order_id: str, body: NodeRef, svc: Service) -> OrderAnswer:
    """The node cannot pick its shipment: release it and reroute without that node."""
    return await quick(svc, svc.reject, order_id, body)


@orders.post("/orders/{order_id}/returns", dependencies=[Route], responses=refusals(404, 413, 422))
async def return_order(order_id: str, body: Return, svc: Service) -> OrderAnswer:
    """Units of a shipped order brought back to a node, sellable there again."""
    return await quick(svc, svc.return_units, order_id, body)


plans = APIRouter(prefix="/v1", tags=["batch"], responses=refusals(401, 403))


@plans.post("/plans/optimize", dependencies=[Route], responses=refusals(413, 422))
def post_optimize(
    svc: Service,
    body: Annotated[dict[str, Any], Body(description="A whole problem of the routing contract")],
) -> Plan:
    """Stateless batch optimization of a whole contract problem; live stock is untouched."""
    return svc.optimize(body)


@plans.post("/rebalance/plan", dependencies=[Admin], responses=refusals(413, 422))
def post_rebalance_plan(
    svc: Service, body: Annotated[RebalanceRequest | None, Body()] = None
) -> RebalancePlanAnswer:
    """Transfers between nodes that lower the expected fulfilment, lost-sales and transfer
    cost over the horizon, from live available stock and a forecast from the order history
    (a uniform prior when there is none); each transfer names the demand it protects."""
    answer: RebalancePlanAnswer = svc.rebalance_plan(body)
    return answer


simulations = APIRouter(prefix="/v1", tags=["simulations"], responses=refusals(401, 403))


@simulations.post(
    "/simulations",
    status_code=202,
    dependencies=[Route],
    responses={
        202: {"headers": {"Location": {"schema": {"type": "string"}}}},
        **refusals(409, 413, 422),
    },
)
def post_simulation(body: SimulationRequest, svc: Service, response: Response) -> SimulationJob:
    """Run a what-if simulation of inline scenario documents as a background job.

    Validated in full first (422 naming each field; no file paths: ``extends`` and
    ``network.file`` are refused; jobs are capped in size); 409 when too many jobs are
    queued. Poll ``GET`` on the ``Location``. Jobs live in this process's memory: they are
    lost on restart.
    """
    job = svc.start_simulation(body)
    response.headers["Location"] = f"/v1/simulations/{job.id}"
    return job


@simulations.get(
    "/simulations/{job_id}",
    dependencies=[Read],
    responses={
        **refusals(422),
        404: {"model": ServiceErrorBody, "description": "No such simulation job here"},
    },
)
def get_simulation(job_id: str, svc: Service) -> SimulationJob:
    """A job's state and progress; ``kpis`` (the ``kpis.json`` document) once done."""
    return svc.simulation(job_id)


ops = APIRouter(tags=["operations"])


@ops.get("/healthz")
def healthz() -> Health:
    return Health(status="ok")


@ops.get("/readyz", responses={503: {"model": Health}})
def readyz(svc: Service) -> Response:
    ok = svc.ready()
    return JSONResponse({"status": "ok" if ok else "unavailable"}, status_code=200 if ok else 503)


@ops.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, media_type=content_type)


ROUTERS = (network, orders, plans, simulations, ops)


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
            if err.get("type") == "json_invalid":  # its loc holds a character offset
                path = "body"
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

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        # Starlette's own refusals (unknown path, method not allowed), in the one body shape
        if isinstance(exc.__cause__, UnicodeDecodeError):  # FastAPI's 400 for a non-UTF-8 body
            error = FieldError("body", "JSON decode error: not UTF-8 text")
            return JSONResponse(_body("bad_input", str(error), [error]), status_code=422)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only one route's
            path = request.scope.get("path", "")
            methods = {
                m
                for router in ROUTERS
                for r in router.routes
                if isinstance(r, PathRoute) and r.methods and r.path_regex.match(path)
                for m in r.methods
            }
            headers["Allow"] = ", ".join(sorted(methods))
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            _body(code, str(exc.detail)), status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(RetryTransaction)
    async def busy(_: Request, exc: RetryTransaction) -> JSONResponse:
        return JSONResponse(
            _body("busy", f"lost the race for stock too often ({exc}); retry"),
            status_code=503,
            headers={"Retry-After": "1"},
        )

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
        repeated = _repeated_query(scope)
        if repeated:
            text = "\n".join(str(e) for e in repeated)
            await _send_error(send, 422, _body("bad_input", text, repeated))
            self._count(scope, 422, start)
            return
        seen = 0
        refused = False

        async def limited() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = True
                    raise _TooLarge()
            return message

        async def sending(message: Message) -> None:
            if refused:  # the app's answer to a body it could not read: 413 goes instead
                return
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        with suppress(_TooLarge):
            await self.app(scope, limited, sending)
        if refused:
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
    await _send_error(send, 413, _body("too_large", f"request body over {limit} bytes"))


async def _send_error(send: Send, status: int, body: dict[str, Any]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def _repeated_query(scope: Scope) -> list[FieldError]:
    """Query parameters given more than once: every parameter here takes one value, and
    silently keeping the last would hide a caller's mistake."""
    raw = scope.get("query_string", b"")
    if not raw:
        return []
    counts = Counter(k for k, _ in parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
    return [FieldError(f"query.{k}", "given more than once") for k, n in counts.items() if n > 1]


# -- the application -------------------------------------------------------------------


def _document_null_as_default(app: FastAPI) -> None:
    """Say in the OpenAPI document what the contract says: a field given as null takes
    its default (``models._base.ContractModel``), so every optional field accepts null."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        spec = app.openapi_schema
        if spec is None:
            spec = build()  # FastAPI caches it in app.openapi_schema: amended once, in place
            for model in spec.get("components", {}).get("schemas", {}).values():
                required = set(model.get("required", ()))
                props = model.get("properties", {})
                for name, prop in props.items():
                    options = prop.get("anyOf", [prop])
                    if name not in required and {"type": "null"} not in options:
                        keep = {k: prop.pop(k) for k in ("title", "default") if k in prop}
                        props[name] = {"anyOf": [prop, {"type": "null"}], **keep}
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


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
    for router in ROUTERS:
        app.include_router(router)
    _errors(app)
    _document_null_as_default(app)
    app.add_middleware(Guard, limit=settings.max_body_bytes)
    return app
