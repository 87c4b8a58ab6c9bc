"""Hostile configs and templates: each ends in a ConfigError naming FILE:LINE, or a correct result.

Alias bombs, huge and deep documents, Python tags, non-string keys, template text that tries
attribute access or code, and arbitrary values in every position of a valid config. Nothing may
raise anything but `ConfigError`, nothing may run code, and every error names the file and line.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdpcli import jsonio
from cdpcli.errors import ConfigError
from cdpcli.routing.conditions import compile_condition
from cdpcli.routing.config import Config, load_config, parse_config
from cdpcli.routing.router import matching_routes
from cdpcli.routing.template import compile_value

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOURCE = "fuzz.yaml"
WHERE = re.compile(rf"^{re.escape(SOURCE)}:(\d+)(:|$)")

BASE: dict[str, Any] = {
    "version": 1,
    "destinations": {
        "mixpanel": {"kind": "mixpanel", "project_id": "3141592", "region": "us"},
        "billing": {"kind": "lago", "api_url": "https://api.getlago.com"},
    },
    "routes": [
        {"name": "analytics", "to": "mixpanel", "when": {"type": ["track", "page"]}},
        {
            "name": "usage",
            "to": "billing",
            "when": {"type": "track", "event": ["API *"], "properties.plan": {"exists": True}},
            "map": {
                "code": "api_calls",
                "external_subscription_id": "{{ properties.subscription_id }}",
                "properties": {"gb": "{{ properties.bytes | default: 0 }}"},
            },
        },
    ],
}
EVENT = {
    "type": "track",
    "event": "API Call",
    "userId": "u1",
    "messageId": "m1",
    "timestamp": "2024-05-01T00:00:00Z",
    "properties": {"plan": "pro", "subscription_id": "sub_1", "bytes": 2048},
}


def outcome(text: str) -> Config | ConfigError:
    """Parse `text`; the only failure allowed is a ConfigError whose every error names
    FILE:LINE."""
    try:
        return parse_config(text, SOURCE)
    except ConfigError as error:
        for one in error.errors:  # each error found, when the config has several
            match = WHERE.match(one.message)
            assert match is not None, f"no FILE:LINE in {one.message!r}"
            assert 1 <= int(match.group(1)) <= max(text.count("\n") + 2, 2) + text.count("\x85")
        return error


def assert_refused(text: str, *fragments: str) -> ConfigError:
    result = outcome(text)
    assert isinstance(result, ConfigError), "expected a ConfigError"
    for fragment in fragments:
        assert fragment in result.message
    return result


def test_base_config_is_valid_and_routes() -> None:
    config = outcome(yaml.safe_dump(BASE))
    assert isinstance(config, Config)
    assert [d.route.name for d in matching_routes(config, EVENT)] == ["analytics", "usage"]


# --- YAML bombs, size and depth -----------------------------------------------------------------

BILLION_LAUGHS = """\
version: 1
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (BILLION_LAUGHS, 3, "YAML aliases (*a) are not supported"),
        ("version: 1\nx: &x {a: 1}\ny: {<<: *x}\n", 3, "aliases"),
        ("&r [*r]\n", 1, "aliases"),  # a self-referencing alias
        ("version: 1\nroutes: [" + "[" * 10_000 + "]" * 10_000 + "]\n", 2, ""),
        ("version: 1\nroutes: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n", 2, ""),
        (
            "version: 1\nroutes:" + "".join("\n" + "  " * n + "- " for n in range(1, 200)) + "x\n",
            0,
            "",
        ),
        ("version: !!python/object:os.system {}\n", 1, "unsupported YAML tag"),
        ("version: !!python/object/apply:os.system ['true']\n", 1, "unsupported YAML tag"),
        ("version: !!python/name:builtins.eval\n", 1, "unsupported YAML tag"),
        ("!!python/object/new:dict {}\n", 1, "unsupported YAML tag"),
        ("version: !!binary aGVsbG8=\n", 1, "unsupported YAML tag"),
        ("version: !!set {a, b}\n", 1, "unsupported YAML tag"),
        ("version: !!omap [{a: 1}]\n", 1, "unsupported YAML tag"),
        ("version: !custom 1\n", 1, "unsupported YAML tag"),
        ("version: .nan\n", 1, "not a finite number"),
        ("version: 1\n1: x\n", 2, "not a string"),
        ("version: 1\nyes: x\n", 2, "not a string"),
        ("version: 1\nnull: x\n", 2, "not a string"),
        ("version: 1\n[a, b]: x\n", 2, "not a string"),
        ("version: 1\n? {a: 1}\n: x\n", 2, "not a string"),
        ("version: 1\nversion: 1\n", 2, "duplicate key"),
        ('version: 1\nd: "\\ud800"\n', 2, "lone surrogate"),
        ('version: 1\n"\\udfff": 1\n', 2, "lone surrogate"),
        ("version: 1\nd: x\x00\n", 2, "U+0000"),
        ("version: 1\nd: \x1b[31m\n", 2, "U+001B"),
        ("version: 1\n---\nversion: 1\n", 2, ""),
        ("", 1, "empty"),
        ("# only a comment\n", 1, "empty"),
        ("- a\n- b\n", 1, "must be a mapping"),
        ("'unterminated\n", 0, "invalid YAML"),
        ("\t- tab\n", 0, "invalid YAML"),
    ],
)
def test_hostile_yaml_is_a_config_error_with_its_line(text: str, line: int, fragment: str) -> None:
    started = time.perf_counter()
    error = assert_refused(text, fragment)
    assert time.perf_counter() - started < 5
    match = WHERE.match(error.message)
    assert match is not None
    if line:
        assert int(match.group(1)) == line, error.message


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"version: 1\n" + b"# padding\n" * 200_000, "larger than"),
        (b"version: 1\nd: \xff\n", "fuzz.yaml:2: the config is not UTF-8"),
        (b"\xef\xbb\xbfversion: 1\n", "missing key `destinations`"),
        (b"version: 1\n" + b"k" * 900_000 + b": 1\n", ""),
    ],
)
def test_huge_and_undecodable_files(workdir: Path, content: bytes, fragment: str) -> None:
    path = workdir / SOURCE
    path.write_bytes(content)
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert time.perf_counter() - started < 10
    assert caught.value.message.startswith(str(path))
    assert fragment.replace("fuzz.yaml", str(path)) in caught.value.message


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text_is_a_config_or_a_located_error(text: str) -> None:
    outcome(text)


