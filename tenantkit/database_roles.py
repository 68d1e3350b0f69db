"""`DatabaseRoles`: the app and service roles tenantkit's schema grants to.

The owner is whoever runs the migrations (see the README's "Database roles").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DatabaseRoles"]

# Role names are spliced into DDL (GRANT ... TO, CREATE POLICY ... TO), so only
# plain lower-case identifiers are accepted; they never need quoting tricks.
_ROLE_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class DatabaseRoles:
    """The two roles tenantkit's schema grants to (the owner is whoever migrates).

    app: serves end-user requests (LOGIN, NOSUPERUSER, NOBYPASSRLS, not the owner).
    service: cross-tenant backend work (org management on any org).
    """

    app: str = "tenantkit_app"
    service: str = "tenantkit_service"

    def __post_init__(self) -> None:
        for field, name in (("app", self.app), ("service", self.service)):
            if not _ROLE_RE.fullmatch(name):
                raise ValueError(
                    f"{field} role {name!r} must be a lower-case identifier "
                    "(letters, digits, underscore; at most 63 characters)"
                )
        if self.app == self.service:
            raise ValueError("the app and service roles must differ")
