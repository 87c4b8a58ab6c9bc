"""The track-property table (reference/mixpanel.md §2.1) as data: its rows pinned, and its compiled
form proven equal to the loop that reads it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdpcli.destinations.mixpanel.fields import (
    Computed,
    Empty,
    Field,
    Given,
    check_loop,
    compile_check,
    compile_fields,
    loop_reader,
    read_fields,
    read_path,
)
from cdpcli.destinations.mixpanel.properties import (
    TRACK_FIELDS,
    TRACK_GIVENS,
    track_check,
    track_fields,
    track_fields_loop,
)

DROP, DROP_NULL, KEEP = Empty.DROP, Empty.DROP_NULL, Empty.KEEP


def describe(source: Any) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, Given):
        return f"given {source.name}"
    inputs = ", ".join(describe(name) for name in source.inputs)
    pick = "" if source.pick is None else f"[{source.pick}]"
    return f"{source.function.__name__}({inputs}){pick}"


# Every row: key (in §2.1's order), source, empty rule, declared type (§2.6).
ROWS = [
    ("time", "given time_ms", KEEP, None),
    ("ip", "ip_or_zero(context.ip, given properties)", DROP, "string"),
    ("id", "given did", DROP, "string"),
    ("$anon_id", "given anon_id", DROP, "string"),
    ("distinct_id", "given did", KEEP, "string"),
    ("$app_build_number", "context.app.build", DROP, "string"),
    ("$app_version_string", "context.app.version", DROP, "string"),
    ("$app_namespace", "context.app.namespace", DROP, "string"),
    ("$app_name", "context.app.name", DROP, "string"),
    ("$browser", "user_agent(context.userAgent)[0]", DROP, "string"),
    ("$browser_version", "user_agent(context.userAgent)[1]", DROP, "string"),
    ("$bluetooth_enabled", "context.network.bluetooth", DROP, "boolean"),
    ("$cellular_enabled", "context.network.cellular", DROP, "boolean"),
    ("$carrier", "context.network.carrier", DROP, "string"),
    ("$current_url", "context.page.url", DROP, "string"),
    ("$device", "context.device.name", DROP, "string"),
    ("$device_id", "given anon_id", DROP, "string"),
    ("$device_type", "context.device.type", DROP, "string"),
    ("$device_name", "context.device.name", DROP, "string"),
    ("$group_id", "context.groupId", DROP, "string"),
    ("$identified_id", "given user_id", DROP, "string"),
    ("$insert_id", "given insert", DROP, "string"),
    (
        "$ios_ifa",
        "first_present(context.device.advertisingId, context.device.idfa)",
        DROP,
        "string",
    ),
    ("$lib_version", "context.library.version", DROP, "string"),
    ("$locale", "context.locale", DROP, "string"),
    ("$manufacturer", "context.device.manufacturer", DROP, "string"),
    ("$model", "context.device.model", DROP, "string"),
    ("$os", "context.os.name", DROP, "string"),
    ("$os_version", "context.os.version", DROP, "string"),
    ("$referrer", "context.page.referrer", DROP, "string"),
    ("$screen_height", "context.screen.height", DROP, "number"),
    ("$screen_width", "context.screen.width", DROP, "number"),
    ("$screen_density", "context.screen.density", DROP, "number"),
    ("$source", "source(context.integration.name)", DROP, None),
    ("$user_id", "given user_id", DROP, "string"),
    ("$wifi_enabled", "context.network.wifi", DROP, "boolean"),
    ("mp_country_code", "context.location.country", DROP, "string"),
    ("mp_lib", "library(context.library.name)", DROP, "string"),
    ("utm_campaign", "context.campaign.name", DROP_NULL, "string"),
    ("utm_content", "context.campaign.content", DROP_NULL, "string"),
    ("utm_medium", "context.campaign.medium", DROP_NULL, "string"),
    ("utm_source", "context.campaign.source", DROP_NULL, "string"),
    ("utm_term", "context.campaign.term", DROP_NULL, "string"),
    ("advertising_id", "context.device.advertisingId", DROP, "string"),
    ("ad_tracking_enabled", "context.device.adTrackingEnabled", DROP, "string"),
    ("timezone", "context.timezone", DROP, "string"),
    ("app_platform", "context.app.platform", DROP, "string"),
    ("event_original_name", "first_present(event, name)", DROP, "string"),
    ("$mobile", "context.userAgentData.mobile", DROP, "boolean"),
    ("$platform", "context.userAgentData.platform", DROP_NULL, "string"),
    ("$bitness", "context.userAgentData.bitness", DROP_NULL, "string"),
    ("$platformVersion", "context.userAgentData.platformVersion", DROP_NULL, "string"),
    ("$uaFullVersion", "context.userAgentData.uaFullVersion", DROP_NULL, "string"),
    ("$wow64", "context.userAgentData.wow64", DROP, "boolean"),
]


def test_every_row_of_the_table_pinned_in_order() -> None:
    actual = [(row.key, describe(row.source), row.empty, row.type) for row in TRACK_FIELDS]
    assert actual == ROWS


def test_empty_rules() -> None:
    assert [DROP.drops(v) for v in (None, "", 0, False, [])] == [True, True, False, False, False]
    assert [DROP_NULL.drops(v) for v in (None, "", 0)] == [True, False, False]
    assert [KEEP.drops(v) for v in (None, "", 0)] == [False, False, False]


def test_read_path_reads_only_through_objects() -> None:
    event = {"context": {"app": {"build": "5"}, "os": "iOS"}}
    assert read_path(event, "context.app.build") == "5"
    assert read_path(event, "context.os.name") is None
    assert read_path(event, "context.screen.width") is None
    assert read_path({"event": "E"}, "event") == "E"


# ---------------------------------------------------------------- the compiled form = the loop

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "0", "5201", "true", "Iterable", " 7 ", "ip"]),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
USER_AGENTS = st.sampled_from(
    [
        "Mozilla/5.0 (Macintosh) AppleWebKit/537.36 Chrome/124.0.6367.91 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4) Version/17.4 Mobile Safari/604.1",
        "curl/8.4.0",
        "Opera Mini",
    ]
)


def _paths() -> list[str]:
    paths: list[str] = []
    for row in TRACK_FIELDS:
        source = row.source
        names = [source] if isinstance(source, str) else []
        if isinstance(source, Computed):
            names = [name for name in source.inputs if isinstance(name, str)]
        paths += [name for name in names if name not in paths]
    return paths


PATHS = _paths()


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """Events that set any subset of the table's paths to any JSON value, and sometimes put a
    non-object where an object is read through."""
    event: dict[str, Any] = {}
    for path in draw(st.lists(st.sampled_from(PATHS), unique=True)):
        *parents, leaf = path.split(".")
        holder = event
        for step in parents:
            if not isinstance(holder.get(step), dict):
                holder[step] = {}
            holder = holder[step]
        holder[leaf] = draw(USER_AGENTS if leaf == "userAgent" else json_values)
    context = event.get("context")
    if isinstance(context, dict) and context and draw(st.booleans()):
        step = draw(st.sampled_from(sorted(context)))
        if isinstance(context[step], dict):
            context[step] = draw(json_scalars)
    return event


givens = st.tuples(
    st.integers(0, 2**41),
    st.sampled_from(["", "u1", "$device:a1"]),
    st.sampled_from(["", "m-1"]),
    st.sampled_from([None, "u1"]),
    st.sampled_from([None, "a1"]),
    st.sampled_from([{}, {"ip": "1.2.3.4"}, {"ip": None}, {"plan": "pro"}]),
)


@settings(max_examples=400, deadline=None)
@given(events(), givens)
def test_compiled_form_equals_the_loop(event: dict[str, Any], values: tuple[Any, ...]) -> None:
    compiled, compiled_problems = track_fields(event, *values)
    loop, loop_problems = track_fields_loop(event, *values)
    assert list(compiled.items()) == list(loop.items())  # same keys, values, order
    assert compiled_problems == loop_problems


@settings(max_examples=400, deadline=None)
@given(events())
def test_the_check_finds_exactly_the_events_the_reader_finds_at_fault(
    event: dict[str, Any],
) -> None:
    """`validate` asks the cheap check of every event and reads the problems only when it says
    so: it must say so exactly when the reader (of the same table) has a problem."""
    has_problem = bool(track_fields(event, 0, "", "", None, None, {})[1])
    assert track_check(event) is has_problem
    assert check_loop(TRACK_FIELDS)(event) is has_problem


def test_the_check_skips_missing_objects_and_reads_nested_ones() -> None:
    table = (
        Field("a", "x.y.n", type="number"),
        Field("b", "x.s", type="string"),
        Field("c", "z.t", empty=DROP_NULL, type="boolean"),
    )
    check = compile_check(table, "check")
    assert check({}) is check({"x": 5}) is check({"x": {"y": "7"}}) is False
    assert check({"x": {"y": {"n": "abc"}}}) is True
    assert check({"x": {"y": {"n": ""}}}) is False  # "" left out before converting
    assert check({"x": {"s": [1, 2]}}) is True
    assert check({"z": {"t": "yes"}}) is True and check({"z": {"t": "true"}}) is False
    for event in ({"x": {"y": {"n": "abc"}}}, {"z": {"t": 2}}, {"x": {"s": "ok"}}):
        assert check(event) is check_loop(table)(event)


def test_compiled_form_equals_the_loop_on_a_full_event() -> None:
    from tests.destinations.mixpanel.test_mapping import full_event

    event = full_event()
    values = (1, "u1", "m-1", "u1", "a1", event["properties"])
    compiled, problems = track_fields(event, *values)
    assert list(compiled.items()) == list(track_fields_loop(event, *values)[0].items())
    assert len(compiled) == len(TRACK_FIELDS)
    assert problems == ()


def test_the_compiled_source_is_kept_and_names_each_key_once() -> None:
    text: str = track_fields.source  # type: ignore[attr-defined]
    assert text.startswith(f"def track_fields(event, {', '.join(TRACK_GIVENS)}):")
    for row in TRACK_FIELDS:
        converted = isinstance(row.source, str) and row.type is not None  # as it is, or converted
        assert text.count(f"r[{row.key!r}] =") == (2 if converted else 1), row.key


def _pair(*values: Any) -> Any:
    return None if values[0] is None else list(values)


# Every combination of source, empty rule and type the compiler writes.
EVERY_KIND = tuple(
    Field(f"{kind}_{empty.name}_{type_name}", source, empty, type_name)
    for empty in Empty
    for type_name in (None, "string", "number", "integer", "boolean")
    for kind, source in (
        ("path", f"x.{type_name}"),
        ("top", "y"),
        ("computed", Computed(_pair, (f"x.{type_name}", "y", f"w.{empty.name}", Given("g")))),
        ("given", Given("g")),
    )
    if not (kind in ("path", "top") and empty is Empty.KEEP and type_name is not None)
)
every_kind = compile_fields(EVERY_KIND, ("g",), "every_kind")
every_kind_loop = loop_reader(EVERY_KIND, ("g",))


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["None", "string", "number", "integer", "boolean", "z"]), json_values
    ),
    st.dictionaries(st.sampled_from(["DROP", "DROP_NULL", "KEEP"]), json_values),
    json_values,
    json_values,
)
def test_every_kind_of_row_compiled_equals_the_loop(
    x: dict[str, Any], w: dict[str, Any], y: Any, g: Any
) -> None:
    event = {"x": x, "w": w, "y": y}
    compiled, loop = every_kind(event, g), every_kind_loop(event, g)
    assert list(compiled[0].items()) == list(loop[0].items())
    assert compiled[1] == loop[1]


def _double(value: Any) -> Any:
    return None if value is None else value * 2


SMALL = (
    Field("a", "x.a"),
    Field("b", "x.b", Empty.DROP_NULL),
    Field("c", Computed(_double, ("x.a",))),
    Field("d", Given("g"), Empty.KEEP),
    Field("e", "top"),
)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"x": {"a": 2, "b": ""}, "top": 1}, {"a": 2, "b": "", "c": 4, "d": None, "e": 1}),
        ({"x": {"a": "", "b": None}, "top": ""}, {"d": None}),
        ({"x": 3}, {"d": None}),
    ],
)
def test_a_small_table_compiled_and_looped(event: dict[str, Any], expected: Any) -> None:
    compiled = compile_fields(SMALL, ("g",), "small")
    reading = (expected, ())
    assert compiled(event, None) == loop_reader(SMALL, ("g",))(event, None) == reading
    assert read_fields(SMALL, event, {"g": None}) == reading


@pytest.mark.parametrize(
    ("table", "givens", "message"),
    [
        ((Field("a", Given("h")),), ("g",), "a: given 'h' is not passed in"),
        ((Field("a", "x.a-b"),), (), "a: path 'x.a-b' is not dotted names"),
        ((Field("a", "x"),), ("g h",), "not a Python name: 'g h'"),
        (
            (Field("a", "x", Empty.KEEP, "string"),),
            (),
            "a: a typed path cannot be kept when empty",
        ),
        (
            (
                Field("a", Computed(_double, ("x",), 0)),
                Field("b", Computed(_double, ("x",), 1), Empty.KEEP),
            ),
            (),
            "b: shares a's call but not its rules",
        ),
    ],
)
def test_a_table_the_compiler_cannot_write(
    table: tuple[Field, ...], givens: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("$", r"\$") + "$"):
        compile_fields(table, givens, "bad")
