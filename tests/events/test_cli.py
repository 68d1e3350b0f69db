"""`tenantkit events ...`: endpoints, status and replay from the command line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tenantkit.cli import main
from tenantkit.events._secretbox import SecretBox
from tenantkit.testing import TestDatabase


@pytest.fixture
def cli(events_db: TestDatabase, events_key: str) -> CliRunner:
    url = events_db.url("service").render_as_string(hide_password=False)
    return CliRunner(env={"TENANTKIT_SERVICE_DATABASE_URL": url,
                          "TENANTKIT_EVENTS_KEY": events_key})


def test_endpoint_commands(cli: CliRunner) -> None:
    created = cli.invoke(main, ["events", "endpoints", "create", "--url",
                                "https://billing.example.com/hooks",
                                "--event-type", "org.created", "--event-type", "org.deleted"])
    assert created.exit_code == 0, created.output
    lines = dict(line.split(":", 1) for line in created.stdout.splitlines())
    endpoint_id, secret = lines["endpoint"].strip(), lines["secret"].strip()
    assert secret.startswith("whsec_")

    listed = cli.invoke(main, ["events", "endpoints", "list", "--json"])
    assert listed.exit_code == 0 and secret not in listed.output
    [endpoint] = json.loads(listed.stdout)
    assert (endpoint["endpoint_id"], endpoint["event_types"]) == (
        endpoint_id, ["org.created", "org.deleted"])

    status = cli.invoke(main, ["events", "status", "--json"])
    assert status.exit_code == 0
    [row] = json.loads(status.stdout)
    assert (row["state"], row["pending_events"], row["dead_letters"]) == ("ok", 0, 0)
    table = cli.invoke(main, ["events", "status"])
    assert endpoint_id in table.output and "LAST ERROR" in table.output

    for args in (["endpoints", "update", endpoint_id, "--disable", "--all-event-types"],
                 ["endpoints", "rotate-secret", endpoint_id, "--overlap-hours", "1"],
                 ["replay", endpoint_id]):
        result = cli.invoke(main, ["events", *args])
        assert result.exit_code == 0, result.output
    assert "0 event(s) queued" in result.output

    refused = cli.invoke(main, ["events", "replay", endpoint_id, "--from-event", "999999999"])
    assert refused.exit_code != 0 and "from_event_id" in refused.output
    bad = cli.invoke(main, ["events", "endpoints", "create", "--url", "http://example.com/"])
    assert bad.exit_code != 0 and "url" in bad.output
    deleted = cli.invoke(main, ["events", "endpoints", "delete", endpoint_id])
    assert deleted.exit_code == 0
    assert json.loads(cli.invoke(main, ["events", "endpoints", "list", "--json"]).stdout) == []


def test_keygen_makes_a_usable_key() -> None:
    result = CliRunner().invoke(main, ["events", "keygen"])
    assert result.exit_code == 0
    box = SecretBox.from_text(result.stdout.strip())
    assert box.open(box.seal("whsec_x", "e"), "e") == "whsec_x"
