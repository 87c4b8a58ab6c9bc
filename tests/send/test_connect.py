"""`check_connect` (`config check --connect`, PRODUCT.md §6.1) against the fakes of Mixpanel and
Lago on 127.0.0.1: accepted, refused (401 and 403, per destination), unreachable, a secret
missing, the https rule, secrets masked, and nothing written at either fake."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

import cdpcli
from tests.fakes.sends import SECRETS, write_config
from tests.fakes.servers import (
    LAGO_API_KEY,
    LAGO_METRICS,
    MIXPANEL_IMPORT,
    MIXPANEL_TOKEN,
    FakeLago,
    FakeMixpanel,
    Fault,
)

Fakes = tuple[FakeMixpanel, FakeLago]


def closed_port() -> int:
    """A port of 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def assert_nothing_written(mixpanel: FakeMixpanel, lago: FakeLago) -> None:
    assert mixpanel.events == []
    assert mixpanel.profile_updates == []
    assert mixpanel.group_updates == []
    assert lago.events == []


def by_name(check: cdpcli.ConnectCheck) -> dict[str, dict[str, object]]:
    return {d["name"]: d for d in check.as_dict()["destinations"]}


def test_both_accepted_and_nothing_written(fakes: Fakes, tmp_path: Path) -> None:
    mixpanel, lago = fakes
    lago.metrics = {"api_calls": ("gb",)}
    check = cdpcli.check_connect(write_config(tmp_path, mixpanel, lago), environ=SECRETS)
    assert check.exit_code == 0
    mp, billing = check.destinations
    assert (mp.name, mp.kind, mp.outcome) == ("mixpanel", "mixpanel", "accepted")
    assert [(p.name, p.outcome, p.status) for p in mp.probes] == [
        ("import", "accepted", 400),
        ("project_token", "accepted", 400),
    ]
    assert "refused the probe record by validation" in mp.probes[0].message
    assert (billing.outcome, billing.probes[0].status) == ("accepted", 200)
    assert billing.probes[0].message == "Lago accepted the API key; 1 billable metric(s) defined"
    for destination in check.destinations:
        assert destination.latency_ms is not None and destination.latency_ms >= 0
        assert destination.hint is None
    # what went on the wire: /import twice (credentials, then the token), one read at Lago
    imports = mixpanel.requests_to(MIXPANEL_IMPORT)
    assert [r.query for r in imports] == [{"strict": "1", "project_id": "12345"}, {"strict": "1"}]
    assert [r.status for r in imports] == [400, 400]
    assert all(r.body == [imports[0].body[0]] for r in imports)
    assert [(r.method, r.path, r.query) for r in lago.requests] == [
        ("GET", LAGO_METRICS, {"per_page": "1"})
    ]
    assert lago.requests[0].headers["authorization"] == f"Bearer {LAGO_API_KEY}"
    assert all(r.headers["user-agent"].startswith("cdpcli/") for r in mixpanel.requests)
    assert_nothing_written(mixpanel, lago)


def test_a_wrong_mixpanel_secret_is_refused_and_lago_still_checked(
    fakes: Fakes, tmp_path: Path
) -> None:
    mixpanel, lago = fakes
    env = {**SECRETS, "CDPCLI_MIXPANEL_SERVICE_ACCOUNT_SECRET": "wrong-secret-value"}
    check = cdpcli.check_connect(write_config(tmp_path, mixpanel, lago), environ=env)
    assert check.exit_code == 5
    mp, billing = check.destinations
    assert mp.outcome == "refused"
    assert [(p.name, p.outcome, p.status) for p in mp.probes] == [
        ("import", "refused", 401),
        ("project_token", "accepted", 400),
    ]
    assert "Mixpanel refused the credentials (HTTP 401): Invalid credentials" in mp.message
    assert mp.hint is not None
    assert "service_account_secret, service_account_username" in mp.hint
    assert "`project_id` in the config" in mp.hint
    assert (
        "fix with `cdpcli keys set mixpanel service_account_secret` or "
        "CDPCLI_MIXPANEL_SERVICE_ACCOUNT_SECRET; `cdpcli keys set mixpanel "
        "service_account_username` or CDPCLI_MIXPANEL_SERVICE_ACCOUNT_USERNAME"
    ) in mp.hint
    assert billing.outcome == "accepted"
    assert "wrong-secret-value" not in str(check.as_dict())
    assert_nothing_written(mixpanel, lago)


def test_a_wrong_project_token_is_refused(fakes: Fakes, tmp_path: Path) -> None:
    mixpanel, lago = fakes
    env = {**SECRETS, "CDPCLI_MIXPANEL_PROJECT_TOKEN": "not-the-token"}
    check = cdpcli.check_connect(write_config(tmp_path, mixpanel, lago), environ=env)
    mp = check.destinations[0]
    assert [(p.name, p.outcome) for p in mp.probes] == [
        ("import", "accepted"),
        ("project_token", "refused"),
    ]
    assert mp.hint is not None and "the secret project_token of `mixpanel`" in mp.hint
    assert check.exit_code == 5


