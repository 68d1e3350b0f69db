"""`create_app`: the end-user API as a plain ASGI (FastAPI) application."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from tenantkit.selfservice._router import create_router
from tenantkit.tokens import TokenVerifier
from tenantkit.web.fastapi import TenantKit

__all__ = ["create_app"]


def create_app(verifier: TokenVerifier | TenantKit, engine: Engine, **options: Any) -> FastAPI:
    """The end-user API on the app role's `engine` (options as for `create_router`).

    Its OpenAPI document is at `/openapi.json`; mount it under a prefix of the
    app (`app.mount("/api/fe/v1", create_app(...))`) or serve it on its own.
    """
    app = FastAPI(title="tenantkit self-service API", version="1",
                  description="End users manage their own orgs; the database decides "
                  "what each may do. Authenticate with `Authorization: Bearer <access token>`.")
    app.include_router(create_router(verifier, engine, **options))
    _document_errors_only(app)
    return app


def _document_errors_only(app: FastAPI) -> None:
    """Drop FastAPI's 422 from the schema: bad input is a 400 here, with its own body."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