yaml_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "{{ __class__ }}",
            "{{ a.__init__ }}",
            "{{ x | attr }}",
            "{% import os %}",
            "{{ (1).real }}",
            "{{ lambda: 1 }}",
            "{{ __import__('os') }}",
            "*",
            "mixpanel",
            "billing",
            "track",
            "{exists: true}",
            "${HOME}",
        ]
    )
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.text(max_size=10) | st.sampled_from(["exists", "in", "not", "matches"]),
            children,
            max_size=3,
        )
    ),
    max_leaves=8,
)


def _positions(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _positions(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _positions(child, (*path, index))


POSITIONS = [path for path in _positions(BASE) if path]


def _replaced(path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    config = orjson.loads(orjson.dumps(BASE))
    node = config
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = new
    return config


@FUZZ
@given(st.sampled_from(POSITIONS), yaml_values)
def test_any_value_in_any_position(path: tuple[Any, ...], new: Any) -> None:
    """Every config position given an arbitrary value: a working config, or a located error."""
    text = yaml.safe_dump(_replaced(path, new), allow_unicode=True)
    result = outcome(text)
    if isinstance(result, Config):
        for decision in matching_routes(result, EVENT):
            if decision.route.map is not None:
                orjson.loads(jsonio.dumps_bytes(decision.route.map.render(EVENT)))


OPERATORS = frozenset({"exists", "in", "not", "matches"})


def _keys_of(parent: tuple[Any, ...]) -> str:
    """What keys a mapping of BASE takes: any ("open": a Lago map's properties), some that
    depend on the key ("keyed": `when` takes event paths, `map` its destination's fields), or a
    closed set (the root, a destination, a route, an operator mapping)."""
    if parent[-2:] == ("map", "properties"):
        return "open"
    if parent and parent[-1] in ("when", "map"):
        return "keyed"
    return "closed"


@FUZZ
@given(st.sampled_from(POSITIONS), st.text(min_size=1, max_size=10))
def test_any_new_key_in_any_mapping(path: tuple[Any, ...], key: str) -> None:
    """A new key: refused (located) where the keys are a closed set, taken where any is."""
    parent = path[:-1]
    config = orjson.loads(orjson.dumps(BASE))
    node: Any = config
    for part in parent:
        node = node[part]
    if not isinstance(node, dict) or key in node:
        return
    node[key] = "x"
    result = outcome(yaml.safe_dump(config, allow_unicode=True))
    keys = _keys_of(parent)
    if keys == "open":
        assert isinstance(result, Config), result
    elif keys == "closed" and key not in OPERATORS:
        assert isinstance(result, ConfigError), f"{key!r} accepted under {parent}"


# --- templates ----------------------------------------------------------------------------------

CODE_TEMPLATES = [
    "{{ __class__ }}",
    "{{ a.__init__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ x | attr }}",
    "{{ x | attr('__class__') }}",
    "{{ x|default: 1|attr }}",
    "{{ (1).real }}",
    "{{ x.real() }}",
    "{{ x[0] }}",
    "{{ x['a'] }}",
    "{{ lambda: 1 }}",
    "{{ __import__('os').system('true') }}",
    "{{ import os }}",
    "{{ x + 1 }}",
    "{{ x if y else z }}",
    "{{ {'a': 1} }}",
    "{{ }}",
    "{{",
    "{{ x",
    "{{ x }",
    "{{ x | default }}",
    "{{ x | default: }}",
    "{{ x | default: 'open }}",
    '{{ x | default: "\\ud800" }}',
    '{{ x | default: {"a": NaN} }}',
    "{{ x | default: 1e999 }}",
    "{{ x | default: " + "[" * 5000 + "]" * 5000 + " }}",
    "{{ x.__dict__ }}",
]


@pytest.mark.parametrize("template", CODE_TEMPLATES)
def test_code_like_templates_are_refused_at_their_line(template: str) -> None:
    config = _replaced(("routes", 1, "map", "external_subscription_id"), template)
    error = assert_refused(yaml.safe_dump(config, width=100_000), "routes[1].map")
    assert "template error" in error.message or "not allowed" in error.message


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("{% for x in y %}{% endfor %}", "{% for x in y %}{% endfor %}"),  # no `{{`: plain text
        ("{% import os %}", "{% import os %}"),
        ("{{ properties.mro }}-{{ type.real }}", "-"),  # dotted paths read keys, never attributes
        ("{{ properties.plan.upper }}", None),
        ("{{ properties.bytes.real | default: 'none' }}", "none"),
    ],
)
def test_code_like_text_that_compiles_is_inert(template: str, rendered: Any) -> None:
    config = _replaced(("routes", 1, "map", "external_subscription_id"), template)
    parsed = outcome(yaml.safe_dump(config, width=100_000))
    assert isinstance(parsed, Config)
    route = parsed.routes[1]
    assert route.map is not None
    assert route.map.render(EVENT)["external_subscription_id"] == rendered


@FUZZ
@given(st.text(max_size=60))
def test_arbitrary_template_text_compiles_or_is_refused(text: str) -> None:
    try:
        template = compile_value({"a": text, "b": [text, "{{ " + text + " }}"]}, "where")
    except ConfigError as error:
        assert error.message.startswith("where")
        return
    rendered = template.render(EVENT)
    orjson.loads(jsonio.dumps_bytes(rendered))


event_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)


