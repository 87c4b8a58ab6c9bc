"""`when` conditions, route matching in config order, and the `integrations` opt-out."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdpcli.errors import ConfigError
from cdpcli.routing.conditions import compile_condition
from cdpcli.routing.config import Config, parse_config
from cdpcli.routing.router import (
    integrations_opt_out,
    matching_routes,
    route_info,
)
from cdpcli.routing.yamlloader import dotted
from tests.fakes.kinds import use_loose_kinds


def _locate(rel: tuple[str | int, ...]) -> str:
    return f"r.yaml:7: key `{dotted(('when', *rel))}`"


def _matches(when: Any, event: Mapping[str, Any]) -> bool:
    return compile_condition(when, _locate).matches(event)


TRACK = {
    "type": "track",
    "event": "Export CSV",
    "userId": "u_17",
    "properties": {
        "plan": "pro",
        "count": 1,
        "flag": True,
        "ratio": 1.0,
        "none": None,
        "products": [{"sku": "S-1"}],
    },
    "context": {"app": {"name": "FitTrack"}},
}


@pytest.mark.parametrize(
    ("when", "event", "expected"),
    [
        # no when / empty when: every event
        (None, TRACK, True),
        ({}, {"type": "alias"}, True),
        # type: a string or a list
        ({"type": "track"}, TRACK, True),
        ({"type": "page"}, TRACK, False),
        ({"type": ["page", "track"]}, TRACK, True),
        ({"type": ["page", "screen"]}, TRACK, False),
        ({"type": "track"}, {"type": ["track"]}, False),
        ({"type": "track"}, {"type": {"a": 1}}, False),
        # event: exact, globs, case-sensitive, lists
        ({"event": "Export CSV"}, TRACK, True),
        ({"event": "export csv"}, TRACK, False),
        ({"event": "Export *"}, TRACK, True),
        ({"event": "Export"}, TRACK, False),
        ({"event": "Export ???"}, TRACK, True),
        ({"event": "Export ??"}, TRACK, False),
        ({"event": "*CSV"}, TRACK, True),
        ({"event": "*"}, TRACK, True),
        ({"event": "*"}, {"type": "page"}, False),  # no event name at all
        ({"event": ["API Call", "Export *"]}, TRACK, True),
        ({"event": ["API Call", "Import *"]}, TRACK, False),
        ({"event": "Export.CSV"}, TRACK, False),  # `.` is literal, not a regex
        ({"event": "Export (CSV)"}, {"type": "track", "event": "Export (CSV)"}, True),
        ({"event": "a*"}, {"type": "track", "event": "a\nb"}, True),
        ({"event": "Export *"}, {"type": "track", "event": 5}, False),
        # equality: JSON types never mix
        ({"properties.plan": "pro"}, TRACK, True),
        ({"properties.plan": "team"}, TRACK, False),
        ({"properties.count": 1}, TRACK, True),
        ({"properties.count": 1.0}, TRACK, True),
        ({"properties.count": True}, TRACK, False),
        ({"properties.count": "1"}, TRACK, False),
        ({"properties.flag": True}, TRACK, True),
        ({"properties.flag": 1}, TRACK, False),
        ({"properties.ratio": 1}, TRACK, True),
        ({"properties.none": None}, TRACK, True),
        ({"properties.missing": None}, TRACK, True),
        ({"properties.plan": None}, TRACK, False),
        ({"context.app.name": "FitTrack"}, TRACK, True),
        ({"properties.products.0.sku": "S-1"}, TRACK, True),
        ({"properties.products.1.sku": None}, TRACK, True),
        ({"userId": "u_17"}, TRACK, True),
        # a list: any of
        ({"properties.plan": ["team", "pro"]}, TRACK, True),
        ({"properties.plan": ["team", "free"]}, TRACK, False),
        ({"properties.count": ["1", True]}, TRACK, False),
        ({"properties.missing": ["x", None]}, TRACK, True),
        # exists: present and not null
        ({"properties.plan": {"exists": True}}, TRACK, True),
        ({"properties.plan": {"exists": False}}, TRACK, False),
        ({"properties.none": {"exists": True}}, TRACK, False),
        ({"properties.missing": {"exists": False}}, TRACK, True),
        ({"properties.flag": {"exists": True}}, TRACK, True),
        ({"properties": {"exists": True}}, {"type": "track"}, False),
        # in
        ({"properties.plan": {"in": ["pro", "enterprise"]}}, TRACK, True),
        ({"properties.plan": {"in": ["enterprise"]}}, TRACK, False),
        ({"properties.count": {"in": [2, 1]}}, TRACK, True),
        # not: a literal, a list, an operator mapping
        ({"properties.plan": {"not": "free"}}, TRACK, True),
        ({"properties.plan": {"not": "pro"}}, TRACK, False),
        ({"properties.plan": {"not": ["free", "pro"]}}, TRACK, False),
        ({"properties.plan": {"not": ["free", "team"]}}, TRACK, True),
        ({"properties.missing": {"not": {"exists": True}}}, TRACK, True),
        ({"properties.plan": {"not": {"matches": "^p"}}}, TRACK, False),
        ({"properties.plan": {"not": {"not": "pro"}}}, TRACK, True),
        ({"properties.missing": {"not": "x"}}, TRACK, True),
        # matches: re.search on strings only
        ({"properties.plan": {"matches": "^pr"}}, TRACK, True),
        ({"properties.plan": {"matches": "r"}}, TRACK, True),
        ({"properties.plan": {"matches": "^r"}}, TRACK, False),
        ({"properties.plan": {"matches": "^PRO$"}}, TRACK, False),
        ({"properties.plan": {"matches": "(?i)^PRO$"}}, TRACK, True),
        ({"properties.count": {"matches": "1"}}, TRACK, False),
        ({"properties.missing": {"matches": ".*"}}, TRACK, False),
        # several operators in one mapping: all must hold
        ({"properties.plan": {"exists": True, "matches": "^p", "not": "pro"}}, TRACK, False),
        ({"properties.plan": {"exists": True, "in": ["pro"], "not": "x"}}, TRACK, True),
        # every key must hold
        ({"type": "track", "event": "Export *", "properties.plan": "pro"}, TRACK, True),
        ({"type": "track", "event": "Export *", "properties.plan": "free"}, TRACK, False),
        ({"type": "page", "event": "Export *", "properties.plan": "pro"}, TRACK, False),
    ],
)
def test_condition_table(when: Any, event: Mapping[str, Any], expected: bool) -> None:
    assert _matches(when, event) is expected


@pytest.mark.parametrize(
    ("when", "key", "fragment"),
    [
        ("track", "when", "`when` must be a mapping"),
        (
            {"type": "tracks"},
            "when.type",
            "unknown event type 'tracks'; did you mean 'track'? allowed: track, identify",
        ),
        ({"type": ["track", "Page"]}, "when.type[1]", "unknown event type 'Page'"),
        ({"type": []}, "when.type", "an empty list matches nothing"),
        ({"type": 3}, "when.type", "expected event types"),
        ({"type": {"in": ["track"]}}, "when.type", "expected event types"),
        ({"event": ""}, "when.event", "a non-empty string"),
        ({"event": ["a", 1]}, "when.event[1]", "got 1"),
        ({"event": []}, "when.event", "an empty list matches nothing"),
        (
            {"evnt": "x"},
            "when.evnt",
            "unknown key; did you mean `event`? allowed: type, event, or a dotted path",
        ),
        ({"tpye": "track"}, "when.tpye", "unknown key; did you mean `type`? allowed: type"),
        ({"colour": "x"}, "when.colour", "unknown key; allowed: type, event, or a dotted path"),
        ({"propertes.plan": "x"}, "when.propertes.plan", "did you mean `properties.plan`?"),
        ({"propertes.plan": "x"}, "when.propertes.plan", "starting with one of: anonymousId"),
        ({"properties..plan": "x"}, "when.properties..plan", "is not a dotted path"),
        ({"properties.__class__": "x"}, "when.properties.__class__", "not allowed"),
        ({"properties.plan": []}, "when.properties.plan", "an empty list matches nothing"),
        ({"properties.plan": [["a"]]}, "when.properties.plan[0]", "expected a literal"),
        ({"properties.plan": {}}, "when.properties.plan", "empty operator mapping; use one of"),
        (
            {"properties.plan": {"equals": "x"}},
            "when.properties.plan.equals",
            "unknown operator; allowed: exists, in, not, matches",
        ),
        (
            {"properties.plan": {"exist": True}},
            "when.properties.plan.exist",
            "unknown operator; did you mean `exists`? allowed: exists, in, not, matches",
        ),
        ({"properties.plan": {"exists": "yes"}}, "when.properties.plan.exists", "true or false"),
        ({"properties.plan": {"in": "pro"}}, "when.properties.plan.in", "a list of literals"),
        ({"properties.plan": {"in": []}}, "when.properties.plan.in", "matches nothing"),
        ({"properties.plan": {"in": [{"a": 1}]}}, "when.properties.plan.in[0]", "a literal"),
        ({"properties.plan": {"matches": 5}}, "when.properties.plan.matches", "a regular exp"),
        (
            {"properties.plan": {"matches": "(["}},
            "when.properties.plan.matches",
            "invalid regular expression '([': unterminated character set at position 1",
        ),
        (
            {"properties.plan": {"not": {"matches": "*"}}},
            "when.properties.plan.not.matches",
            "invalid regular expression '*': nothing to repeat at position 0",
        ),
        ({"properties.plan": {"not": {}}}, "when.properties.plan.not", "empty operator mapping"),
    ],
)
def test_condition_errors(when: Any, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        compile_condition(when, _locate)
    message = caught.value.message
    assert message.startswith(f"r.yaml:7: key `{key}`: "), message
    assert fragment in message


def test_every_error_of_a_when_at_once() -> None:
    when = {
        "tpye": "track",
        "event": ["a", 1, 2],
        "properties.plan": {"exist": True, "in": "pro", "matches": "("},
        "type": ["track", "Page"],
    }
    with pytest.raises(ConfigError) as caught:
        compile_condition(when, _locate)
    assert [error.message.split(": ", 2)[1] for error in caught.value.errors] == [
        "key `when.tpye`",
        "key `when.event[1]`",
        "key `when.event[2]`",
        "key `when.properties.plan.exist`",
        "key `when.properties.plan.in`",
        "key `when.properties.plan.matches`",
        "key `when.type[1]`",
    ]
    assert "did you mean `type`?" in caught.value.errors[0].message
    assert "did you mean 'page'?" in caught.value.errors[-1].message
    assert caught.value.message.startswith("7 errors in the config:\n  r.yaml:7: key `when.tpye`")


def test_condition_summary() -> None:
    condition = compile_condition({"type": ["track"], "properties.plan": {"exists": True}}, _locate)
    assert condition.summary == 'type: ["track"]; properties.plan: {"exists":true}'
    assert condition.types == frozenset({"track"})
    assert compile_condition(None, _locate).summary == "every event"


# --- matching routes -------------------------------------------------------------------------


def _fake_parse_options(raw: Mapping[str, Any], where: Any) -> dict[str, Any]:
    return dict(raw)


@pytest.fixture
def fake_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    use_loose_kinds(monkeypatch, _fake_parse_options)


CONFIG = """\
version: 1
destinations:
  mixpanel: {kind: mixpanel}
  staging: {kind: mixpanel}
  billing: {kind: lago}
