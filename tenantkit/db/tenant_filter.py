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

import contextlib
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
#: The bound org travels as this execution parameter, so the criteria (and
#: the statement's cache key) are the same for every org and every request.
_PARAM: Final = "tenantkit_bound_org"
_options: dict[Mapper[Any], tuple[Any, bool] | None] = {}
_UNSEEN: Final[tuple[Any, bool]] = (None, False)
_MEMO_SIZE: Final = 512
_filtered: dict[int, tuple[Any, Any, bool]] = {}


def tenant_criteria(table: Table, org_id: str | None = None) -> ColumnElement[bool] | None:
    """`table.<tenant column> = :tenantkit_bound_org` for a declared tenant table, else None.

    With `org_id`, the parameter carries that value; without, the caller
    supplies it as the `tenantkit_bound_org` execution parameter.
    """
    spec = table.info.get(_INFO_KEY)
    if not isinstance(spec, TenancySpec):
        return None
    column = table.c[spec.tenant_column]
    if org_id is None:
        return column == bindparam(_PARAM, type_=column.type)
    return column == bindparam(_PARAM, _org_value(column.type, org_id), type_=column.type)


def _org_value(column_type: Any, org_id: str) -> object:
    return uuid.UUID(org_id) if getattr(column_type, "as_uuid", True) else org_id


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
    bind = state.session.bind
    if bind is None or state.session.binds:  # get_bind() only when it must choose
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
    if ctx is None:
        return
    parameters = state.parameters
    if parameters is not None and not isinstance(parameters, dict):
        return  # executemany: leave it to the policy
    statement = state.statement
    memo = _filtered.get(id(statement))
    if memo is not None and memo[0] is statement:
        filtered, as_uuid = memo[1], memo[2]
    else:
        options = []
        as_uuid = True
        for mapper in state.all_mappers:
            cached = _options.get(mapper, _UNSEEN)
            if cached is _UNSEEN:
                cached = _options[mapper] = _option_for(mapper)
            if cached is not None:
                options.append(cached[0])
                as_uuid = cached[1]
        filtered = statement.options(*options) if options else None
        _remember(statement, filtered, as_uuid)
    if filtered is None or not _bound_to_tenantkit(state):
        return
    state.statement = filtered
    value = _org_value(None, ctx.org_id) if as_uuid else ctx.org_id
    state.parameters = {**(parameters or {}), _PARAM: value}


def _remember(statement: Any, filtered: Any, as_uuid: bool) -> None:
    # A statement the app reuses (a module-level select) gets its filtered twin
    # once: SQLAlchemy memoises a statement's cache key on the object, so
    # handing it the same twin every time skips regenerating the key (measured:
    # about 100 us per request otherwise). Keyed by id, holding the original so
    # the id stays its own; bounded, oldest first out.
    if len(_filtered) >= _MEMO_SIZE:
        with contextlib.suppress(KeyError, RuntimeError, StopIteration):  # another thread
            del _filtered[next(iter(_filtered))]
    _filtered[id(statement)] = (statement, filtered, as_uuid)


def _option_for(mapper: Mapper[Any]) -> tuple[Any, bool] | None:
    table = mapper.local_table
    if not isinstance(table, Table):
        return None
    criteria = tenant_criteria(table)
    if criteria is None:
        return None
    spec = table.info[_INFO_KEY]
    as_uuid = bool(getattr(table.c[spec.tenant_column].type, "as_uuid", True))
    option = with_loader_criteria(
        mapper.class_, criteria, include_aliases=True, propagate_to_loaders=True
    )
    return option, as_uuid
