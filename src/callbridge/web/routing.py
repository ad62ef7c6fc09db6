"""A route table whose entries carry their pydantic models, so the OpenAPI document is generated
from the same models that parse requests and serialize responses: one source for both.

Handlers only parse, call a service and serialize; ``parse_body`` and ``json_ok`` are the two
helpers they use for that.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from callbridge.errors import InvalidInput
from callbridge.logs import event
from callbridge.scopes import ANY_ACCOUNT_KEY, Scope

log = logging.getLogger("callbridge.http")
# Headers the middleware has for the response before the handler runs (the rate limit's): a
# streamed response sends its headers before the middleware sees it, so it takes them from here.
PRE_HEADERS = web.RequestKey("pre_headers", dict)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    response: Any = None
    public: bool = False
    errors: tuple[int, ...] = ()
    query: type[BaseModel] | None = None  # the model parse_model() reads the query string with
    path_model: type[BaseModel] | None = None  # the same for typed path values
    hidden: bool = False
    admin: bool = False  # for admin keys only (and only they may call it)
    ticket: bool = False  # a browser's one-time ?ticket= (POST /events/ticket) stands for a key
    unauthorized: dict | None = None  # the dialect's body for a missing or invalid key
    scope: str | None = None  # what a key needs to call it (callbridge.scopes); None: public

    @property
    def auth(self) -> "Auth":
        return Auth(self.public, self.admin, self.ticket, self.unauthorized, self.scope)


@dataclass(frozen=True)
class Auth:
    """How a route is authenticated, as its declaration says; the middleware reads it through
    ROUTE_AUTH (mounted routes -> their Auth)."""
    public: bool = False  # no key at all
    admin: bool = False
    ticket: bool = False
    unauthorized: dict | None = None
    scope: str | None = ANY_ACCOUNT_KEY


ROUTE_AUTH = web.AppKey("route_auth", dict)


class RouteTable:
    def __init__(self, tag: str, unauthorized: dict | None = None, admin: bool = False):
        """unauthorized: the body a dialect answers a missing or invalid key with (status 401),
        when its document says so; else the WebFones answers (401 / 403). admin: every route
        of the table is for admin keys only."""
        self.admin = admin
        self.tag = tag
        self.unauthorized = unauthorized
        self.endpoints: list[Endpoint] = []

    def route(self, method: str, path: str, *, summary: str, scope: str | None = None,
              body=None, response=None, public: bool = False, errors: tuple[int, ...] = (),
              query: type[BaseModel] | None = None, path_model: type[BaseModel] | None = None,
              hidden: bool = False, ticket: bool = False):
        """scope: what a key needs to call the route (callbridge.scopes.Scope, or
        ANY_ACCOUNT_KEY); every route with a key declares one (an admin table's routes need
        "admin"), public ones none. ticket: a browser may authenticate with a one-time ?ticket=
        instead of a key (the ticket grants only this route's scope)."""
        if self.admin:
            scope = scope or Scope.ADMIN.value
        if public != (scope is None):
            raise TypeError(f"{method} {path}: a route with a key declares the scope it needs;"
                            " a public one none")

        def register(handler: Handler) -> Handler:
            self.endpoints.append(Endpoint(method, path, handler, summary, self.tag, body, response,
                                           public, errors, query, path_model, hidden, self.admin,
                                           ticket, self.unauthorized,
                                           None if scope is None else str(scope)))
            return handler
        return register

    def mount(self, app: web.Application) -> None:
        if ROUTE_AUTH not in app:
            app[ROUTE_AUTH] = {}
        for ep in self.endpoints:
            app[ROUTE_AUTH][app.router.add_route(ep.method, ep.path, ep.handler)] = ep.auth


def _field_name(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "body"


def validation_error(exc: ValidationError, error: str = "Invalid request body") -> InvalidInput:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    field_name = _field_name(first["loc"])
    details = "; ".join(f"{_field_name(e['loc'])}: {e['msg']}" for e in errors[:10])
    return InvalidInput(details, field=field_name, error=error)


async def parse_body(request: web.Request, model: type[BaseModel]) -> Any:
    raw = await request.read()  # client_max_size caps this; aiohttp raises 413 past it
    if not raw.strip():
        raise InvalidInput("a JSON object body is required", field="body", error="Invalid request body")
    try:
        # pydantic parses and validates the bytes in one pass (no json.loads + dict walk)
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise InvalidInput(f"malformed JSON: {first['msg']}", field="body",
                               error="Invalid JSON") from None
        if first["type"] == "model_type" and not first["loc"]:
            raise InvalidInput("the body must be a JSON object", field="body",
                               error="Invalid request body") from None
        raise validation_error(exc) from None


def parse_model(model: type[BaseModel], data: dict, where: str = "query") -> Any:
    """Validate query ("query") or path ("path") values through a model: 400 naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, error=f"Invalid {where} parameter") from None


_adapters: dict[Any, TypeAdapter] = {}


def dump_json(data: Any, as_type: Any = None) -> bytes:
    """Serialize models, lists of models or plain data in one call into pydantic's Rust encoder."""
    if isinstance(data, BaseModel):
        return data.__pydantic_serializer__.to_json(data, exclude_none=False)
    key = as_type if as_type is not None else Any
    adapter = _adapters.get(key)
    if adapter is None:
        adapter = _adapters[key] = TypeAdapter(key)
    return adapter.dump_json(data)


def json_ok(data: Any, status: int = 200, as_type: Any = None, headers=None) -> web.Response:
    return web.Response(body=dump_json(data, as_type), status=status,
                        content_type="application/json", headers=headers)


async def stream_json(request: web.Request, parts: AsyncIterator[bytes],
                      next_link: str | None = None) -> web.StreamResponse:
    return await stream_body(request, parts, "application/json", next_link)


async def stream_body(request: web.Request, parts: AsyncIterator[bytes], content_type: str,
                      next_link: str | None = None, filename: str | None = None
                      ) -> web.StreamResponse:
    """A body written as it is produced (chunked): a whole-account read never sits in memory
    whole, and the loop serves other requests between parts. The headers (the rate limit's, a
    Link to the next page) go out first; a failure after them can only cut the body short, which
    a client notices, so it is logged and the connection dropped."""
    response = web.StreamResponse(headers=request.get(PRE_HEADERS) or {})
    response.content_type = content_type
    if filename is not None:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'

    if next_link is not None:
        response.headers["Link"] = f'<{next_link}>; rel="next"'
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        async for part in parts:
            await response.write(part)
        await response.write_eof()
    except ConnectionResetError:
        event(log, "http.client_gone_mid_stream", path=request.path)
    except Exception:
        log.exception("http.stream_failed", extra={"fields": {"path": request.path}})
        if request.transport is not None:
            request.transport.abort()
    return response


async def json_array(batches: AsyncIterator[list], as_type: Any) -> AsyncIterator[bytes]:
    """'[', the batches' items comma-separated, ']': each batch encoded in one call."""
    yield b"["
    first = True
    async for batch in batches:
        if batch:
            items = dump_json(batch, as_type)[1:-1]
            yield items if first else b"," + items
            first = False
    yield b"]"


async def json_arrays(arrays: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Encoded JSON arrays joined into one: '[', their items comma-separated, ']'."""
    yield b"["
    first = True
    async for array in arrays:
        if len(array) > 2:
            yield array[1:-1] if first else b"," + array[1:-1]
            first = False
    yield b"]"


# ---- OpenAPI ---------------------------------------------------------------------------------

# Request and response examples recorded from real calls (scripts/record_openapi_examples.py).
EXAMPLES: dict[str, dict] = json.loads(
    (Path(__file__).with_name("openapi_examples.json")).read_text())

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                   "field": {"type": "string"}},
    "required": ["error"],
}


def openapi_document(tables: list[RouteTable], title: str, version: str) -> dict:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for table in tables:
        for ep in table.endpoints:
            if ep.body is not None:
                models.append((ep.body, "validation"))
            for m in _models_in(ep.response):
                models.append((m, "serialization"))
    seen: set[tuple[type[BaseModel], JsonSchemaMode]] = set()
    unique: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for m, mode in models:
        if (m, mode) not in seen:
            seen.add((m, mode))
            unique.append((m, mode))
    refs, defs = models_json_schema(unique, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict] = {}
    for table in tables:
        for ep in table.endpoints:
            if ep.hidden:
                continue
            op: dict[str, Any] = {"summary": ep.summary, "tags": [ep.tag], "responses": {}}
            # the handler's docstring is the operation's description: one text for readers of
            # the code and of /docs
            if ep.handler.__doc__:
                op["description"] = inspect.cleandoc(ep.handler.__doc__)
            typed = _parameters(ep.path_model, "path")
            params = [typed.get(n) or {"name": n, "in": "path", "required": True,
                                       "schema": {"type": "string"}}
                      for n in _path_params(ep.path)]
            params += list(_parameters(ep.query, "query").values())
            if params:
                op["parameters"] = params
            if ep.body is not None:
                op["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": refs[(ep.body, "validation")]}}}
            example = EXAMPLES.get(f"{ep.method} {ep.path}")
            ok = str(example["status"]) if example else "200"
            body_type = "application/json"
            if example is not None and isinstance(example["response"], str):
                body_type = "text/csv" if ep.path.endswith("/export") else "text/plain"
            content: dict[str, Any] = {"schema": _response_schema(ep.response, refs)
                                       if body_type == "application/json" else {"type": "string"}}
            if example is not None:
                content["example"] = example["response"]
            op["responses"][ok] = {"description": "OK" if ok == "200" else "Created",
                                   "content": {body_type: content}}
            if example is not None and example["request"] is not None:
                if "requestBody" in op:
                    op["requestBody"]["content"]["application/json"]["example"] = \
                        example["request"]
                elif isinstance(example["request"], str):  # a file: the contacts import
                    op["requestBody"] = {"required": True, "content": {
                        "text/csv": {"schema": {"type": "string"}, "example": example["request"]},
                        "text/vcard": {"schema": {"type": "string"}}}}
            # anything parsed from the request can be refused with a 400 naming the field
            codes = set(ep.errors) | ({400} if ep.body or ep.query or ep.path_model else set())
            if not ep.public:
                codes |= {401, 403, 429}
            for code in sorted(codes):
                op["responses"][str(code)] = {"description": "error", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            if not ep.public:
                # OpenAPI 3.1 lets a non-OAuth scheme list role names: the key scope it needs
                # (403 "Insufficient scope" without it); none when any account key may call it
                roles = [] if ep.scope == ANY_ACCOUNT_KEY else [ep.scope]
                op["security"] = [{"apiKey": roles}, {"bearer": roles}]
            paths.setdefault(ep.path, {})[ep.method.lower()] = op
    schemas = dict(defs.get("$defs", {}))
    schemas["Error"] = _ERROR_SCHEMA
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def _parameters(model: type[BaseModel] | None, where: str) -> dict[str, dict]:
    """OpenAPI parameters from the model that validates them: types, bounds, enums, defaults."""
    if model is None:
        return {}
    schema = model.model_json_schema()
    assert "$defs" not in schema, f"{model.__name__}: parameters must be flat"
    required = set(schema.get("required", ()))
    out = {}
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        prop.pop("title", None)
        # an optional value is simply left out of a query string: there is no null to document
        branches = [b for b in prop.get("anyOf", ()) if b.get("type") != "null"]
        if "anyOf" in prop and len(branches) == 1:
            del prop["anyOf"]
            prop.update(branches[0])
            if prop.get("default", 0) is None:
                del prop["default"]
        description = prop.pop("description", None)
        param = {"name": name, "in": where, "required": where == "path" or name in required,
                 "schema": prop}
        if description:
            param["description"] = description
        out[name] = param
    return out


def _path_params(path: str) -> list[str]:
    import re
    return re.findall(r"{(\w+)}", path)


def _models_in(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    out = []
    for arg in getattr(tp, "__args__", ()) or ():
        out += _models_in(arg)
    return out


def _response_schema(tp: Any, refs: dict) -> dict:
    if tp is None:
        return {"type": "object"}
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return refs[(tp, "serialization")]
    origin = getattr(tp, "__origin__", None)
    args: tuple = getattr(tp, "__args__", ())
    if origin is list and args:
        return {"type": "array", "items": _response_schema(args[0], refs)}
    if origin is dict and len(args) == 2:
        return {"type": "object", "additionalProperties": _response_schema(args[1], refs)}
    return TypeAdapter(tp).json_schema()