routes:
  - name: analytics
    to: mixpanel
    when: {type: [track, page, identify]}
  - name: staging-all
    to: staging
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
  - name: exports-again
    to: mixpanel
    when: {event: "Export *"}
"""


@pytest.fixture
def config(fake_kinds: None) -> Config:
    return parse_config(CONFIG, "routes.yaml")


EXPORT = {
    "type": "track",
    "event": "Export CSV",
    "messageId": "m-l2-0002",
    "userId": "u_17",
    "properties": {"plan": "pro", "subscription_id": "sub_881", "bytes": 2048},
}


def _decisions(config: Config, event: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    return [(d.route.name, d.skipped) for d in matching_routes(config, event)]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            EXPORT,
            [
                ("analytics", None),
                ("staging-all", None),
                ("api-usage", None),
                ("exports-again", None),
            ],
        ),
        (
            {**EXPORT, "properties": {}},
            [("analytics", None), ("staging-all", None), ("exports-again", None)],
        ),
        ({"type": "alias", "userId": "a", "previousId": "b"}, [("staging-all", None)]),
        ({"type": "page", "anonymousId": "x"}, [("analytics", None), ("staging-all", None)]),
        ({"type": "bogus"}, []),
        ({}, []),
    ],
)
def test_matching_routes_in_config_order(
    config: Config, event: Mapping[str, Any], expected: list[tuple[str, str | None]]
) -> None:
    assert _decisions(config, event) == expected


def test_routes_know_their_qualifier_and_types(config: Config) -> None:
    by_name = {route.name: route for route in config.routes}
    assert by_name["analytics"].qualifier is None
    assert by_name["staging-all"].qualifier is None
    assert by_name["api-usage"].qualifier is None
    assert by_name["exports-again"].qualifier == "exports-again"
    assert by_name["staging-all"].types == frozenset(
        {"track", "identify", "page", "screen", "group", "alias"}
    )
    assert by_name["exports-again"].types == by_name["staging-all"].types
    assert by_name["analytics"].types == frozenset({"track", "page", "identify"})
    assert [route.index for route in config.routes] == [0, 1, 2, 3]


def test_route_info_renders_the_map(config: Config) -> None:
    usage = config.routes[2]
    info = route_info(usage, EXPORT)
    assert info.name == "api-usage"
    assert info.qualifier is None
    assert info.overrides == {
        "code": "api_calls",
        "external_subscription_id": "sub_881",
        "properties": {"gb": 2048},
    }
    again = route_info(config.routes[3], EXPORT)
    assert (again.qualifier, dict(again.overrides)) == ("exports-again", {})


INTEGRATION_CASES: list[tuple[dict[str, Any], dict[str, str | None]]] = [
    ({}, {"mixpanel": None, "billing": None}),
    ({"All": True}, {"mixpanel": None, "billing": None}),
    (
        {"All": False},
        {
            "mixpanel": "integrations: All is false and none of mixpanel, Mixpanel, "
            "Mixpanel (Actions) is set",
            "billing": "integrations: All is false and none of billing, Lago is set",
        },
    ),
    (
        {"All": False, "Mixpanel": True},
        {
            "mixpanel": None,
            "billing": "integrations: All is false and none of billing, Lago is set",
        },
    ),
    (
        {"All": False, "Mixpanel (Actions)": {"opt": 1}},
        {
            "mixpanel": None,
            "billing": "integrations: All is false and none of billing, Lago is set",
        },
    ),
    ({"All": False, "mixpanel": True, "Lago": True}, {"mixpanel": None, "billing": None}),
    ({"Mixpanel": False}, {"mixpanel": "integrations: Mixpanel is false", "billing": None}),
    (
        {"Mixpanel (Actions)": False},
        {"mixpanel": "integrations: Mixpanel (Actions) is false", "billing": None},
    ),
    ({"mixpanel": False}, {"mixpanel": "integrations: mixpanel is false", "billing": None}),
    ({"Lago": False, "All": True}, {"mixpanel": None, "billing": "integrations: Lago is false"}),
    ({"billing": False}, {"mixpanel": None, "billing": "integrations: billing is false"}),
    # explicit keys beat All; when they disagree, off wins
    (
        {"All": True, "Mixpanel": True, "Mixpanel (Actions)": False},
        {"mixpanel": "integrations: Mixpanel (Actions) is false", "billing": None},
    ),
    (
        {"All": False, "mixpanel": False, "Mixpanel": True},
        {
            "mixpanel": "integrations: mixpanel is false",
            "billing": "integrations: All is false and none of billing, Lago is set",
        },
    ),
    # names are case-sensitive; other destinations' keys do not matter
    ({"MIXPANEL": False, "lago": False, "Salesforce": False}, {"mixpanel": None, "billing": None}),
    # only `false` is off (Segment: `=== false`)
    ({"Mixpanel": 0, "Lago": None, "All": False}, {"mixpanel": None, "billing": None}),
]


@pytest.mark.parametrize(("integrations", "expected"), INTEGRATION_CASES)
def test_integrations_opt_out(
    config: Config, integrations: dict[str, Any], expected: dict[str, str | None]
) -> None:
    event = {**EXPORT, "integrations": integrations}
    decisions = {
        d.route.to: d.skipped for d in matching_routes(config, event) if d.route.to in expected
    }
    assert decisions == expected


def test_staging_destination_is_matched_by_its_own_name(config: Config) -> None:
    event = {**EXPORT, "integrations": {"staging": False}}
    assert dict(_decisions(config, event)) == {
        "analytics": None,
        "staging-all": "integrations: staging is false",
        "api-usage": None,
        "exports-again": None,
    }


def test_respect_integrations_false_ignores_them(fake_kinds: None) -> None:
    config = parse_config(CONFIG + "respect_integrations: false\n", "routes.yaml")
    event = {**EXPORT, "integrations": {"All": False}}
    assert [skipped for _name, skipped in _decisions(config, event)] == [None] * 4


def test_integrations_that_are_not_an_object_are_ignored(config: Config) -> None:
    event = {**EXPORT, "integrations": ["All"]}
    assert [skipped for _name, skipped in _decisions(config, event)] == [None] * 4


@pytest.mark.parametrize(
    ("kind", "keys"),
    [
        ("mixpanel", ("prod", "Mixpanel", "Mixpanel (Actions)")),
        ("lago", ("prod", "Lago")),
    ],
)
def test_integration_keys(fake_kinds: None, kind: str, keys: tuple[str, ...]) -> None:
    text = (
        f"version: 1\ndestinations:\n  prod: {{kind: {kind}}}\nroutes:\n  - {{name: r, to: prod}}\n"
    )
    assert parse_config(text, "c.yaml").destinations["prod"].integration_keys == keys


def test_integrations_opt_out_directly() -> None:
    assert integrations_opt_out({"All": False, "Lago": {}}, ("b", "Lago")) is None
    assert integrations_opt_out({"b": False, "Lago": True}, ("b", "Lago")) == (
        "integrations: b is false"
    )


def test_many_events_route_quickly(config: Config) -> None:
    """200k events through four routes: comfortably fast (a loose bound, not a benchmark)."""
    import time

    events = [
        {**EXPORT, "event": f"Export {i % 7}", "integrations": {"Mixpanel": i % 2 == 0}}
        for i in range(20_000)
    ]
    start = time.perf_counter()
    total = 0
    for event in events:
        total += len(matching_routes(config, event))
    elapsed = time.perf_counter() - start
    assert total == 80_000
    assert elapsed < 2.0, f"{elapsed:.2f}s for 20k events"


def test_glob_special_characters_are_literal() -> None:
    condition = compile_condition({"event": "a+b [x] *"}, _locate)
    assert condition.matches({"event": "a+b [x] anything"})
    assert not condition.matches({"event": "aab [x] y"})
    assert condition.event_pattern is not None
    assert re.escape("a+b") in condition.event_pattern.pattern


_json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6)
)
_json = st.recursive(
    _json_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["a", "plan", "0", "All", "Mixpanel", "Lago"]), children, max_size=3
        )
    ),
    max_leaves=10,
)
_events = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["track", "page", "alias"]) | _json,
        "event": st.sampled_from(["Export CSV", "API Call"]) | _json,
        "properties": _json,
        "integrations": _json,
        "context": _json,
    },
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(event=_events)
def test_any_event_routes_without_error(config: Config, event: dict[str, Any]) -> None:
    decisions = matching_routes(config, event)
    assert [d.route.index for d in decisions] == sorted(d.route.index for d in decisions)
    for decision in decisions:
        assert decision.route.when.matches(event)
        assert decision.skipped is None or decision.skipped.startswith("integrations: ")
        route_info(decision.route, event)
