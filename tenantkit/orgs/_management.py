"""`Management`: every management service on one connection, for one actor."""

from __future__ import annotations

from tenantkit.orgs._actor import Actor, default_actor
from tenantkit.orgs._api_keys import ApiKeys
from tenantkit.orgs._audit import AuditLog
from tenantkit.orgs._db import Conn
from tenantkit.orgs._flags import FeatureFlags
from tenantkit.orgs._invites import Invites
from tenantkit.orgs._members import Members
from tenantkit.orgs._orgs import Orgs
from tenantkit.orgs._roles import RoleMappings
from tenantkit.orgs._settings import ProjectSettings
from tenantkit.orgs._users import Users
from tenantkit.orgs.domains import Domains

__all__ = ["Management"]


class Management:
    """Org management on `conn`, inside the caller's transaction.

        with service_engine.begin() as conn:                  # any org
            org = Management(conn).orgs.create("Acme", max_users=10)

        with tenant_context(ctx), app_engine.begin() as conn:  # RLS decides
            Management(conn).invites.create(ctx.org_id, email=..., role="Member")

    `actor` defaults to the bound end user (a `TenantContext` is set) or the
    service. Nothing commits here: the caller's transaction is the unit of
    work, and after a typed error it must be rolled back.
    """

    def __init__(self, conn: Conn, actor: Actor | None = None) -> None:
        self.conn = conn
        self.actor = actor if actor is not None else default_actor()
        self.orgs = Orgs(conn, self.actor)
        self.users = Users(conn, self.actor)
        self.members = Members(conn, self.actor)
        self.invites = Invites(conn, self.actor)
        self.role_mappings = RoleMappings(conn, self.actor)
        self.domains = Domains(conn, self.actor)
        self.api_keys = ApiKeys(conn, self.actor)
        self.feature_flags = FeatureFlags(conn, self.actor)
        self.audit_log = AuditLog(conn, self.actor)
        self.settings = ProjectSettings(conn, self.actor)