def test_403_is_refused_per_destination(fakes: Fakes, tmp_path: Path) -> None:
    mixpanel, lago = fakes
    mixpanel.fail(MIXPANEL_IMPORT, Fault.http(403))
    lago.no_read_keys = frozenset({LAGO_API_KEY})
    check = cdpcli.check_connect(write_config(tmp_path, mixpanel, lago), environ=SECRETS)
    assert check.exit_code == 5
    outcomes = by_name(check)
    assert outcomes["mixpanel"]["outcome"] == "refused"
    assert outcomes["billing"]["outcome"] == "refused"
    billing = check.destinations[1]
    assert billing.probes[0].status == 403
    assert "read_action_not_allowed_for_billable_metric" in billing.message
    assert_nothing_written(mixpanel, lago)


def test_a_wrong_lago_key_is_refused(fakes: Fakes, tmp_path: Path) -> None:
    mixpanel, lago = fakes
    env = {**SECRETS, "CDPCLI_BILLING_API_KEY": "wrong-lago-key"}
    check = cdpcli.check_connect(write_config(tmp_path, mixpanel, lago), environ=env)
    assert check.exit_code == 5
    assert [d.outcome for d in check.destinations] == ["accepted", "refused"]
    billing = check.destinations[1]
    assert billing.probes[0].status == 401
    assert billing.message == (
        "the API key: Lago does not know this API key (HTTP 401: Unauthorized)"
    )
    assert "wrong-lago-key" not in str(check.as_dict())


def test_an_unreachable_destination_exits_6(fakes: Fakes, tmp_path: Path) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    dead = f"http://127.0.0.1:{closed_port()}"
    config.write_text(config.read_text().replace(mixpanel.url, dead), encoding="utf-8")
    check = cdpcli.check_connect(config, environ=SECRETS)
    assert check.exit_code == 6
    mp, billing = check.destinations
    assert mp.outcome == "unreachable"
    first, second = mp.probes
    assert (first.outcome, first.status) == ("unreachable", None)
    assert first.message.startswith(f"no answer from {dead}/import?strict=1&project_id=12345: ")
    assert "ConnectError" in first.message
    assert first.latency_ms is not None
    # the token probe goes to the same host: not sent after the first found it unreachable
    assert (second.outcome, second.latency_ms) == ("unreachable", None)
    assert second.message.startswith("not sent: ")
    assert mp.hint is not None and "api_url" in mp.hint
    assert billing.outcome == "accepted"
    assert mixpanel.requests == []


def test_refused_wins_over_unreachable(fakes: Fakes, tmp_path: Path) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    config.write_text(
        config.read_text().replace(mixpanel.url, f"http://127.0.0.1:{closed_port()}"),
        encoding="utf-8",
    )
    env = {**SECRETS, "CDPCLI_BILLING_API_KEY": "wrong"}
    check = cdpcli.check_connect(config, environ=env)
    assert [d.outcome for d in check.destinations] == ["unreachable", "refused"]
    assert check.exit_code == 5


def test_a_missing_secret_is_reported_and_nothing_sent_there(fakes: Fakes, tmp_path: Path) -> None:
    mixpanel, lago = fakes
    env = {k: v for k, v in SECRETS.items() if k != "CDPCLI_MIXPANEL_PROJECT_TOKEN"}
    check = cdpcli.check_connect(write_config(tmp_path, mixpanel, lago), environ=env)
    assert check.exit_code == 5
    mp, billing = check.destinations
    assert (mp.outcome, mp.missing, mp.probes) == ("missing", ("project_token",), ())
    assert mp.message == "secret(s) missing: project_token; nothing was sent"
    assert mp.hint == (
        "set CDPCLI_MIXPANEL_PROJECT_TOKEN or run `cdpcli keys set mixpanel project_token`"
    )
    assert mixpanel.requests == []
    assert billing.outcome == "accepted"


def test_secrets_come_from_the_keyring_too(fakes: Fakes, tmp_path: Path) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    cdpcli.set_secret("billing", "api_key", LAGO_API_KEY, environ={})
    env = {k: v for k, v in SECRETS.items() if k != "CDPCLI_BILLING_API_KEY"}
    check = cdpcli.check_connect(config, environ=env)
    assert [d.outcome for d in check.destinations] == ["accepted", "accepted"]


def test_only_the_token_is_probed_for_profiles_only_and_unused_ones_are_not(
    fakes: Fakes, tmp_path: Path
) -> None:
    mixpanel, lago = fakes
    config = tmp_path / "cdpcli.yaml"
    config.write_text(
        f"""\
version: 1
destinations:
  mixpanel:
    kind: mixpanel
    project_id: "12345"
    api_url: {mixpanel.url}
  billing:
    kind: lago
    api_url: {lago.url}
routes:
  - name: profiles
    to: mixpanel
    when: {{type: [identify, group]}}
""",
        encoding="utf-8",
    )
    check = cdpcli.check_connect(config, environ={"CDPCLI_MIXPANEL_PROJECT_TOKEN": MIXPANEL_TOKEN})
    mp, billing = check.destinations
    assert [p.name for p in mp.probes] == ["project_token"]
    assert mp.outcome == "accepted"
    assert (billing.outcome, billing.probes) == ("unused", ())
    assert lago.requests == []
    assert check.exit_code == 0
    assert_nothing_written(mixpanel, lago)


