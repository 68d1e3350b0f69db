"""The bound org as an explicit WHERE on tenant tables, for the planner.

The isolation policy compares the tenant column with an InitPlan's result,
which the planner cannot see when it plans: it estimates every org as an
average one. With skewed tenants (a whale among thousands of small orgs) and a
`LIMIT`, that can pick a plan that reads and sorts the whole whale. Adding
`org_id = <the bound org>` to ORM statements hands the planner the value, so
it plans as it would for the owner's own explicit WHERE.

The policy stays the guarantee: this filter only repeats what the policy
enforces, and a statement without it (Core, raw SQL, a session that opted out)
is exactly as isolated. It is the one place that knows "this statement's
tenant", so Citus routing (a distribution-column filter on every statement)
builds on `tenant_criteria` too.

On by default for ORM sessions bound to a tenantkit engine
(`tenantkit.create_engine` / `install`), while a `TenantContext` is bound.
Opt out per session with `Session(engine, info={FILTER_OPTION: False})` (or
`disable(session)`), or per statement with
`.execution_options(tenantkit_filter=False)`.

It covers the statement's top-level ORM entities (SELECT, ORM UPDATE and
DELETE) and, through `propagate_to_loaders`, their lazy and eager relationship
loads. Tables are tenant tables when declared with `tenant_table(...)`
(`Table.info["tenantkit"]` holds their `TenancySpec`).
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from sqlalchemy import Table, bindparam, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapper, ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql.elements import ColumnElement

from tenantkit.context import current_context
from tenantkit.rls import TenancySpec

__all__ = ["FILTER_OPTION", "disable", "enable_for", "tenant_criteria"]

#: Session.info key and execution option: False turns the filter off.
FILTER_OPTION: Final = "tenantkit_filter"
#: Where tenant_table() keeps the declaration (tenantkit.tables.declare.INFO_KEY).
_INFO_KEY: Final = "tenantkit"

_engines: set[int] = set()
_listening = False


def tenant_criteria(table: Table, org_id: str) -> ColumnElement[bool] | None:
    """`table.<tenant column> = org_id` for a declared tenant table, else None."""
    spec = table.info.get(_INFO_KEY)
    if not isinstance(spec, TenancySpec):
        return None
    column = table.c[spec.tenant_column]
    as_uuid = getattr(column.type, "as_uuid", True)
    value: object = uuid.UUID(org_id) if as_uuid else org_id
    return column == bindparam(None, value, type_=column.type)


def disable(session: Session) -> None:
    """No tenant filter for this session's statements (the policy still applies)."""
    session.info[FILTER_OPTION] = False


def enable_for(engine: Engine) -> None:
    """Filter ORM statements of sessions bound to `engine` (called by `install`)."""
    global _listening
    _engines.add(id(engine))
    # Engines are few and live as long as the process; a disposed engine's id
    # being reused by another tenantkit engine would only add a redundant filter.
    if not _listening:
        event.listen(Session, "do_orm_execute", _add_tenant_filter)
        _listening = True


def _bound_to_tenantkit(state: ORMExecuteState) -> bool:
    bind = state.session.get_bind(**state.bind_arguments)
    engine = bind.engine if isinstance(bind, Connection) else bind
    return id(engine) in _engines


def _add_tenant_filter(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the parent statement's criteria propagate to these loads
    if state.session.info.get(FILTER_OPTION) is False:
        return
    if state.execution_options.get(FILTER_OPTION) is False:
        return
    ctx = current_context()
    if ctx is None or not _bound_to_tenantkit(state):
        return
    options: list[Any] = []
    for mapper in state.all_mappers:
        options.extend(_criteria_for(mapper, ctx.org_id))
    if options:
        state.statement = state.statement.options(*options)


def _criteria_for(mapper: Mapper[Any], org_id: str) -> list[Any]:
    table = mapper.local_table
    if not isinstance(table, Table):
        return []
    criteria = tenant_criteria(table, org_id)
    if criteria is None:
        return []
    return [
        with_loader_criteria(
            mapper.class_, criteria, include_aliases=True, propagate_to_loaders=True
        )
    ]
