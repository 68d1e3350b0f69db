"""Running management statements and turning database refusals into typed errors.

Integrity lives in PostgreSQL (triggers, constraints, row-level security), so
most "no" answers arrive as SQLSTATEs. They are translated here, in one place,
into the exception tree of `tenantkit.errors`. A translated error leaves the
transaction aborted: the caller rolls back, as for any failed unit of work.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, TypeAlias

import psycopg
from sqlalchemy import BindParameter, Connection, CursorResult, Executable, literal
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tenantkit.errors import (
    Conflict,
    FeatureDisabled,
    Forbidden,
    InvalidField,
    LimitReached,
    NotFound,
    TenantkitError,
)

__all__ = ["Conn", "like_pattern", "missing_or_refused", "run", "translate", "uuid_param"]

#: What the service runs on: a Core connection or an ORM session, sync. For
#: async code, `await conn.run_sync(lambda c: Management(c).orgs.fetch(...))`.
Conn: TypeAlias = Connection | Session

# Unique constraints and indexes -> the input field they are about.
_UNIQUE_FIELDS: Final[dict[str, str]] = {
    "orgs_legacy_org_id_key": "legacy_org_id",
    "orgs_external_id_key": "external_id",
    "users_email_per_scope": "email",
    "users_username_per_scope": "username",
    "users_legacy_user_id_key": "legacy_user_id",
    "invites_one_pending": "email",
    "memberships_pkey": "user_id",
    "role_mappings_name_key": "custom_role_mapping_name",
    "roles_pkey": "roles",
    "roles_mapping_id_rank_key": "roles",
    "orgs_pkey": "org_id",
    "users_pkey": "user_id",
}
_UNIQUE_MESSAGES: Final[dict[str, str]] = {
    "memberships_pkey": "the user is already a member of this org",
    "invites_one_pending": "a pending invite for this email already exists in this org",
    "users_email_per_scope": "a user with this email already exists",
    "users_username_per_scope": "a user with this username already exists",
}
# Foreign keys whose target is an input the caller named (else: a missing object).
_FK_FIELDS: Final[dict[str, str]] = {
    "orgs_custom_role_mapping_name_fkey": "custom_role_mapping_name",
}
_CHECK_RE: Final = re.compile(
    r"^(?:orgs|users|invites|api_keys|feature_flags|roles|role_mappings|settings)_(.+)_check$"
)
_CHECK_FIELDS: Final[dict[str, str]] = {
    "orgs_check": "domain", "api_keys_check": "kind", "invites_check": "expires_at",
}


def run(
    conn: Conn, statement: Executable, params: Mapping[str, Any] | None = None
) -> CursorResult[Any]:
    """Execute `statement`, raising typed errors for database refusals."""
    try:
        if params is None:
            return conn.execute(statement)  # type: ignore[return-value]
        return conn.execute(statement, params)  # type: ignore[return-value]
    except DBAPIError as exc:
        translated = translate(exc)
        if translated is None:
            raise
        raise translated from exc
    except UnicodeEncodeError as exc:  # a lone surrogate cannot reach the server as UTF-8
        raise InvalidField("value", "is not valid Unicode text") from exc


def translate(exc: DBAPIError) -> TenantkitError | None:
    """The typed error for a database refusal, or None for a genuine failure."""
    orig = exc.orig
    state: str | None = getattr(orig, "sqlstate", None)
    if state is None:
        # psycopg refuses some values before sending them (a NUL in text).
        if isinstance(orig, psycopg.DataError):
            return InvalidField("value", str(orig))
        return None
    diag = getattr(orig, "diag", None)
    message: str = (getattr(diag, "message_primary", None) or str(orig)).strip()
    column: str | None = getattr(diag, "column_name", None)
    constraint: str | None = getattr(diag, "constraint_name", None)

    if state in ("TK001", "TK004"):
        return LimitReached(message)
    if state == "TK002":
        return Forbidden(message)
    if state in ("TK003", "TK006", "TK007", "TK011"):  # TK011: an org id is never reused
        return Conflict(message)
    if state == "TK005":
        return InvalidField(column or "role", message)
    if state == "TK008":
        return FeatureDisabled(message)
    if state == "TK009":
        return Forbidden(message)
    if state == "TK010":  # beyond settings.max_invite_expiry
        return InvalidField("expires_in", message)
    if state == "P0002":
        return NotFound(message)
    if state == "23505":
        field = _UNIQUE_FIELDS.get(constraint or "")
        text = _UNIQUE_MESSAGES.get(constraint or "", f"{field or 'value'} already exists")
        return Conflict(text)
    if state == "23503":
        if constraint in _FK_FIELDS:
            return InvalidField(_FK_FIELDS[constraint], "does not exist")
        return NotFound("a referenced org or user does not exist")
    if state == "23514":
        match = _CHECK_RE.match(constraint or "")
        field = match.group(1) if match else _CHECK_FIELDS.get(constraint or "", "value")
        return InvalidField(field, "not allowed: " + message)
    if state == "23502":
        return InvalidField(column or "value", "is required")
    if state in ("22P02", "22P05", "22023", "22001", "22003", "22007", "22008", "22021"):
        return InvalidField(column or "value", message)
    if state == "42501":
        return Forbidden(_forbidden_message(message))
    if state in ("40001", "40P01", "55P03"):
        return Conflict("a concurrent change got in the way; retry")
    return None


def _forbidden_message(message: str) -> str:
    # Row-level security names the table; say it in the caller's terms.
    if "row-level security" in message or "permission denied" in message:
        return f"the database refused this change for the current user ({message})"
    return message



def missing_or_refused(conn: Conn, visible: Executable, what: str) -> TenantkitError:
    """After a write matched no row: Forbidden if the caller can see it, else NotFound.

    Row-level security filters UPDATE and DELETE silently; whether the row is
    visible tells "you may not change it" from "it does not exist (for you)".
    """
    if run(conn, visible).first() is not None:
        return Forbidden(f"the database refused this change to the {what} for the current user")
    return NotFound(f"{what} not found")


def like_pattern(text: str) -> str:
    """`%text%` for ILIKE, with the pattern characters in `text` escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def uuid_param(value: str | None) -> BindParameter[str]:
    """A bind parameter typed uuid, for function arguments (varchar would not resolve)."""
    return literal(value, PG_UUID(as_uuid=False))
