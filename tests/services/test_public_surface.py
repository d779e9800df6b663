"""The new packages declare ``__all__`` with names that exist, are public and unique."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

PACKAGES = ["leadcast.db", "leadcast.services", "leadcast.relay", "leadcast.api"]


def modules() -> list[str]:
    names = ["leadcast.config", *PACKAGES]
    for package in PACKAGES:
        path = importlib.import_module(package).__path__
        names += [
            f"{package}.{m.name}" for m in pkgutil.iter_modules(path) if m.name != "migrations"
        ]
    return names


@pytest.mark.parametrize("name", modules())
def test_all_is_declared_and_true(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported and len(set(exported)) == len(exported)
    assert [item for item in exported if not hasattr(module, item)] == []
    assert [item for item in exported if item.startswith("_")] == []


@pytest.mark.parametrize("package", PACKAGES)
def test_package_exports_are_the_defining_modules_objects(package: str) -> None:
    module = importlib.import_module(package)
    for item in module.__all__:
        value = getattr(module, item)
        origin = getattr(value, "__module__", None)
        if origin is not None and origin.startswith(package + "."):
            assert getattr(importlib.import_module(origin), item) is value
