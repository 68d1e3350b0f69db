"""The exception tree. Each class maps to exactly one HTTP status.

Callers catch `TenantkitError` or the exact case. Messages are stable strings a
client may show; they never contain a token, a secret or another tenant's data.
"""

from __future__ import annotations

__all__ = [
    "ApiKeyRefused",
    "BindingError",
    "Conflict",
    "ConstraintViolation",
    "ContextSwitchInTransaction",
    "FeatureDisabled",
    "Forbidden",
    "InvalidField",
    "InvalidTenantContext",
    "LimitReached",
    "MissingReference",
    "MissingTenantContext",
    "NotFound",
    "NotInTransaction",
    "RateLimited",
    "StartupCheckFailed",
    "TenantkitError",
    "Unauthorized",
    "UnsafeConnection",
]


class TenantkitError(Exception):
    """Base class of every error tenantkit raises on purpose."""

    status_code: int = 500
    #: A short machine-readable code, stable across releases.
    code: str = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        """The JSON body an HTTP layer sends for this error."""
        return {"error": self.code, "message": self.message}


# --- binding: programming or deployment errors, never the end user's fault ----


class BindingError(TenantkitError):
    """Identity could not be bound to the transaction safely."""

    code = "binding_error"


class MissingTenantContext(BindingError):
    """A strict engine ran a transaction with no `TenantContext` bound."""

    code = "missing_tenant_context"


class InvalidTenantContext(BindingError, ValueError):
    """A user or org id is not a well-formed UUID; refused before any round trip."""

    status_code = 400
    code = "invalid_tenant_context"


class ContextSwitchInTransaction(BindingError):
    """The bound context changed while a transaction was open."""

    code = "context_switch_in_transaction"


class NotInTransaction(BindingError):
    """A context was bound on an autocommit connection, where it cannot apply."""

    code = "not_in_transaction"


class UnsafeConnection(BindingError):
    """The connection's role could bypass row-level security."""

    code = "unsafe_connection"


class StartupCheckFailed(TenantkitError):
    """The app's database is not safe or not ready to serve: its start is refused."""

    code = "startup_check_failed"


# --- request-level errors: the HTTP layers map these one-to-one ----------------


class Unauthorized(TenantkitError):
    """No valid credentials: a missing, malformed, expired or forged token or key."""

    status_code = 401
    code = "unauthorized"


class Forbidden(TenantkitError):
    """Valid credentials, but not allowed: not a member, or lacking a role/permission."""

    status_code = 403
    code = "forbidden"


class ApiKeyRefused(Forbidden):
    """An org API key authenticated, but the check needs a user (a role, 2FA, "who am I")."""

    code = "api_key_refused"


class NotFound(TenantkitError):
    """The object does not exist, or is not visible to the caller."""

    status_code = 404
    code = "not_found"


class Conflict(TenantkitError):
    """The change conflicts with existing state (a duplicate, a stale invite)."""

    status_code = 409
    code = "conflict"


class ConstraintViolation(Conflict):
    """A write broke a unique or foreign-key constraint (SQLSTATE 23505 / 23503), named."""

    code = "constraint_violation"

    def __init__(self, message: str, *, constraint: str | None) -> None:
        super().__init__(message)
        self.constraint = constraint

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "constraint": self.constraint}


class MissingReference(NotFound):
    """A write named a row that does not exist, or is not visible (SQLSTATE 23503)."""

    code = "missing_reference"

    def __init__(self, message: str, *, constraint: str | None) -> None:
        super().__init__(message)
        self.constraint = constraint

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "constraint": self.constraint}


class LimitReached(Conflict):
    """A configured limit (max users, orgs per user) would be exceeded."""

    code = "limit_reached"


class InvalidField(TenantkitError, ValueError):
    """Bad input; `fields` names each offending field with a reason."""

    status_code = 400
    code = "invalid_field"

    def __init__(self, fields: dict[str, str] | str, reason: str | None = None) -> None:
        if isinstance(fields, str):
            fields = {fields: reason or "invalid"}
        self.fields = dict(fields)
        detail = "; ".join(f"{name}: {why}" for name, why in self.fields.items())
        super().__init__(f"invalid input ({detail})")

    def to_dict(self) -> dict[str, object]:
        return {"error": self.code, "message": self.message, "fields": self.fields}


class FeatureDisabled(TenantkitError):
    """The feature is turned off for this project or org."""

    status_code = 426
    code = "feature_disabled"


class RateLimited(TenantkitError):
    """Too many requests for this credential; retry later."""

    status_code = 429
    code = "rate_limited"
