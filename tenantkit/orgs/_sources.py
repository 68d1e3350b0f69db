"""Where a session reads users, orgs and invites from: the tables, or the bound org's functions.

The service role reads the tables. The app role (an end user's session) may
not name most of their columns: an index that is not led by org_id (users by
email, orgs by domain, invites by creation time) lets `EXPLAIN ANALYZE` tell
whether a value exists in another org, because the index finds the row before
the policy removes it. End users read the bound org's rows through SECURITY
DEFINER functions instead (`tenantkit.current_org()`, `current_org_users()`,
`current_org_invites()`), whose inner plans `EXPLAIN` never shows.

Each source has the table's name, column names and types, so one query serves
both kinds of session.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import FromClause, Table, column, func, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.sql.functions import Function

from tenantkit.orgs._actor import Actor
from tenantkit.schema import invites, orgs, users

__all__ = ["from_function", "invites_source", "orgs_source", "users_source"]


def from_function(table: Table, call: Function[Any], name: str | None = None) -> FromClause:
    """`call` (a set-returning function) in FROM, with `table`'s columns and types.

    The token hash is never among them: no function returns it.
    """
    columns = [column(c.name, c.type) for c in table.c if c.name != "token_hash"]
    return call.table_valued(*columns).alias(name or table.name)


def users_source(
    actor: Actor, *, user_ids: Sequence[str] | None = None, name: str | None = None
) -> FromClause:
    """`tenantkit.users`, or for an end user the bound org's members (only `user_ids`, if given).

    `user_ids` only narrows what an end user's function reads; on the table,
    filter as usual.
    """
    if not actor.is_end_user:
        return users if name is None else users.alias(name)
    ids = literal(list(user_ids) if user_ids is not None else None,
                  ARRAY(PG_UUID(as_uuid=False)))
    return from_function(users, func.tenantkit.current_org_users(ids), name)


def orgs_source(actor: Actor) -> FromClause:
    """`tenantkit.orgs`, or for an end user the bound org (one row, or none)."""
    if not actor.is_end_user:
        return orgs
    return from_function(orgs, func.tenantkit.current_org())


def invites_source(actor: Actor) -> FromClause:
    """`tenantkit.invites`, or for an end user the bound org's pending invites.

    Select named columns: the table has the token hash, no source returns it.
    """
    if not actor.is_end_user:
        return invites
    return from_function(invites, func.tenantkit.current_org_invites())

