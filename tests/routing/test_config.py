"""Loading the routing config: the model it becomes and every error, with file:line and key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdpcli.destinations.base import Locator
from cdpcli.errors import ConfigError, ExitCode
from cdpcli.routing.config import (
    Config,
    load_config,
    parse_config,
    resolve_config_path,
)
from tests.fakes.kinds import use_loose_kinds

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"
PACKAGED = ROOT / "cdpcli" / "data" / "config.example.yaml"

FAKE_OPTION_KEYS = ("project_id", "region", "api_url", "nested")


def _fake_parse_options(raw: Mapping[str, Any], where: Locator) -> dict[str, Any]:
    """A stand-in for a kind module: a few known keys, `region` from a closed set."""
    for key in raw:
        if key not in FAKE_OPTION_KEYS:
            raise ConfigError(f"{where(key)}: unknown key; allowed: {', '.join(FAKE_OPTION_KEYS)}")
    if "region" in raw and raw["region"] not in ("us", "eu"):
        raise ConfigError(f"{where('region')}: allowed: us, eu")
    if isinstance(raw.get("nested"), dict) and "bad" in raw["nested"]:
        raise ConfigError(f"{where('nested.bad')}: bad")
    return dict(raw)


@pytest.fixture
def fake_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    use_loose_kinds(monkeypatch, _fake_parse_options)


GOOD = """\
version: 1
destinations:
  mixpanel:
    kind: mixpanel
    project_id: "3141592"
    region: us
  billing:
    kind: lago
    api_url: https://api.getlago.com
routes:
  - name: analytics
    to: mixpanel
    when: {type: [track, page]}
  - name: api-usage
    to: billing
    when:
      type: track
      event: ["API Call", "Export *"]
      properties.plan: {exists: true}
    map:
      code: api_calls
      external_subscription_id: "{{ properties.subscription_id }}"
      properties: {gb: "{{ properties.bytes }}"}
