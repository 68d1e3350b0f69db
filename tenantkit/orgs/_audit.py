"""The audit trail: one append-only row per management change, and reading it.

A change and its audit row are one statement: the change is a data-modifying
CTE, and the audit INSERT reads what it returned. So the row exists exactly
when the change happened (an UPDATE that matched nothing logs nothing), and it
costs no extra round trip. On an end-user session the audit insert is subject
to row-level security like the change itself: actor kind 'user', actor = the
bound user, org = the bound org (a row claiming the service or an API key is
refused); both see the snapshot from before the change, so even leaving an
org or deleting it is logged as the member who did it.

`audit_id` is a project-wide counter (its gaps would count other orgs'
changes), so an end user never sees it: their entries carry `audit_id=None`,
read newest first through `tenantkit.current_org_audit_log()`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    cast,
    column,
    func,
    insert,
    literal,
    null,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.sql import ColumnCollection
from sqlalchemy.sql.dml import ReturningDelete, ReturningInsert, ReturningUpdate

from tenantkit.errors import Forbidden
from tenantkit.orgs._actor import Actor
from tenantkit.orgs._db import Conn, run, uuid_param
from tenantkit.orgs._paging import PageRequest, fetch_page
from tenantkit.orgs._validate import check_id
from tenantkit.orgs.models import AuditEntry, Page
from tenantkit.schema import audit_log

__all__ = ["AuditLog", "audited", "json_value"]

Columns: TypeAlias = ColumnCollection[str, Any]
Expr: TypeAlias = Callable[[Columns], ColumnElement[Any]]
ReturningDML: TypeAlias = ReturningInsert[Any] | ReturningUpdate[Any] | ReturningDelete[Any]

AUDIT_PERMISSION = "tenantkit::can_view_audit_log"


def json_value(value: Mapping[str, Any]) -> ColumnElement[Any]:
    """A jsonb bind parameter."""
    return cast(literal(json.dumps(value, default=str)), JSONB)


def audited(
    dml: ReturningDML,
    *,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: Expr,
    org_id: Expr | None,
    metadata: Mapping[str, Any] | None = None,
    row_metadata: Expr | None = None,
) -> Select[Any]:
    """`dml` plus one audit row per row it returns; select the returned rows."""
    changed = dml.cte("changed")
    cols = changed.c
    meta: ColumnElement[Any] = json_value({**actor.audit_metadata(), **(metadata or {})})
    if row_metadata is not None:
        meta = meta.op("||")(row_metadata(cols))
    record = insert(audit_log).from_select(
        ["org_id", "actor_kind", "actor_user_id", "action", "target_type", "target_id",
         "metadata"],
        select(
            org_id(cols) if org_id is not None else null(),
            literal(actor.kind),
            cast(literal(actor.user_id), PG_UUID) if actor.user_id else null(),
            literal(action),
            literal(target_type),
            cast(target_id(cols), audit_log.c.target_id.type),
            meta,
        ).select_from(changed),
    ).cte("audit")
    return select(changed).add_cte(record)


def row_json(*names: str) -> Expr:
    """Per-row metadata: the named returned columns as a JSON object."""

    def build(cols: Columns) -> ColumnElement[Any]:
        args: list[Any] = []
        for name in names:
            args += [literal(name), cols[name]]
        return func.jsonb_build_object(*args)

    return build


class AuditLog:
    """Reading an org's audit trail, newest first."""

    def __init__(self, conn: Conn, actor: Actor) -> None:
        self._conn = conn
        self._actor = actor

    def list(
        self, org_id: str, *, page: PageRequest | None = None, action: str | None = None
    ) -> Page[AuditEntry]:
        """Entries of `org_id`; on an end-user session needs `tenantkit::can_view_audit_log`."""
        org_id = check_id("org_id", org_id)
        page = page or PageRequest()
        if self._actor.is_end_user:
            # The policy already hides the rows; this makes "not allowed" a 403
            # instead of an empty list. The database stays the authority.
            allowed = run(
                self._conn, select(func.tenantkit.has_permission(AUDIT_PERMISSION))
            ).scalar_one()
            if not allowed:
                raise Forbidden("reading the audit log needs tenantkit::can_view_audit_log")
            return self._list_bound(org_id, page, action)
        where = [audit_log.c.org_id == org_id]
        if action is not None:
            where.append(audit_log.c.action == action)
        rows, total = fetch_page(
            self._conn,
            columns=list(audit_log.c),
            from_=audit_log,
            where=where,
            keys=[audit_log.c.audit_id],
            descending=True,
            page=page,
        )
        return Page([AuditEntry.from_row(r) for r in rows], total, page.page_number,
                    page.page_size)

    def _list_bound(self, org_id: str, page: PageRequest, action: str | None) -> Page[AuditEntry]:
        # The function pages in audit_id order; WITH ORDINALITY keeps that order.
        call = func.tenantkit.current_org_audit_log(
            uuid_param(org_id), literal(action, Text), page.offset, page.page_size)
        entries = call.table_valued(
            *(column(c.name, c.type) for c in audit_log.c if c.name != "audit_id"),
            with_ordinality="ordinality",
        ).alias("entries")
        rows = run(self._conn, select(entries).order_by(entries.c.ordinality)).all()
        total = run(self._conn, select(func.tenantkit.current_org_audit_log_total(
            uuid_param(org_id), literal(action, Text)))).scalar_one()
        return Page([AuditEntry.from_row(r) for r in rows], int(total), page.page_number,
                    page.page_size)
