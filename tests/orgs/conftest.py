"""Fixtures for the management service tests: service and end-user `Management`s."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import psycopg
import pytest
from sqlalchemy import Engine

from tenantkit import TenantContext, tenant_context
from tenantkit.orgs import Management

ServiceFactory = Callable[[], AbstractContextManager[Management]]
UserFactory = Callable[[str, str], AbstractContextManager[Management]]


@pytest.fixture
def service(service_engine: Engine) -> ServiceFactory:
    """`with service() as m:` a service-role Management in one committed transaction."""

    @contextmanager
    def open_() -> Iterator[Management]:
        with service_engine.begin() as conn:
            yield Management(conn)

    return open_


@pytest.fixture
def as_user(app_engine: Engine) -> UserFactory:
    """`with as_user(user_id, org_id) as m:` an end user's Management, bound to the org."""

    @contextmanager
    def open_(user_id: str, org_id: str) -> Iterator[Management]:
        with tenant_context(TenantContext(user_id, org_id)), app_engine.begin() as conn:
            yield Management(conn)

    return open_


@pytest.fixture
def unique() -> Callable[[str], str]:
    """A unique label (names, emails) per call, so tests never collide."""

    def make(stem: str) -> str:
        return f"{stem}-{uuid.uuid4().hex[:10]}"

    return make


def audit_rows(
    superuser: psycopg.Connection[tuple[object, ...]], org_id: str | None, action: str
) -> list[tuple[object, ...]]:
    """Audit rows of `org_id` with `action`, read outside RLS."""
    return superuser.execute(
        "SELECT actor_kind, actor_user_id::text, target_type, target_id, metadata "
        "FROM tenantkit.audit_log WHERE org_id IS NOT DISTINCT FROM %s AND action = %s "
        "ORDER BY audit_id",
        (org_id, action),
    ).fetchall()
