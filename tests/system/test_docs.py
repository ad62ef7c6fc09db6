"""/openapi.json is a valid OpenAPI 3.1 document, and /docs renders it in a real browser from
locally served files (nothing from another origin)."""

from __future__ import annotations

from aiohttp.test_utils import TestServer
from openapi_spec_validator import validate

from callbridge.app import create_app
from tests.browser import chromium_page
from tests.conftest import make_settings


async def test_the_openapi_document_validates_against_3_1(api):
    doc = await api.ok("GET", "/openapi.json", account=None)
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # raises with the first violation
    for path in ("/events", "/webhooks", "/admin/accounts", "/contacts/import", "/extensions"):
        assert path in doc["paths"], path


async def test_docs_page_renders_every_operation_from_local_files(tmp_path):
    server = TestServer(create_app(make_settings(tmp_path)))
    await server.start_server()
    try:
        async with chromium_page() as page:
            foreign: list[str] = []
            page.on("request", lambda r: None if r.url.startswith(str(server.make_url("/")))
                    or r.url.startswith("data:") else foreign.append(r.url))
            await page.goto(str(server.make_url("/docs")))
            await page.wait_for_selector(".opblock", timeout=15000)
            operations = await page.eval_on_selector_all(".opblock", "els => els.length")
            doc = await (await page.request.get(str(server.make_url("/openapi.json")))).json()
            expected = sum(len(ops) for ops in doc["paths"].values())
            assert operations == expected
            assert foreign == []
    finally:
        await server.close()


async def test_every_operation_is_described_with_its_error_responses(api):
    """A route without a description, or that takes input or a key without documenting how it
    can be refused, fails here (its handler's docstring is the description)."""
    doc = await api.ok("GET", "/openapi.json", account=None)
    lacking = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            if not op.get("summary") or len(op.get("description", "")) < 30:
                lacking.append(f"{where}: summary/description")
            takes_input = "requestBody" in op or op.get("parameters") or "security" in op
            errors = [c for c in op["responses"] if c.startswith("4")]
            if takes_input and not errors:
                lacking.append(f"{where}: error responses")
            for code in errors:
                assert op["responses"][code]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}
    assert not lacking, lacking


def test_every_operation_has_examples_that_its_models_accept():
    """Each operation's success answer (and request body) carries an example recorded from a
    real call (scripts/record_openapi_examples.py); each still parses with today's models, so
    an example can't drift from the API."""
    import json as jsonlib

    from pydantic import TypeAdapter

    from callbridge.app import ROUTE_TABLES
    from callbridge.web.routing import EXAMPLES, openapi_document
    doc = openapi_document(ROUTE_TABLES, "callbridge", "test")
    missing = []
    for table in ROUTE_TABLES:
        for ep in table.endpoints:
            if ep.hidden:
                continue
            op = doc["paths"][ep.path][ep.method.lower()]
            ok = next(c for c in op["responses"] if c.startswith("2"))
            if not any("example" in v for v in op["responses"][ok]["content"].values()):
                missing.append(f"{ep.method} {ep.path}: response")
            if "requestBody" in op and not any("example" in v for v in
                                               op["requestBody"]["content"].values()):
                missing.append(f"{ep.method} {ep.path}: request")
            example = EXAMPLES.get(f"{ep.method} {ep.path}")
            if example is None:
                continue
            if ep.body is not None:
                ep.body.model_validate_json(jsonlib.dumps(example["request"]))
            if ep.response is not None and not isinstance(example["response"], str):
                TypeAdapter(ep.response).validate_python(example["response"])
    assert not missing, missing
