"""The import structure: nothing imports in a circle, and nothing imports uphill.

Floors, lowest first (a package may import its own floor's lower-listed neighbours' code only if
that makes no circle, and any lower floor):
  ground    errors, logs, text, phone, timeutil, aio, bounded, settings, scopes: pure helpers,
            no room
  plumbing  db, web, ami: the engines, the HTTP frame, the AMI adapter; no room
  rooms     accounts, contacts, calllog, dialer, events, webhooks, callerid, admin, audit,
            presence, system, screenpop, asterisk: one capability each, in no circle with each other
  top       app, cli, variants (and __main__): the only ones that know every room
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "callbridge"
GROUND = {"errors", "logs", "text", "phone", "timeutil", "aio", "bounded", "settings", "scopes",
          "__init__"}
PLUMBING = {"db", "web", "ami"}
TOP = {"app", "cli", "variants", "__main__"}


def _unit(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _graph() -> dict[str, set[str]]:
    """package/module -> the callbridge packages/modules it imports (at any level of the file)."""
    edges: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        unit = _unit(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "callbridge":
                    names = [a.name for a in node.names]
                elif node.module.startswith("callbridge."):
                    names = [node.module.split(".")[1]]
            elif isinstance(node, ast.Import):
                names = [a.name.split(".")[1] for a in node.names
                         if a.name.startswith("callbridge.")]
            for name in names:
                if name != unit and name != "__version__":
                    edges.setdefault(unit, set()).add(name)
    return edges


def _floor(unit: str) -> int:
    if unit in GROUND:
        return 0
    if unit in PLUMBING:
        return 1
    if unit in TOP:
        return 3
    return 2


def test_nothing_imports_uphill():
    uphill = sorted(f"{a} -> {b}" for a, bs in _graph().items() for b in bs
                    if _floor(b) > _floor(a))
    assert uphill == []


def test_nothing_imports_in_a_circle():
    graph = _graph()
    circles = []

    def walk(unit: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(unit, ())):
            if nxt in path:
                circles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif len(path) < 12:
                walk(nxt, path + [nxt])
    for start in sorted(graph):
        walk(start, [start])
    assert sorted(set(circles)) == []


def test_every_package_has_a_floor():
    units = {_unit(p) for p in SRC.rglob("*.py")}
    rooms = units - GROUND - PLUMBING - TOP
    assert rooms == {"accounts", "contacts", "calllog", "dialer", "events", "webhooks",
                     "callerid", "admin", "audit", "presence", "system", "screenpop",
                     "asterisk"}


def test_the_app_factory_stays_short():
    """create_app keeps the shared core and the list of rooms; each room wires itself (issue 20:
    under 40 lines, docstring included)."""
    tree = ast.parse((SRC / "app.py").read_text(encoding="utf-8"))
    [factory] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "create_app"]
    assert factory.end_lineno - factory.lineno + 1 < 40
