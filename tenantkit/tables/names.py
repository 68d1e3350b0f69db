"""Role and permission names in rules, checked against the role mappings.

`minimum_role("admin")` or `permission("docs:wrte")` is valid SQL that matches
nobody: the rule silently denies everyone. The names a policy calls
`tenantkit.has_min_role`, `has_role`, `has_permission` and
`has_all_permissions` with are read from its SQL (the generated text or
PostgreSQL's deparse of it) and compared with `tenantkit.roles`, so the Alembic
ops, doctor and `assert_tenant_safe` refuse an unknown one and name the known ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection, text

from tenantkit.sqlfiles import load_sql

__all__ = ["KnownNames", "UnknownRuleName", "check_names", "known_names", "referenced_names",
           "unknown_names"]

_CALL: Final = re.compile(
    r"""tenantkit\s*\.\s*"?has_(min_role|role|permission|all_permissions)"?\s*\(\s*"""
    r"""(ARRAY\s*\[[^\]]*\]|'(?:[^']|'')*')""",
    re.IGNORECASE,
)
_LITERAL: Final = re.compile(r"'((?:[^']|'')*)'")


@dataclass(frozen=True)
class KnownNames:
    """The roles and permissions of every role mapping."""

    roles: frozenset[str]
    permissions: frozenset[str]


class UnknownRuleName(ValueError):
    """A rule names a role or permission that no role mapping has."""


def referenced_names(sql: str | None) -> tuple[set[str], set[str]]:
    """(roles, permissions) named by tenantkit's function calls in `sql`."""
    roles: set[str] = set()
    permissions: set[str] = set()
    for function, argument in _CALL.findall(sql or ""):
        names = {m.replace("''", "'") for m in _LITERAL.findall(argument)}
        (roles if function.lower().endswith("role") else permissions).update(names)
    return roles, permissions


def known_names(conn: Connection) -> KnownNames:
    """The names `tenantkit.roles` holds (every mapping), read on `conn`."""
    row = conn.execute(text(load_sql("catalog/role_names.sql"))).one()
    return KnownNames(frozenset(row.roles), frozenset(row.permissions))


def unknown_names(sqls: Iterable[str | None], known: KnownNames) -> list[str]:
    """One sentence per unknown name in `sqls`, naming the known ones; empty if none."""
    roles: set[str] = set()
    permissions: set[str] = set()
    for sql in sqls:
        found_roles, found_permissions = referenced_names(sql)
        roles |= found_roles
        permissions |= found_permissions
    problems = [
        f"role {name!r} is in no role mapping (known roles: {_listing(known.roles)})"
        for name in sorted(roles - known.roles)
    ]
    problems += [
        f"permission {name!r} is granted by no role (known permissions: "
        f"{_listing(known.permissions)})"
        for name in sorted(permissions - known.permissions)
    ]
    return problems


def check_names(where: str, sqls: Iterable[str | None], known: KnownNames) -> None:
    """Raise `UnknownRuleName` if `sqls` (the policy `where`) name an unknown role or permission."""
    problems = unknown_names(sqls, known)
    if problems:
        raise UnknownRuleName(f"{where}: " + "; ".join(problems))


def _listing(names: Iterable[str]) -> str:
    ordered = sorted(names)
    return ", ".join(ordered) if ordered else "none"
