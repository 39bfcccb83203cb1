"""The dxkit web service: a FastAPI app over the diagnosis pipeline.

Layout: ``settings`` (typed ``DXKIT_*`` configuration), ``app`` (the factory and the
lifespan that loads the model once), ``deps`` (shared state and every dependency),
``errors`` / ``limits`` / ``metrics`` (cross-cutting middleware and handlers) and one
``routes_*`` module per area. Names are exported lazily so importing the package loads
neither FastAPI nor a model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dxkit.service.app import create_app
    from dxkit.service.settings import ServiceSettings, load_settings

__all__ = ["ServiceSettings", "create_app", "load_settings"]

_LAZY = {
    "create_app": "dxkit.service.app",
    "ServiceSettings": "dxkit.service.settings",
    "load_settings": "dxkit.service.settings",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dxkit.service' has no attribute {name!r}")