@FUZZ
@given(
    st.sampled_from(
        [
            "{{ properties.a }}",
            "x{{ properties.a.b }}y",
            "{{ properties.0 | default: [1] }}",
            "{{ context | default: 'n/a' }}",
            "{{ a.b.c.d.e.f }}-{{ type }}",
        ]
    ),
    event_json,
)
def test_rendering_never_raises_on_any_event(template: str, event: Any) -> None:
    compiled = compile_value(template)
    rendered = compiled.render(event if isinstance(event, dict) else {"properties": event})
    orjson.loads(jsonio.dumps_bytes(rendered))


@FUZZ
@given(yaml_values)
def test_arbitrary_when_is_a_condition_or_a_located_error(raw: Any) -> None:
    def locate(path: tuple[str | int, ...]) -> str:
        return f"{SOURCE}:7: key `when{''.join(f'.{p}' for p in path)}`"

    try:
        condition = compile_condition(raw, locate)
    except ConfigError as error:
        for one in error.errors:
            assert one.message.startswith(f"{SOURCE}:7: key `when"), one.message
        return
    assert condition.matches(EVENT) in (True, False)


@pytest.mark.parametrize("glob", ["*a*a*a*a*b", "*a*b*", "?*?*?*?*?*!", "API*Call*Export*Done"])
def test_event_globs_match_hostile_names_in_linear_time(glob: str) -> None:
    """A glob with several `*` must not backtrack through every split of a long event name."""
    config = _replaced(("routes", 0, "when"), {"event": [glob]})
    parsed = outcome(yaml.safe_dump(config))
    assert isinstance(parsed, Config)
    name = "a" * 30_000
    started = time.perf_counter()
    for _ in range(5):
        assert matching_routes(parsed, {**EVENT, "event": name}) == []
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize(
    ("glob", "name", "matches"),
    [
        ("*a*b*", "xaxbx", True),
        ("*a*b*", "xbxax", False),
        ("a*b", "ab", True),
        ("a*b", "aXXb", True),
        ("a*b", "aXXbc", False),
        ("*ab*ab", "abab", True),
        ("*ab*ab", "ababab", True),
        ("*ab*ab", "abXab", True),
        ("*ab*ab", "aab", False),
        ("?*?", "ab", True),
        ("?*?", "a", False),
        ("*a?c*", "xxabcxx", True),
        ("*a?c*", "xxacxx", False),
        ("a+b*", "a+bc", True),
        ("a+b*", "aab", False),
        ("**", "", True),
        ("*x*x*", "xx", True),
        ("*x*x*", "x", False),
    ],
)
def test_globs_still_match_exactly(glob: str, name: str, matches: bool) -> None:
    config = _replaced(("routes", 0, "when"), {"event": [glob]})
    parsed = outcome(yaml.safe_dump(config))
    assert isinstance(parsed, Config)
    routes = [d.route.name for d in matching_routes(parsed, {**EVENT, "event": name})]
    assert ("analytics" in routes) is matches
