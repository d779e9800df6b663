"""Each package's ``__all__`` names things that exist and are public."""

from __future__ import annotations

import importlib
import pkgutil
from importlib import metadata
from types import ModuleType

import pytest


def _modules() -> list[str]:
    """Every module of the package but the migrations and ``__main__``: each declares
    ``__all__``, so a new module is checked without being listed here."""
    import leadcast

    found = ["leadcast"]
    for info in pkgutil.walk_packages(leadcast.__path__, "leadcast."):
        if ".migrations" not in info.name and not info.name.endswith(".__main__"):
            found.append(info.name)
    return sorted(found)


MODULES = _modules()


def load(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_a_list_of_unique_strings(name: str) -> None:
    exported = load(name).__all__
    assert isinstance(exported, list | tuple)
    assert all(isinstance(item, str) for item in exported)
    assert len(set(exported)) == len(exported)
    assert exported, f"{name}.__all__ is empty"


@pytest.mark.parametrize("name", MODULES)
def test_every_exported_name_exists(name: str) -> None:
    module = load(name)
    missing = [item for item in module.__all__ if not hasattr(module, item)]
    assert missing == []


@pytest.mark.parametrize("name", MODULES)
def test_every_exported_name_is_public(name: str) -> None:
    private = [
        item for item in load(name).__all__ if item.startswith("_") and item != "__version__"
    ]
    assert private == []


@pytest.mark.parametrize(
    "package", ["leadcast.protocol", "leadcast.websocket", "leadcast.realtime"]
)
def test_package_exports_are_the_submodules_objects(package: str) -> None:
    # A re-export is the very object its defining module has, not a copy.
    module = load(package)
    for item in module.__all__:
        value = getattr(module, item)
        origin = getattr(value, "__module__", None)
        if origin is not None and origin.startswith(package + "."):
            assert getattr(load(origin), item) is value, f"{package}.{item}"


def test_version_matches_the_installed_distribution() -> None:
    import leadcast

    assert leadcast.__version__ == metadata.version("leadcast")