"""


def test_good_config_model(fake_kinds: None) -> None:
    config = parse_config(GOOD, "good.yaml")
    assert config.path == Path("good.yaml")
    assert config.version == 1
    assert config.respect_integrations is True
    assert list(config.destinations) == ["mixpanel", "billing"]
    mixpanel = config.destinations["mixpanel"]
    assert (mixpanel.name, mixpanel.kind) == ("mixpanel", "mixpanel")
    assert mixpanel.options == {"project_id": "3141592", "region": "us"}
    assert mixpanel.where == "good.yaml:3: key `destinations.mixpanel`"
    assert [r.name for r in config.routes] == ["analytics", "api-usage"]
    usage = config.routes[1]
    assert usage.to == "billing"
    assert usage.index == 1
    assert usage.qualifier is None
    assert usage.types == frozenset({"track"})
    assert usage.where == "good.yaml:14: key `routes[1]`"
    assert usage.map is not None
    assert usage.map.keys() == ("code", "external_subscription_id", "properties")
    assert usage.when.matches(
        {"type": "track", "event": "Export CSV", "properties": {"plan": "pro"}}
    )
    with pytest.raises(TypeError):
        config.destinations["x"] = mixpanel  # type: ignore[index]


def test_load_config_from_file(fake_kinds: None, tmp_path: Path) -> None:
    path = tmp_path / "cdpcli.yaml"
    path.write_text(GOOD, encoding="utf-8")
    config = load_config(path)
    assert isinstance(config, Config)
    assert config.path == path
    assert config.routes[0].where == f"{path}:11: key `routes[0]`"


def test_bom_and_timestamps_and_respect(fake_kinds: None) -> None:
    text = "\ufeff" + GOOD.replace('"3141592"', "2024-01-01") + "respect_integrations: false\n"
    config = parse_config(text, "c.yaml")
    assert config.destinations["mixpanel"].options["project_id"] == "2024-01-01"
    assert config.respect_integrations is False


def _replace(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


# (yaml text, expected "FILE:LINE[: key `path`]" prefix, fragments of the rest)
ERROR_CASES: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("root-list", "- a\n- b\n", "c.yaml:1", ("must be a mapping with the keys version",)),
    ("root-scalar", "hello\n", "c.yaml:1", ("must be a mapping",)),
    ("empty", "", "c.yaml:1", ("the config is empty",)),
    ("comments-only", "# nothing\n", "c.yaml:1", ("the config is empty",)),
    (
        "unknown-top",
        GOOD + "retries: 3\n",
        "c.yaml:24: key `retries`",
        ("unknown key; allowed: version, destinations, routes, respect_integrations",),
    ),
    ("no-version", GOOD.replace("version: 1\n", ""), "c.yaml:1", ("missing key `version`",)),
    (
        "version-2",
        _replace("version: 1", "version: 2"),
        "c.yaml:1: key `version`",
        ("unsupported config version 2; allowed: 1",),
    ),
    (
        "version-str",
        _replace("version: 1", 'version: "1"'),
        "c.yaml:1: key `version`",
        ("unsupported config version '1'",),
    ),
    (
        "version-true",
        _replace("version: 1", "version: true"),
        "c.yaml:1: key `version`",
        ("unsupported config version True",),
    ),
    (
        "no-destinations",
        "version: 1\nroutes: []\n",
        "c.yaml:1",
        ("missing key `destinations`", "kinds: mixpanel, lago"),
    ),
    (
        "destinations-list",
        "version: 1\ndestinations: [a]\nroutes: []\n",
        "c.yaml:2: key `destinations`",
        ("expected a mapping of named destinations",),
    ),
    (
        "destinations-empty",
        "version: 1\ndestinations: {}\nroutes: []\n",
        "c.yaml:2: key `destinations`",
        ("expected a mapping of named destinations",),
    ),
    (
        "bad-dest-name",
        _replace("  billing:", "  Billing:"),
        "c.yaml:7: key `destinations.Billing`",
        ("invalid destination name 'Billing'", "lower-case letters, digits, `_` and `-`"),
    ),
    (
        "dest-name-dot",
        _replace("  billing:", "  bill.ing:"),
        "c.yaml:7: key `destinations.bill.ing`",
        ("invalid destination name",),
    ),
    (
        "env-collision",
        _replace(
            "  billing:", "  mix-panel:\n    kind: lago\n  mix_panel:\n    kind: lago\n  billing:"
        ),
        "c.yaml:9: key `destinations.mix_panel`",
        ("'mix-panel' and 'mix_panel' give the same environment variables (CDPCLI_MIX_PANEL_",),
    ),
    (
        "dest-scalar",
        _replace(
            "  billing:\n    kind: lago\n    api_url: https://api.getlago.com", "  billing: lago"
        ),
        "c.yaml:7: key `destinations.billing`",
        ("expected a mapping with `kind` (mixpanel, lago)",),
    ),
    (
        "no-kind",
        _replace("    kind: lago\n", ""),
        "c.yaml:7: key `destinations.billing`",
        ("missing key `kind`; allowed kinds: mixpanel, lago",),
    ),
    (
        "bad-kind",
        _replace("kind: lago", "kind: segment"),
        "c.yaml:8: key `destinations.billing.kind`",
        ("unknown kind 'segment'; allowed: mixpanel, lago",),
    ),
    (
        "kind-list",
        _replace("kind: lago", "kind: [lago]"),
        "c.yaml:8: key `destinations.billing.kind`",
        ("unknown kind ['lago']",),
    ),
    (
        "option-from-kind",
        _replace("region: us", "region: mars"),
        "c.yaml:6: key `destinations.mixpanel.region`",
        ("allowed: us, eu",),
    ),
    (
        "unknown-option",
        _replace("region: us", "regoin: us"),
        "c.yaml:6: key `destinations.mixpanel.regoin`",
        ("unknown key; allowed: project_id",),
    ),
    (
        "nested-option",
        _replace("region: us", "nested:\n      ok: 1\n      bad: 2"),
        "c.yaml:8: key `destinations.mixpanel.nested.bad`",
        ("bad",),
    ),
    (
        "secret-token",
        _replace("region: us", "token: abc"),
        "c.yaml:6: key `destinations.mixpanel.token`",
        ("looks like a secret; secrets never go in the config file",),
    ),
    (
        "secret-api-key",
        _replace("api_url: https://api.getlago.com", "api_key: k"),
        "c.yaml:9: key `destinations.billing.api_key`",
        ("looks like a secret",),
    ),
    (
        "secret-apiKey",
        _replace("api_url: https://api.getlago.com", "apiKey: k"),
        "c.yaml:9: key `destinations.billing.apiKey`",
        ("looks like a secret",),
    ),
    (
        "secret-password",
        _replace("region: us", "password: p"),
        "c.yaml:6: key `destinations.mixpanel.password`",
        ("looks like a secret",),
    ),
    (
        "secret-service-secret",
        _replace("region: us", "service_account_secret: p"),
        "c.yaml:6: key `destinations.mixpanel.service_account_secret`",
        ("looks like a secret",),
    ),
    (
        "secret-nested",
        _replace("region: us", "nested: {Project_Token: x}"),
        "c.yaml:6: key `destinations.mixpanel.nested.Project_Token`",
        ("looks like a secret",),
    ),
    (
        "secret-top",
        GOOD + "api_secret: x\n",
        "c.yaml:24: key `api_secret`",
        ("looks like a secret",),
    ),
    ("no-routes", GOOD[: GOOD.index("routes:")], "c.yaml:1", ("missing key `routes`",)),
    (
        "routes-empty",
        GOOD[: GOOD.index("routes:")] + "routes: []\n",
        "c.yaml:10: key `routes`",
        ("expected a list of routes, each with the keys name, to, when, map",),
    ),
    (
        "routes-map",
        GOOD[: GOOD.index("routes:")] + "routes: {a: 1}\n",
        "c.yaml:10: key `routes`",
        ("expected a list of routes",),
    ),
    (
        "route-scalar",
        GOOD.replace("routes:\n", "routes:\n  - analytics\n"),
        "c.yaml:11: key `routes[0]`",
        ("expected a mapping with the keys name, to, when, map",),
    ),
    (
        "route-unknown-key",
        _replace("    to: mixpanel\n", "    to: mixpanel\n    filter: x\n"),
        "c.yaml:13: key `routes[0].filter`",
        ("unknown key; allowed: name, to, when, map",),
    ),
    (
        "route-no-name",
        _replace("  - name: analytics\n    to: mixpanel", "  - to: mixpanel"),
        "c.yaml:11: key `routes[0]`",
        ("missing key `name`",),
    ),
    (
        "route-bad-name",
        _replace("name: analytics", "name: my route"),
        "c.yaml:11: key `routes[0].name`",
        ("invalid route name 'my route'",),
    ),
    (
        "route-dup-name",
        _replace("name: api-usage", "name: analytics"),
        "c.yaml:14: key `routes[1].name`",
        ("duplicate route name 'analytics' (first on line 11)",),
    ),
    (
        "route-no-to",
        _replace("    to: mixpanel\n", ""),
        "c.yaml:11: key `routes[0]`",
        ("missing key `to`; name the destination; allowed: mixpanel, billing",),
    ),
    (
        "route-bad-to",
        _replace("to: mixpanel", "to: amplitude"),
        "c.yaml:12: key `routes[0].to`",
        ("unknown destination 'amplitude'; allowed: mixpanel, billing",),
    ),
    (
        "when-scalar",
        _replace("when: {type: [track, page]}", "when: track"),
        "c.yaml:13: key `routes[0].when`",
        ("`when` must be a mapping",),
    ),
    (
        "when-type",
        _replace("when: {type: [track, page]}", "when: {type: [track, Page]}"),
        "c.yaml:13: key `routes[0].when.type[1]`",
        ("unknown event type 'Page'; did you mean 'page'? allowed: track",),
    ),
    (
        "when-event",
        _replace('event: ["API Call", "Export *"]', "event: [API Call, 7]"),
        "c.yaml:18: key `routes[1].when.event[1]`",
        ("got 7",),
    ),
    (
        "when-path",
        _replace("properties.plan:", "propertis.plan:"),
        "c.yaml:19: key `routes[1].when.propertis.plan`",
        ("unknown key; did you mean `properties.plan`? allowed: type, event",),
    ),
    (
        "when-op",
        _replace("{exists: true}", "{exist: true}"),
        "c.yaml:19: key `routes[1].when.properties.plan.exist`",
        ("unknown operator; did you mean `exists`? allowed: exists, in, not, matches",),
    ),
    (
        "when-regex",
        _replace("{exists: true}", "{matches: '(unclosed'}"),
        "c.yaml:19: key `routes[1].when.properties.plan.matches`",
        (
            "invalid regular expression '(unclosed': "
            "missing ), unterminated subpattern at position 0",
        ),
    ),
    (
        "map-list",
        _replace("when: {type: [track, page]}", "when: {type: [track]}\n    map: [code]"),
        "c.yaml:14: key `routes[0].map`",
        ("expected a mapping of destination fields",),
    ),
    (
        "map-template",
        _replace('"{{ properties.subscription_id }}"', '"{{ properties.subscription_id() }}"'),
        "c.yaml:22: key `routes[1].map.external_subscription_id`",
        ("template error at column 30: expected `}}`, found '('",),
    ),
    (
        "map-nested-template",
        _replace('{gb: "{{ properties.bytes }}"}', '{gb: "{{ a.__class__ }}"}'),
        "c.yaml:23: key `routes[1].map.properties.gb`",
        ("'__class__' is not allowed",),
    ),
    (
        "map-int-key",
        _replace("code: api_calls", "code: api_calls\n      1: x"),
        "c.yaml:22: key `routes[1].map`",
        ("key '1' is not a string; quote it",),
    ),
    (
        "respect-str",
        GOOD + "respect_integrations: nope\n",
        "c.yaml:24: key `respect_integrations`",
        ("expected true or false",),
    ),
    # YAML-level problems
    ("alias", GOOD + "x: &a [1]\ny: *a\n", "c.yaml:25", ("YAML aliases (*a) are not supported",)),
    (
        "alias-bomb",
        "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\n",
        "c.yaml:2",
        ("YAML aliases (*a) are not supported",),
    ),
    ("merge-key", "base: &b {kind: lago}\nd:\n  <<: *b\n", "c.yaml:3", ("YAML aliases (*b)",)),
    (
        "duplicate-key",
        _replace("version: 1\n", "version: 1\nversion: 1\n"),
        "c.yaml:2: key `version`",
        ("duplicate key (first on line 1)",),
    ),
    (
        "duplicate-route-key",
        _replace("    to: mixpanel\n", "    to: mixpanel\n    to: billing\n"),
        "c.yaml:13: key `routes[0].to`",
        ("duplicate key (first on line 12)",),
    ),
    ("bool-key", GOOD + "on: 1\n", "c.yaml:24", ("key 'on' is not a string; quote it",)),
    ("null-key", GOOD + "~: 1\n", "c.yaml:24", ("key '~' is not a string",)),
    ("complex-key", GOOD + "? [a, b]\n: 1\n", "c.yaml:24", ("key 'a collection' is not a string",)),
    (
        "python-tag",
        GOOD + "x: !!python/object/apply:os.system ['echo hi']\n",
        "c.yaml:24: key `x`",
        ("unsupported YAML tag tag:yaml.org,2002:python/object/apply:os.system",),
    ),
    (
        "custom-tag",
        GOOD + "x: !secret abc\n",
        "c.yaml:24: key `x`",
        ("unsupported YAML tag !secret",),
    ),
    ("set-tag", GOOD + "x: !!set {a, b}\n", "c.yaml:24: key `x`", ("unsupported YAML tag",)),
    ("binary", GOOD + "x: !!binary aGk=\n", "c.yaml:24: key `x`", ("unsupported YAML tag",)),
    (
        "nan",
        _replace("region: us", "region: .nan"),
        "c.yaml:6: key `destinations.mixpanel.region`",
        ("'.nan' is not a finite number",),
    ),
    ("syntax", GOOD + "x: [1, 2\n", "c.yaml:25", ("invalid YAML",)),
    ("tab-indent", "version: 1\n\tdestinations: {}\n", "c.yaml:2", ("invalid YAML",)),
    ("two-documents", GOOD + "---\nversion: 1\n", "c.yaml:24", ("invalid YAML", "single document")),
    ("control-char", GOOD + "x: \x07\n", "c.yaml", ("invalid YAML",)),
    ("deep", "a: " + "[" * 200 + "]" * 200 + "\n", "c.yaml:1", ("nested deeper than 64 levels",)),
]


@pytest.mark.parametrize(
    ("text", "prefix", "fragments"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_config_errors(
    fake_kinds: None, text: str, prefix: str, fragments: tuple[str, ...]
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml")
    assert caught.value.exit_code is ExitCode.CONFIG
    # The error of the case (another may follow from it: a destination misnamed leaves the
    # route to it pointing nowhere).
    found = [e for e in caught.value.errors if e.message.startswith(prefix + ":")]
    assert found, caught.value.message
    for fragment in fragments:
        assert fragment in found[0].message, caught.value.message


def test_secret_error_hint_points_at_keyring_and_env(fake_kinds: None) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_replace("region: us", "token: abc"), "c.yaml")
    assert caught.value.hint is not None
    assert "cdpcli keys set mixpanel" in caught.value.hint
    assert "CDPCLI_MIXPANEL_<FIELD>" in caught.value.hint
    assert "abc" not in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert caught.value.message == f"config file not found: {tmp_path / 'nope.yaml'}"
    assert caught.value.hint is not None
    assert "cdpcli config init" in caught.value.hint


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"version: 1\nx: \xff\n", ":2: the config is not UTF-8 text"),
        (b"#" * (1024 * 1024 + 1), "the config is larger than 1048576 bytes"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=fragment):
        load_config(path)


def test_directory_is_not_a_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_qualifier_per_destination(fake_kinds: None) -> None:
    text = GOOD + (
        "  - name: second-mixpanel\n    to: mixpanel\n"
        "  - name: third\n    to: mixpanel\n    when: {type: alias}\n"
    )
    config = parse_config(text, "c.yaml")
    assert [(r.name, r.qualifier) for r in config.routes] == [
        ("analytics", None),
        ("api-usage", None),
        ("second-mixpanel", "second-mixpanel"),
        ("third", "third"),
    ]
    assert config.routes[3].types == frozenset({"alias"})


@pytest.mark.parametrize(
    ("option", "env", "expected"),
    [
        ("given.yaml", {"CDPCLI_CONFIG": "env.yaml"}, "given.yaml"),
        (None, {"CDPCLI_CONFIG": "env.yaml"}, "env.yaml"),
        (None, {"CDPCLI_CONFIG": ""}, "cdpcli.yaml"),
        (None, {}, "cdpcli.yaml"),
        (Path("p.yaml"), {}, "p.yaml"),
    ],
)
def test_resolve_config_path(option: Any, env: dict[str, str], expected: str) -> None:
    assert resolve_config_path(option, env) == Path(expected)


# --- the shipped example -----------------------------------------------------------------------


def test_packaged_example_is_the_root_example() -> None:
    assert PACKAGED.read_bytes() == EXAMPLE.read_bytes()


def test_example_loads_with_fake_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    use_loose_kinds(monkeypatch, lambda raw, where: dict(raw))
    config = load_config(EXAMPLE)
    assert [r.name for r in config.routes] == ["analytics", "api-usage", "storage-usage"]


def test_example_loads_with_the_real_kinds() -> None:
    config = load_config(EXAMPLE)
    assert {name: d.kind for name, d in config.destinations.items()} == {
        "mixpanel": "mixpanel",
        "billing": "lago",
    }
    assert [(r.name, r.to, r.qualifier) for r in config.routes] == [
        ("analytics", "mixpanel", None),
        ("api-usage", "billing", None),
        ("storage-usage", "billing", "storage-usage"),
    ]
    usage = config.routes[1]
    event = {
        "type": "track",
        "event": "Export CSV",
        "messageId": "m-l2-0002",
        "userId": "u_17",
        "timestamp": "2024-03-02T17:45:00Z",
        "properties": {"plan": "pro", "subscription_id": "sub_881", "bytes": 2048},
    }
    assert usage.when.matches(event)
    assert usage.map is not None
    assert usage.map.render(event) == {
        "code": "api_calls",
        "external_subscription_id": "sub_881",
        "properties": {"gb": 2048},
    }


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("region: us ", "region: mars ", "destinations.mixpanel.region"),
        ("auth: service_account ", "auth: oauth ", "destinations.mixpanel.auth"),
        (
            "api_url: https://api.getlago.com",
            "api_url: ftp://x",
            "destinations.billing.api_url",
        ),
        (
            "    identity: simplified",
            "    identity: simplified\n    colour: red",
            "destinations.mixpanel.colour",
        ),
        (
            "code: api_calls",
            "code: api_calls\n      customer: x",
            "routes[1].map.customer",
        ),
    ],
)
def test_real_kind_errors_name_file_line_and_key(
    tmp_path: Path, old: str, new: str, key: str
) -> None:
    """The error names the line of the offending key (the last line of `new`) and its path."""
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text
    line = text[: text.index(old)].count("\n") + 1 + new.count("\n")
    path = tmp_path / "c.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.message.startswith(f"{path}:{line}: key `{key}`:"), caught.value.message


# --- never anything but a ConfigError --------------------------------------------------------

_WORDS = st.sampled_from(
    [
        "version",
        "destinations",
        "routes",
        "kind",
        "mixpanel",
        "lago",
        "billing",
        "name",
        "to",
        "when",
        "map",
        "type",
        "event",
        "track",
        "properties.plan",
        "exists",
        "in",
        "not",
        "matches",
        "respect_integrations",
        "region",
        "us",
        "token",
        "{{ userId }}",
        "{{ a( }}",
        "(",
        "*",
        "x",
    ]
)
_scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=True) | _WORDS
_docs = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_WORDS, children, max_size=5),
    max_leaves=25,
)


def _check_outcome(text: str) -> None:
    try:
        config = parse_config(text, "h.yaml")
    except ConfigError as error:
        assert error.message.startswith("h.yaml")
        return
    assert config.version == 1
    assert config.routes
    for route in config.routes:
        assert route.to in config.destinations


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(doc=_docs)
def test_arbitrary_documents_load_or_fail_cleanly(fake_kinds: None, doc: Any) -> None:
    _check_outcome(yaml.safe_dump(doc))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    doc=st.fixed_dictionaries(
        {"version": st.sampled_from([1, 2, "1"]), "destinations": _docs, "routes": _docs}
    )
)
def test_config_shaped_documents_load_or_fail_cleanly(fake_kinds: None, doc: Any) -> None:
    _check_outcome(yaml.safe_dump(doc))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cut=st.integers(0, len(GOOD)),
    junk=st.text(alphabet=st.sampled_from(list("{}[]:-,&*!|>'\"# \n\tab%@`?")), max_size=8),
)
def test_mangled_text_loads_or_fails_cleanly(fake_kinds: None, cut: int, junk: str) -> None:
    _check_outcome(GOOD[:cut] + junk + GOOD[cut:])


# --- every error at once, with "did you mean" ------------------------------------------------

TYPOS = """\
version: 1
destinations:
  mixpanel:
    kind: mixpanel
    project_id: "3141592"
    regoin: us
    auth: service_acount
  other:
    kind: mixpanl
    colour: red
  billing:
    kind: lago
    api_ur: https://api.getlago.com
    batch_size: 500
