"""The `{{ path }}` evaluator: forms, types, defaults, errors, and that it never crashes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdpcli.errors import ConfigError
from cdpcli.routing.template import compile_path, compile_value

EVENT: dict[str, Any] = {
    "type": "track",
    "event": "Export CSV",
    "userId": "u_17",
    "properties": {
        "bytes": 2048,
        "ratio": 0.5,
        "cached": False,
        "plan": "pro",
        "region": None,
        "tags": ["a", "b"],
        "nested": {"k": "v", "n": [1, {"x": 2}]},
        "$os": "iOS",
        "first-name": "Lena",
        "0": "zero-key",
        "empty": "",
    },
    "products": [{"sku": "S-1", "price": 9.5}, {"sku": "S-2"}],
    "context": {"page": {"url": "https://app.example.com/r"}},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # exactly one placeholder: the JSON type of what it reads
        ("{{ properties.bytes }}", 2048),
        ("{{properties.bytes}}", 2048),
        ("{{   properties.bytes\t}}", 2048),
        ("{{ properties.ratio }}", 0.5),
        ("{{ properties.cached }}", False),
        ("{{ properties.plan }}", "pro"),
        ("{{ properties.tags }}", ["a", "b"]),
        ("{{ properties.nested }}", {"k": "v", "n": [1, {"x": 2}]}),
        ("{{ properties.region }}", None),
        ("{{ properties.missing }}", None),
        ("{{ nothing.at.all }}", None),
        ("{{ properties.empty }}", ""),
        ("{{ context.page.url }}", "https://app.example.com/r"),
        ("{{ products.0.sku }}", "S-1"),
        ("{{ products.1.sku }}", "S-2"),
        ("{{ products.1.price }}", None),
        ("{{ products.2.sku }}", None),
        ("{{ properties.nested.n.1.x }}", 2),
        ("{{ properties.0 }}", "zero-key"),  # a digit segment on a mapping is a key
        ("{{ properties.$os }}", "iOS"),
        ("{{ properties.first-name }}", "Lena"),
        ("{{ properties.plan.0 }}", None),  # strings are not indexable
        ("{{ properties.bytes.x }}", None),
        ("{{ userId }}", "u_17"),
        # interpolation: strings as they are, null/missing as "", the rest as compact JSON
        ("id-{{ userId }}", "id-u_17"),
        ("{{ userId }}:{{ event }}", "u_17:Export CSV"),
        (" {{ userId }}", " u_17"),
        ("n={{ properties.bytes }}", "n=2048"),
        ("r={{ properties.ratio }}", "r=0.5"),
        ("c={{ properties.cached }}", "c=false"),
        ("t={{ properties.tags }}", 't=["a","b"]'),
        ("o={{ properties.nested }}", 'o={"k":"v","n":[1,{"x":2}]}'),
        ("m=[{{ properties.missing }}]", "m=[]"),
        ("r=[{{ properties.region }}]", "r=[]"),
        # defaults: JSON literals, quoted strings, bare words; used for missing and null
        ("{{ properties.missing | default: 0 }}", 0),
        ("{{ properties.missing | default: -1.5 }}", -1.5),
        ("{{ properties.missing | default: 1e3 }}", 1000.0),
        ("{{ properties.missing | default: true }}", True),
        ("{{ properties.missing | default: false }}", False),
        ("{{ properties.missing | default: null }}", None),
        ("{{ properties.missing | default: unknown }}", "unknown"),
        ("{{ properties.missing | default: api_calls }}", "api_calls"),
        ("{{ properties.missing | default: https://x.example/a }}", "https://x.example/a"),
        ('{{ properties.missing | default: "n/a" }}', "n/a"),
        ('{{ properties.missing | default: "say \\"hi\\"" }}', 'say "hi"'),
        ("{{ properties.missing | default: 'two words' }}", "two words"),
        ("{{ properties.missing | default: [1, 2] }}", [1, 2]),
        ('{{ properties.missing | default: {"a": {"b": 1}} }}', {"a": {"b": 1}}),
        ("{{ properties.missing|default:7}}", 7),
        ("{{ properties.region | default: eu }}", "eu"),
        ("{{ properties.cached | default: true }}", False),  # false is a value, not missing
        ("{{ properties.empty | default: x }}", ""),  # so is ""
        ("{{ properties.bytes | default: 0 }}", 2048),
        ("gb={{ properties.missing | default: 0 }}", "gb=0"),
        ("v={{ properties.missing | default: 'a b' }}", "v=a b"),
        # no placeholder: the string itself; braces that are not `{{` are text
        ("api_calls", "api_calls"),
        ("", ""),
        ("}} {x} { {", "}} {x} { {"),
        ("{% if x %}", "{% if x %}"),
    ],
)
def test_render_forms(source: str, expected: Any) -> None:
    result = compile_value(source).render(EVENT)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (42, 42),
        (1.5, 1.5),
        (True, True),
        (None, None),
        (
            {
                "code": "api_calls",
                "props": {"gb": "{{ properties.bytes }}", "x": [1, "{{ userId }}"]},
            },
            {"code": "api_calls", "props": {"gb": 2048, "x": [1, "u_17"]}},
        ),
        (["{{ properties.missing }}", "{{ event }}"], [None, "Export CSV"]),
        ({}, {}),
    ],
)
def test_render_structures(source: Any, expected: Any) -> None:
    template = compile_value(source)
    assert template.render(EVENT) == expected
    assert template.source == source


def test_render_gives_fresh_containers() -> None:
    template = compile_value({"a": {"b": "{{ userId }}"}})
    first = template.render(EVENT)
    first["a"]["b"] = "changed"
    assert template.render(EVENT) == {"a": {"b": "u_17"}}


def test_keys_lists_mapping_keys() -> None:
    assert compile_value({"code": "x", "properties": {}}).keys() == ("code", "properties")
    assert compile_value("{{ userId }}").keys() == ()


def test_render_on_non_mapping_event_values() -> None:
    template = compile_value("{{ a.0.b }}")
    assert template.render({"a": "text"}) is None
    assert template.render({"a": [{"b": 1}]}) == 1
    assert template.render({"a": [[1]]}) is None


@pytest.mark.parametrize(
    ("source", "column", "fragment"),
    [
        ("{{ }}", 4, "expected a dotted path, found '}'"),
        ("{{}}", 3, "expected a dotted path"),
        ("{{ properties.bytes() }}", 20, "expected `}}`, found '('"),
        ("{{ a[0] }}", 5, "expected `}}`, found '['"),
        ("{{ a + b }}", 6, "expected `}}`, found '+'"),
        ("{{ 7*7 }}", 5, "expected `}}`, found '*'"),
        ("{{ ''.join([]) }}", 4, 'expected a dotted path, found "\'"'),
        ("{{ a | upper }}", 8, "the only filter is `default`"),
        ("{{ a | default }}", 16, "expected `:` after `default`"),
        ("{{ a | default: }}", 17, "unexpected '}' where a default value belongs"),
        ("{{ a | default: 'x }}", 17, "unterminated quoted string"),
        ('{{ a | default: "x }}', 17, "malformed JSON default value"),
        ('{{ a | default: {"a": NaN} }}', 17, "malformed JSON default value"),
        ("{{ a | default: foo() }}", 20, "expected `}}`, found '('"),
        ("{{ a | default: 1 2 }}", 19, "expected `}}`, found '2'"),
        ("{{ a | default: x | default: y }}", 19, "expected `}}`, found '|'"),
        ("{{ a", 5, "expected `}}`, found the end of the text"),
        ("x {{ a }} {{ b", 15, "expected `}}`, found the end of the text"),
        ("{{ a.b c }}", 8, "expected `}}`, found 'c'"),
        ("{{ .a }}", 4, "expected a dotted path, found '.'"),
        ("{{ a. }}", 5, "expected `}}`, found '.'"),
        ("{{ a..b }}", 5, "expected `}}`, found '.'"),
        ("{{ x.__class__ }}", 4, "'__class__' is not allowed"),
        ("{{ __import__ }}", 4, "'__import__' is not allowed"),
        ("{{ self.__init__.__globals__ }}", 4, "'__init__' is not allowed"),
        ("{{ a | default: 1e999 }}", 17, "out of range"),
        ("{{ {{ a }} }}", 4, "expected a dotted path, found '{'"),
    ],
)
def test_compile_errors_name_the_column(source: str, column: int, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        compile_value(source, "f.yaml:3: key `routes[0].map.code`")
    message = caught.value.message
    assert message.startswith("f.yaml:3: key `routes[0].map.code`")
    assert fragment in message
    if "is not allowed" not in fragment:
        assert f"template error at column {column}:" in message


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ({1: "x"}, "mapping key 1 is not a string"),
        ({"a": {True: "x"}}, "mapping key True is not a string"),
        (float("nan"), "not a JSON number"),
        ({"a": [1, float("inf")]}, "not a JSON number"),
        ({"a": b"bytes"}, "a bytes is not a JSON value"),
        ({"a": {1, 2}}, "a set is not a JSON value"),
        ({"a": {"b": ["ok", "{{ a() }}"]}}, "template error at column 5"),
    ],
)
def test_compile_value_errors(source: Any, fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        compile_value(source)


def test_locator_receives_the_nested_key() -> None:
    seen: list[str] = []

    def locate(sub: str) -> str:
        seen.append(sub)
        return f"c.yaml:9: key `map.{sub}`" if sub else "c.yaml:8: key `map`"

    with pytest.raises(ConfigError) as caught:
        compile_value({"properties": {"gb": ["{{ ok }}", "{{ bad( }}"]}}, locate)
    assert caught.value.message.startswith("c.yaml:9: key `map.properties.gb[1]`: template error")
    assert "properties.gb[1]" in seen


def test_default_where_prefix_shows_the_nested_key() -> None:
    with pytest.raises(ConfigError, match=r"^template `a\.b`: template error at column 4"):
        compile_value({"a": {"b": "{{ ! }}"}})


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("properties.plan", True),
        ("products.0.sku", True),
        ("$os", True),
        ("a-b.c_d", True),
        ("", False),
        ("a.", False),
        ("a b", False),
        ("a[0]", False),
        ("a.__dict__", False),
    ],
)
def test_compile_path(path: str, ok: bool) -> None:
    if ok:
        assert compile_path(path)({}) is None
    else:
        with pytest.raises(ConfigError):
            compile_path(path)


# --- properties ------------------------------------------------------------------------------

_TEMPLATE_ALPHABET = st.sampled_from(
    [*"{}|:.'\"[]()_ 0123456789abcdefxyz-$@\\,*+!\t\n", "{{", "}}", "default", "| default:"]
)
_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_json = st.recursive(
    _json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(source=st.lists(_TEMPLATE_ALPHABET, max_size=30).map("".join), event=_json)
def test_any_string_compiles_or_is_a_config_error(source: str, event: Any) -> None:
    try:
        template = compile_value(source)
    except ConfigError as error:
        assert "template error" in error.message or "is not allowed" in error.message
        return
    result = template.render(event if isinstance(event, dict) else {"x": event})
    if "{{" not in source:
        assert result == source


_segment = st.from_regex(r"[a-z_$][a-z0-9_$-]{0,6}", fullmatch=True).filter(
    lambda s: not s.startswith("__")
)


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(_segment, min_size=1, max_size=4), value=_json)
def test_a_path_reads_back_what_is_there(keys: list[str], value: Any) -> None:
    event: Any = value
    for key in reversed(keys):
        event = {key: event}
    path = ".".join(keys)
    assert compile_value("{{ " + path + " }}").render(event) == value
    if value is None:
        assert compile_value("{{ " + path + " | default: 5 }}").render(event) == 5
    text = compile_value("<{{ " + path + " }}>").render(event)
    assert isinstance(text, str)
    assert text.startswith("<")
    assert text.endswith(">")
