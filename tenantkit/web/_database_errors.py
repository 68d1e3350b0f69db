"""What a database error a handler let through means to the client, and to the log.

`init_app` (FastAPI and Flask) answers:

- 23505 unique_violation: 409 naming the constraint (never the key's values);
- 23503 foreign_key_violation: 404 when the referenced row does not exist (or is
  another org's: a tenant-scoped key fails the same way), 409 when the row is
  still referenced;
- 42501 insufficient_privilege from a policy or tenantkit's trigger: 403, logged
  with the policy and table PostgreSQL names;
- 42501 "permission denied for ...": a missing GRANT, which is the deployment's
  fault, not the user's: 500, logged as such;
- anything else: 500, logged with the SQLSTATE.

Each is a response, so the client always gets a body and its connection stays
usable. Messages to the client never carry the database's detail text.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from sqlalchemy.exc import DBAPIError

from tenantkit.errors import (
    ConstraintViolation,
    Forbidden,
    MissingReference,
    TenantkitError,
)

__all__ = ["LOGGER", "error_for"]

LOGGER: Final = logging.getLogger("tenantkit.web")

_UNIQUE: Final = "23505"
_FOREIGN_KEY: Final = "23503"
_PRIVILEGE: Final = "42501"


def _diag(orig: Any, name: str) -> str | None:
    diag = getattr(orig, "diag", None)
    value = getattr(diag, name, None) if diag is not None else None
    return str(value) if value else None


def error_for(exc: DBAPIError) -> TenantkitError:
    """The error to answer for `exc`, after logging what the operator needs to know."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    constraint = _diag(orig, "constraint_name")
    table = _diag(orig, "table_name")
    primary = _diag(orig, "message_primary") or str(orig).splitlines()[0]
    named = f" ({constraint})" if constraint else ""
    if sqlstate == _UNIQUE:
        LOGGER.info("tenantkit: unique violation on %s%s: 409", table, named)
        return ConstraintViolation(
            f"a row with the same key already exists{named}", constraint=constraint
        )
    if sqlstate == _FOREIGN_KEY:
        if primary.startswith("update or delete on table"):
            LOGGER.info("tenantkit: %s: 409", primary)
            return ConstraintViolation(
                f"the row is still referenced{named}", constraint=constraint
            )
        LOGGER.info("tenantkit: foreign key violation on %s%s: 404", table, named)
        return MissingReference(
            f"a referenced row does not exist{named}", constraint=constraint
        )
    if sqlstate == _PRIVILEGE:
        if primary.startswith("permission denied"):
            LOGGER.error(
                "tenantkit: the database role lacks a privilege (%s): a missing GRANT, "
                "not a tenant refusal; grant it to the role that serves requests (500)",
                primary,
            )
            return TenantkitError("internal error")
        LOGGER.warning("tenantkit: the database refused the write: %s (403)", primary)
        return Forbidden("the database refused this operation")
    LOGGER.error("tenantkit: database error SQLSTATE %s: %s (500)", sqlstate, primary)
    return TenantkitError("internal error")
