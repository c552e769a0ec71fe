"""What app.py declares, read once: its routes (and which need no token), its scheduled jobs
(Chalice makes each its own Lambda, named as the schedule's `name`) and its CORS headers.

The one module of infrastructure/ and tools/ that imports `app`: every builder is handed this
inventory inside the stage (infrastructure/stages.py, `load`), so a new route or job cannot be
left out of the integrations, names, roles, log groups, alarms and dashboard built from it.
Importing the app builds nothing and reads no credentials (app.py composes lazily)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from chalice.utils import to_cfn_resource_name


@dataclass(frozen=True)
class Inventory:
    name: str  # the app's name (Chalice(app_name=...)), which every resource name starts with
    routes: Mapping[str, tuple[str, ...]]  # path -> its methods, as app.routes has them
    public: frozenset[tuple[str, str]]  # (path, method) of the routes without the authorizer
    jobs: Mapping[str, str]  # logical id (as Chalice's template names it) -> the function's name
    cors: Mapping[str, str]  # the Access-Control-* headers Chalice sends

    @property
    def functions(self) -> dict[str, str]:
        """Every function of the stack, logical id -> name in app.py: the API handler first."""
        return {"APIHandler": "api_handler", **self.jobs}


@functools.cache
def read() -> Inventory:
    from app import app, cors

    return Inventory(
        name=app.app_name,
        routes={path: tuple(methods) for path, methods in app.routes.items()},
        public=frozenset(
            (path, method)
            for path, methods in app.routes.items()
            for method, entry in methods.items()
            if entry.authorizer is None
        ),
        jobs={to_cfn_resource_name(source.name): source.name for source in app.event_sources},
        cors=cors.get_access_control_headers(),
    )