def test_an_unexpected_answer_exits_6(fakes: Fakes, tmp_path: Path) -> None:
    mixpanel, lago = fakes
    lago.fail(LAGO_METRICS, Fault.http(503))
    check = cdpcli.check_connect(write_config(tmp_path, mixpanel, lago), environ=SECRETS)
    billing = check.destinations[1]
    assert (billing.outcome, billing.probes[0].status) == ("unexpected", 503)
    assert len(lago.requests) == 1  # one attempt, never retried
    assert check.exit_code == 6


def test_plain_http_to_a_host_other_than_loopback_is_refused_before_any_request(
    fakes: Fakes, tmp_path: Path
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    config.write_text(
        config.read_text().replace(lago.url, "http://lago.example.com"), encoding="utf-8"
    )
    with pytest.raises(cdpcli.UsageError) as caught:
        cdpcli.check_connect(config, environ=SECRETS)
    assert caught.value.exit_code == 2
    assert "destination billing: http://lago.example.com/api/v1/billable_metrics" in str(
        caught.value
    )
    assert "--allow-insecure-http" in str(caught.value)
    assert mixpanel.requests == [] and lago.requests == []


def test_allow_insecure_http_lets_it_through(tmp_path: Path) -> None:
    """With the flag the request goes out (here to a transport in the test, never the net)."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"billable_metrics": [], "meta": {"total_count": 0}})

    config = tmp_path / "cdpcli.yaml"
    config.write_text(
        """\
version: 1
destinations:
  billing: {kind: lago, api_url: "http://lago.example.com"}
routes:
  - {name: usage, to: billing}
""",
        encoding="utf-8",
    )
    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        check = cdpcli.check_connect(
            config,
            environ={"CDPCLI_BILLING_API_KEY": "k"},
            allow_insecure_http=True,
            client=client,
        )
    assert check.exit_code == 0
    assert [str(r.url) for r in seen] == [
        "http://lago.example.com/api/v1/billable_metrics?per_page=1"
    ]


def test_secrets_echoed_by_a_server_are_masked(fakes: Fakes, tmp_path: Path) -> None:
    mixpanel, lago = fakes
    echo = f'{{"status":401,"error":"bad key {LAGO_API_KEY}"}}'.encode()
    lago.fail(LAGO_METRICS, Fault.http(401, body=echo))
    check = cdpcli.check_connect(write_config(tmp_path, mixpanel, lago), environ=SECRETS)
    billing = check.destinations[1]
    assert billing.outcome == "refused"
    assert "bad key ***" in billing.message
    text = str(check.as_dict())
    for secret in SECRETS.values():
        assert secret not in text


def test_a_keyring_that_fails_is_named_in_the_hint(fakes: Fakes, tmp_path: Path) -> None:
    import keyring
    from keyring.errors import KeyringLocked

    from tests.conftest import MemoryKeyring

    class Locked(MemoryKeyring):
        def get_password(self, service: str, username: str) -> str | None:
            raise KeyringLocked("the keychain is locked")

    keyring.set_keyring(Locked())
    mixpanel, lago = fakes
    env = {k: v for k, v in SECRETS.items() if k != "CDPCLI_BILLING_API_KEY"}
    check = cdpcli.check_connect(write_config(tmp_path, mixpanel, lago), environ=env)
    billing = check.destinations[1]
    assert billing.outcome == "missing"
    assert billing.hint == (
        "set CDPCLI_BILLING_API_KEY or run `cdpcli keys set billing api_key` (the keyring "
        "lookup of api_key failed: KeyringLocked: the keychain is locked)"
    )


def test_a_probe_of_a_server_that_trickles_ends_at_its_deadline(
    fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A probe has a send attempt's total deadline: a server trickling its answer a byte at a
    time (well within each read's timeout) is unreachable once it is past."""
    from cdpcli.send import connect
    from tests.fakes.hostile import HostileServer

    monkeypatch.setattr(connect, "PROBE_DEADLINE_SECONDS", 1.0)
    mixpanel, lago = fakes
    with HostileServer("trickle_body", interval=0.2) as server:
        config = write_config(tmp_path, mixpanel, lago)
        config.write_text(config.read_text().replace(mixpanel.url, server.url), encoding="utf-8")
        check = cdpcli.check_connect(config, environ=SECRETS)
    mp = check.destinations[0]
    assert mp.outcome == "unreachable" and check.exit_code == 6
    assert "the attempt took longer than its deadline of 1 s" in mp.probes[0].message
