"""Per-request plumbing: the caller's integration key, rate limit, and a transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from tenantkit.orgs import Actor, Management
from tenantkit.server._auth import IntegrationKeys
from tenantkit.server._ratelimit import RateLimiter
from tenantkit.tokens import TokenIssuer

__all__ = ["Api", "ApiDep", "ServerState"]

# Documents the scheme in OpenAPI only: the header itself goes to IntegrationKeys,
# which parses it with tenantkit's one bearer parser.
_bearer = HTTPBearer(auto_error=False, description="An integration API key")


@dataclass
class ServerState:
    """What every request needs, built once by `create_app`."""

    engine: Engine
    keys: IntegrationKeys
    limiter: RateLimiter | None
    issuer: TokenIssuer | None
    #: A `dns.resolver.Resolver` for domain verification (None: the system's).
    dns_resolver: Any = None


class Api:
    """An authenticated request: its actor, and one transaction per unit of work."""

    def __init__(self, state: ServerState, actor: Actor) -> None:
        self.state = state
        self.actor = actor

    @contextmanager
    def management(self) -> Iterator[Management]:
        """A `Management` in a transaction that commits on success and rolls back on error."""
        with self.state.engine.begin() as conn:
            yield Management(conn, self.actor)


def _api(
    request: Request,
    _documented: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Api:
    state: ServerState = request.app.state.tenantkit
    # One Authorization header at most: RequestGuard refused a repeated one.
    actor = state.keys.actor(request.headers.get("authorization"))
    if state.limiter is not None:
        state.limiter.check(actor.api_key_id or "")
    return Api(state, actor)


ApiDep = Annotated[Api, Depends(_api)]
