"""Testing against a real PostgreSQL: the pytest plugin, servers, roles and seeds."""

from tenantkit.testing._app_migrations import alembic_migrations, upgrade_app
from tenantkit.testing._members import DEFAULT_ROLE_MAPPING, OrgMemberInfo, token_for_user
from tenantkit.testing._safety import assert_tenant_safe
from tenantkit.testing._seed import SeededOrg, TwoOrgs, seed_two_orgs
from tenantkit.testing.database import (
    TestDatabase,
    configure_signing,
    enable_signed_binding,
    provision_database,
)
from tenantkit.testing.servers import RunningServer, ServerChoice, choose_server, start_server

__all__ = [
    "DEFAULT_ROLE_MAPPING",
    "OrgMemberInfo",
    "RunningServer",
    "SeededOrg",
    "ServerChoice",
    "TestDatabase",
    "TwoOrgs",
    "alembic_migrations",
    "assert_tenant_safe",
    "choose_server",
    "configure_signing",
    "enable_signed_binding",
    "provision_database",
    "seed_two_orgs",
    "start_server",
    "token_for_user",
    "upgrade_app",
]