routes:
  - name: analytics
    to: mixpanel
    when: {tpye: track}
  - name: usage
    to: biling
    when:
      propertis.plan: {exist: true}
    map:
      cod: api_calls
  - name: usage-2
    to: billing
    map:
      cod: api_calls
      properties: {gb: "{{ properties.bytes ) }}"}
  - name: to-other
    to: other
    map: {anything: "{{ a( }}"}
respect_integratons: false
"""

TYPO_ERRORS = [
    (
        6,
        "destinations.mixpanel.regoin",
        "unknown key for a mixpanel destination; did you mean `region`?",
    ),
    (
        7,
        "destinations.mixpanel.auth",
        "'service_acount' is not allowed; did you mean 'service_account'?",
    ),
    (
        9,
        "destinations.other.kind",
        "unknown kind 'mixpanl'; did you mean 'mixpanel'? allowed: mixpanel, lago",
    ),
    (
        13,
        "destinations.billing.api_ur",
        "unknown key for a lago destination; "
        "did you mean `api_url`? allowed keys: kind, api_url, batch_size",
    ),
    (14, "destinations.billing.batch_size", "must be an integer from 1 to 100, got 500"),
    (18, "routes[0].when.tpye", "unknown key; did you mean `type`? allowed: type, event"),
    (
        20,
        "routes[1].to",
        "unknown destination 'biling'; did you mean 'billing'? allowed: mixpanel, other, billing",
    ),
    (22, "routes[1].when.propertis.plan", "unknown key; did you mean `properties.plan`?"),
    (22, "routes[1].when.propertis.plan.exist", "unknown operator; did you mean `exists`?"),
    (
        28,
        "routes[2].map.cod",
        "unknown key for a lago destination; did you mean `code`? "
        "allowed: code, external_subscription_id",
    ),
    (29, "routes[2].map.properties.gb", "template error at column 21: expected `}}`"),
    (32, "routes[3].map.anything", "template error at column 5"),
    (
        33,
        "respect_integratons",
        "unknown key; did you mean `respect_integrations`? "
        "allowed: version, destinations, routes, respect_integrations",
    ),
]


def test_every_error_of_a_config_at_once_in_line_order() -> None:
    """One run names every error, in the order of the file, each with its line, key and a
    suggestion for a near miss. A destination whose kind is unknown has no options checked
    (`colour` under `other`), nor does a route to it have its `map` keys checked; a route to an
    unknown destination has the rest of it checked, but not its map keys."""
    with pytest.raises(ConfigError) as caught:
        parse_config(TYPOS, "t.yaml")
    error = caught.value
    assert error.exit_code is ExitCode.CONFIG
    got = [one.message for one in error.errors]
    assert len(got) == len(TYPO_ERRORS), "\n".join(got)
    for message, (line, key, text) in zip(got, TYPO_ERRORS, strict=True):
        assert message.startswith(f"t.yaml:{line}: key `{key}`: {text}"), message
    lines = error.message.splitlines()
    assert lines[0] == f"t.yaml: {len(TYPO_ERRORS)} errors in the config:"
    assert [line[2:] for line in lines[1:] if not line.startswith("    hint:")] == got
    assert "    hint: use one of: service_account, api_secret" in lines


def test_one_error_is_reported_as_it_was() -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace("region: us ", "regoin: us ", 1)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml")
    assert caught.value.errors == (caught.value,)
    assert caught.value.message == (
        "c.yaml:24: key `destinations.mixpanel.regoin`: unknown key for a mixpanel destination; "
        "did you mean `region`?"
    )
    assert caught.value.hint is not None
    assert caught.value.hint.startswith("allowed keys: kind, project_id, region")


def test_no_suggestion_for_a_word_far_from_every_allowed_one(fake_kinds: None) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(GOOD + "retries: 3\n", "c.yaml")
    assert "did you mean" not in caught.value.message


def test_a_secret_is_reported_once_not_also_as_an_unknown_option() -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "region: us ", "region: us\n    api_secret: s3cr3t\n    regoin: eu\n    ", 1
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml")
    keys = [one.message.split("`")[1] for one in caught.value.errors]
    assert keys == ["destinations.mixpanel.api_secret", "destinations.mixpanel.regoin"]
    assert "s3cr3t" not in str(caught.value)


def test_a_long_list_of_errors_is_cut(fake_kinds: None) -> None:
    text = GOOD + "".join(f"extra_{n}: 1\n" for n in range(80))
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml")
    assert len(caught.value.errors) == 80
    assert caught.value.message.count("\n") == 51
    assert caught.value.message.endswith("\n  ... and 30 more")
