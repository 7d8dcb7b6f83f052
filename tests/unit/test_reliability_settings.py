"""The reliability settings: TYPE_CONCURRENCY, HOST_CONCURRENCY, MAX_LOST_ATTEMPTS, NODE_ID."""

from __future__ import annotations

import pytest

from server.core.errors import ConfigurationError
from server.core.settings import Settings


def settings(**env: str) -> Settings:
    return Settings.from_env(env, dotenv=None)


def test_defaults_cap_the_browser_types_at_browser_concurrency() -> None:
    s = settings(BROWSER_CONCURRENCY="3")
    assert s.type_caps == {"browser_automation": 3, "data_extraction": 3}
    # HOST_CONCURRENCY 0: no fixed per-host cap; a host may use all slots but an eighth (issue 25).
    assert (s.host_concurrency, s.max_lost_attempts, s.node_id) == (0, 5, None)


def test_type_concurrency_entries_replace_the_defaults_type_by_type() -> None:
    s = settings(TYPE_CONCURRENCY=" ghl_action=4, data_extraction = 1 ", HOST_CONCURRENCY="8",
                 MAX_LOST_ATTEMPTS="2", NODE_ID="node-7")
    assert s.type_caps == {"browser_automation": 4, "data_extraction": 1, "ghl_action": 4}
    assert (s.host_concurrency, s.max_lost_attempts, s.node_id) == (8, 2, "node-7")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TYPE_CONCURRENCY": "faxing=2"}, "TYPE_CONCURRENCY: unknown task type 'faxing'"),
        ({"TYPE_CONCURRENCY": "api_call=lots"}, "TYPE_CONCURRENCY (api_call) must be a whole"),
        ({"TYPE_CONCURRENCY": "api_call=0"}, "TYPE_CONCURRENCY (api_call) must be between"),
        ({"TYPE_CONCURRENCY": "api_call"}, "TYPE_CONCURRENCY items must look like type=n"),
        ({"HOST_CONCURRENCY": "-1"}, "HOST_CONCURRENCY must be between"),
        ({"HOST_CONCURRENCY": "5000"}, "HOST_CONCURRENCY must be between"),
        ({"MAX_LOST_ATTEMPTS": "x"}, "MAX_LOST_ATTEMPTS must be a whole number"),
        ({"NODE_ID": "a/b"}, "NODE_ID must be"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        settings(**env)
    assert named in caught.value.message
