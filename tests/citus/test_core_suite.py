"""The membership-freshness tests of the core suite, on the Citus cluster.

Collected again from `tests/db/test_membership_state.py` (not copied): here the
fixtures are `tests/citus/conftest.py`'s, so `public.notes` is distributed over the
workers, the binding goes as SET LOCAL, and every change is made on the
coordinator's tables and must hold on every shard at the next transaction.
"""

from __future__ import annotations

# test_deleted_org_sees_nothing is not among them: its oracle is the notes foreign
# key's cascade, and a distributed table has no foreign key to tenantkit.orgs
# (test_schema.py's test_a_deleted_org_binds_nothing_on_any_shard covers it).
from tests.db.test_membership_state import (
    test_disabled_or_locked_user_sees_nothing,
    test_inactive_membership_sees_nothing,
    test_removed_membership_sees_nothing_next_transaction,
    test_role_downgrade_is_immediate,
)

__all__ = [
    "test_disabled_or_locked_user_sees_nothing",
    "test_inactive_membership_sees_nothing",
    "test_removed_membership_sees_nothing_next_transaction",
    "test_role_downgrade_is_immediate",
]
