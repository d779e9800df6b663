"""The sans-I/O layers import no I/O, clock, randomness or the real-time server."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PURE_PACKAGES = ("leadcast/protocol", "leadcast/websocket")
FORBIDDEN = ("asyncio", "socket", "httptools", "uvloop", "time", "random", "leadcast.realtime")
# Ways to import a module without an import statement.
DYNAMIC = ("importlib", "__import__")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, *, is_package: bool) -> set[str]:
    """Every module an import statement in ``source`` names, relative imports resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            # ``from leadcast import realtime`` imports a module too.
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Name) and node.id in DYNAMIC:
            found.add(node.id)
    return found


def forbidden(modules: set[str]) -> set[str]:
    banned = (*FORBIDDEN, *DYNAMIC)
    return {
        name for name in modules if any(name == bad or name.startswith(bad + ".") for bad in banned)
    }


def pure_files() -> list[Path]:
    return sorted(path for package in PURE_PACKAGES for path in (SRC / package).rglob("*.py"))


def test_the_pure_packages_are_found() -> None:
    names = {module_name(path) for path in pure_files()}
    assert {
        "leadcast.protocol",
        "leadcast.protocol.apps",
        "leadcast.protocol.channels",
        "leadcast.protocol.errors",
        "leadcast.protocol.messages",
        "leadcast.protocol.session",
        "leadcast.protocol.signatures",
        "leadcast.websocket",
        "leadcast.websocket.frames",
    } <= names


@pytest.mark.parametrize("path", pure_files(), ids=lambda path: module_name(path))
def test_pure_layers_import_no_io(path: Path) -> None:
    modules = imported_modules(
        path.read_text(encoding="utf-8"), module_name(path), is_package=path.name == "__init__.py"
    )
    assert forbidden(modules) == set()


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("import asyncio", {"asyncio"}),
        ("import time as clock", {"time"}),
        ("import os, socket", {"socket"}),
        ("from asyncio import events", {"asyncio", "asyncio.events"}),
        ("import asyncio.events", {"asyncio.events"}),
        ("from random import choice", {"random", "random.choice"}),
        ("import uvloop", {"uvloop"}),
        ("import httptools", {"httptools"}),
        (
            "from leadcast.realtime.node import Node",
            {"leadcast.realtime.node", "leadcast.realtime.node.Node"},
        ),
        ("from leadcast import realtime", {"leadcast.realtime"}),
        ("from ..realtime import node", {"leadcast.realtime", "leadcast.realtime.node"}),
        ("from .. import realtime", {"leadcast.realtime"}),
        ("def f():\n    import time", {"time"}),
        ("import importlib", {"importlib"}),
        ("m = __import__('socket')", {"__import__"}),
    ],
)
def test_the_check_catches_forbidden_imports(source: str, caught: set[str]) -> None:
    modules = imported_modules(source, "leadcast.protocol.session", is_package=False)
    assert forbidden(modules) == caught


@pytest.mark.parametrize(
    "source",
    [
        "import timeit",
        "import randomness",
        "from leadcast.realtimex import y",
        "from .channels import channel_type",
        "from . import apps",
        "import hashlib, hmac, json, struct",
        "from leadcast.protocol.errors import ErrorCode",
    ],
)
def test_the_check_allows_other_imports(source: str) -> None:
    modules = imported_modules(source, "leadcast.protocol.session", is_package=False)
    assert forbidden(modules) == set()


def test_relative_imports_in_a_package_init() -> None:
    modules = imported_modules("from .session import Session", "leadcast.protocol", is_package=True)
    assert "leadcast.protocol.session" in modules
