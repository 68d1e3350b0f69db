"""`Management`: every management service on one connection, for one actor."""

from __future__ import annotations

from tenantkit.orgs._db import Conn
from tenantkit.orgs.actor import Actor, default_actor
from tenantkit.orgs.api_keys import ApiKeys
from tenantkit.orgs.audit import AuditLog
from tenantkit.orgs.domains import Domains
from tenantkit.orgs.flags import FeatureFlags
from tenantkit.orgs.invites import Invites
from tenantkit.orgs.members import Members
from tenantkit.orgs.orgs import Orgs
from tenantkit.orgs.roles import RoleMappings
from tenantkit.orgs.settings import ProjectSettings
from tenantkit.orgs.users import Users

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
