"""The tenant-table isolation and role-rule tests, on the Citus cluster.

Collected again from tests/tables (not copied), with `tests/citus/conftest.py`'s
fixtures: the fixture app's tables distributed by org over the workers
(tests/citus/tables_app.py), the app role binding `set_local`. Left out, with the
reason:

- the refuse-change trigger test and test_update_cannot_move_rows_to_another_org:
  Citus refuses triggers on distributed tables, and refuses any update of the
  distribution column itself, with its own SQLSTATE (0A000, not 42501);
- test_no_context_sees_nothing_and_writes_nothing: an insert without context and
  without org_id is refused by Citus first (22004, NULL in the distribution column);
  test_tables_on_citus.py holds both with Citus's codes, nothing written;
- COPY FROM and TRUNCATE: refused by privilege before Citus sees them, like on
  PostgreSQL, but through Citus's own code paths, whose messages differ;
- MERGE: Citus plans MERGE on distributed tables differently (tested there when
  `tenantkit distribute` lands).
"""

from __future__ import annotations

from tests.tables.test_isolation import (
    test_delete_of_other_org_touches_nothing,
    test_insert_into_other_org_is_refused,
    test_other_orgs_row_by_primary_key_cannot_be_changed,
    test_other_orgs_row_by_primary_key_is_invisible,
    test_read_shows_only_the_bound_org,
    test_tenant_column_defaults_to_the_bound_org,
    test_upsert_in_own_org_never_reaches_the_hidden_row,
    test_upsert_onto_a_hidden_row_is_refused,
)
from tests.tables.test_rules import (
    test_all_permissions_to_update_projects,
    test_custom_sql_rule_only_authors_edit_their_comments,
    test_exact_role_owner_deletes_projects_admin_does_not,
    test_member_cannot_delete_where_the_rule_says_admin,
    test_minimum_role_admin_to_create_projects,
    test_orm_session_reaches_only_the_bound_org,
    test_permission_or_authorship_to_delete_comments,
    test_the_role_is_the_one_held_in_the_bound_org,
)

__all__ = [
    "test_all_permissions_to_update_projects",
    "test_custom_sql_rule_only_authors_edit_their_comments",
    "test_delete_of_other_org_touches_nothing",
    "test_exact_role_owner_deletes_projects_admin_does_not",
    "test_insert_into_other_org_is_refused",
    "test_member_cannot_delete_where_the_rule_says_admin",
    "test_minimum_role_admin_to_create_projects",
    "test_orm_session_reaches_only_the_bound_org",
    "test_other_orgs_row_by_primary_key_cannot_be_changed",
    "test_other_orgs_row_by_primary_key_is_invisible",
    "test_permission_or_authorship_to_delete_comments",
    "test_read_shows_only_the_bound_org",
    "test_tenant_column_defaults_to_the_bound_org",
    "test_the_role_is_the_one_held_in_the_bound_org",
    "test_upsert_in_own_org_never_reaches_the_hidden_row",
    "test_upsert_onto_a_hidden_row_is_refused",
]
