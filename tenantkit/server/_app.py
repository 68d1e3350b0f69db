"""`create_app`: the PropelAuth-compatible backend API as a FastAPI application."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from tenantkit.server._auth import IntegrationKeys
from tenantkit.server._deps import ServerState
from tenantkit.server._errors import install_error_handlers
from tenantkit.server._idempotency import IdempotencyKeys
from tenantkit.server._ratelimit import RateLimit, RateLimiter
from tenantkit.server.guard import DEFAULT_MAX_BODY_BYTES, RequestGuard, check_max_body_bytes
from tenantkit.server.routes import events, extensions, invites, orgs, tokens, users
from tenantkit.tokens import TokenIssuer

__all__ = ["create_app"]


def create_app(
    engine: Engine,
    *,
    issuer: TokenIssuer | None = None,
    rate_limit: RateLimit | None = None,
    key_cache_seconds: float = 5.0,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    dns_resolver: Any = None,
) -> FastAPI:
    """The backend API on `engine`, which must connect as the service role.

    issuer: signs `POST /api/backend/v1/access_token` and publishes its key at the
    token verification metadata paths; without it those answer 426.
    rate_limit: per integration key; None (the default) turns limiting off.
    max_body_bytes: larger request bodies are refused with 413 (default 1 MiB),
    counted as they arrive; see `tenantkit.server.guard` for every check made
    before a handler runs (hostile strings are 400, a hostile Authorization 401).
    dns_resolver: a `dns.resolver.Resolver` for domain verification (default: the system's).
    """
    app = FastAPI(
        title="tenantkit backend API",
        version="1",
        description="PropelAuth-compatible organization management, served from your "
        "own PostgreSQL. Authenticate with `Authorization: Bearer <integration API key>`.",
    )
    app.state.tenantkit = ServerState(
        engine=engine,
        keys=IntegrationKeys(engine, cache_seconds=key_cache_seconds),
        limiter=RateLimiter(rate_limit) if rate_limit is not None else None,
        issuer=issuer,
        dns_resolver=dns_resolver,
    )
    install_error_handlers(app)
    # Inside the guard (added first, so it runs second): the body it reads is bounded.
    app.add_middleware(IdempotencyKeys)
    app.add_middleware(RequestGuard, max_body_bytes=check_max_body_bytes(max_body_bytes))
    for module in (orgs, users, invites, tokens, extensions, events):
        app.include_router(module.router)
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
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
