"""Count-and-bytes batching: exact limits, refusals, splitting, and Hypothesis properties."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdpcli.destinations.base import Endpoint
from cdpcli.send.batching import (
    Batch,
    Batcher,
    array_bytes,
    human_bytes,
    refusal,
    split,
    subset,
)

LAGO_OVERHEAD = len(b'{"events":[]}') - len(b"[]")  # 11


def endpoint(
    name: str = "e",
    *,
    max_items: int = 1000,
    max_request_bytes: int = 10_000,
    max_item_bytes: int = 1000,
    url: str | None = None,
) -> Endpoint:
    return Endpoint(
        name=name,
        url=url if url is not None else f"https://example.test/{name}",
        max_items=max_items,
        max_request_bytes=max_request_bytes,
        max_item_bytes=max_item_bytes,
        gzip=False,
    )


def item(size: int, n: int = 0) -> dict[str, Any]:
    """An item whose compact JSON is exactly `size` bytes (size >= 10), distinguishable by `n`."""
    body = {"k": f"{n % 10}" + "x" * (size - 9)}
    assert len(orjson.dumps(body)) == size
    return body


def added(batcher: Batcher, name: str, items: list[dict[str, Any]]) -> list[Batch]:
    out: list[Batch] = []
    for i, it in enumerate(items):
        result = batcher.add(name, it, i)
        assert result.refused is None
        out.extend(result.batches)
    return out


def test_lago_wrapper_overhead_is_eleven_bytes() -> None:
    # the bytes `{"events":...}` adds around a JSON array
    assert LAGO_OVERHEAD == len(orjson.dumps({"events": []})) - len(b"[]") == 11


@pytest.mark.parametrize(
    ("sizes", "expected"), [([], 2), ([10], 12), ([10, 10, 10], 34), ([1, 2, 3, 4], 15)]
)
def test_array_bytes(sizes: list[int], expected: int) -> None:
    assert array_bytes(sizes) == expected


def test_payload_bytes_and_body_match_real_serialization() -> None:
    batcher = Batcher({"e": endpoint()}, overhead={"e": LAGO_OVERHEAD})
    items = [item(10, 1), {"ü": "☃", "n": [1, 2.5, None]}, item(12, 3)]
    for i, it in enumerate(items):
        assert batcher.add("e", it, f"tag{i}").batches == ()
    [batch] = batcher.flush()
    assert batch.items == items
    assert batch.tags == ["tag0", "tag1", "tag2"]
    assert batch.array_json() == orjson.dumps(items)
    assert batch.payload_bytes == len(orjson.dumps({"events": items}))
    assert batch.overhead == LAGO_OVERHEAD
    assert len(batch) == 3
    assert batcher.flush() == []


def test_count_limit_emits_eagerly_at_max_items() -> None:
    batcher = Batcher({"e": endpoint(max_items=3)})
    batches = added(batcher, "e", [item(10, i) for i in range(7)])
    assert [b.tags for b in batches] == [[0, 1, 2], [3, 4, 5]]
    assert [b.payload_bytes for b in batches] == [34, 34]
    assert batcher.pending() == 1
    [last] = batcher.flush()
    assert last.tags == [6]
    assert last.payload_bytes == 12


@pytest.mark.parametrize(
    ("limit", "overhead", "expected_tags"),
    [
        (34, 0, [[0, 1, 2], [3, 4, 5]]),  # 3 x 10 bytes = 34 exactly fits
        (33, 0, [[0, 1], [2, 3], [4, 5]]),  # one byte less: pairs (23 bytes)
        (45, 11, [[0, 1, 2], [3, 4, 5]]),  # the wrapper counts
        (44, 11, [[0, 1], [2, 3], [4, 5]]),
        (23, 0, [[0, 1], [2, 3], [4, 5]]),
        (22, 0, [[0], [1], [2], [3], [4], [5]]),
    ],
)
def test_byte_limit_is_exact(limit: int, overhead: int, expected_tags: list[list[int]]) -> None:
    batcher = Batcher({"e": endpoint(max_request_bytes=limit)}, overhead={"e": overhead})
    batches = added(batcher, "e", [item(10, i) for i in range(6)]) + batcher.flush()
    assert [b.tags for b in batches] == expected_tags
    assert all(b.payload_bytes <= limit for b in batches)


def test_mixpanel_import_numbers() -> None:
    """2000 events a request: the 2000th add completes the batch, the 2001st starts a new one."""
    imp = endpoint(
        "import",
        max_items=2000,
        max_request_bytes=10_000_000,
        max_item_bytes=1_000_000,
        url="https://api.mixpanel.com/import?strict=1",
    )
    batcher = Batcher({"import": imp})
    results = [batcher.add("import", item(100, i), i).batches for i in range(2001)]
    assert all(r == () for r in results[:1999])
    [full] = results[1999]
    assert len(full) == 2000
    assert full.payload_bytes == 2 + 2000 * 100 + 1999
    assert results[2000] == ()
    assert batcher.pending() == 1


def test_request_bytes_limit_with_big_items() -> None:
    """Eleven 1 MB-ish items never go in one 10 MB request."""
    imp = endpoint("import", max_items=2000, max_request_bytes=10_000_000, max_item_bytes=1_000_000)
    batcher = Batcher({"import": imp})
    batches = added(batcher, "import", [item(999_000, i) for i in range(11)]) + batcher.flush()
    assert [len(b) for b in batches] == [10, 1]
    assert batches[0].payload_bytes == 2 + 10 * 999_000 + 9


@pytest.mark.parametrize(
    ("size", "max_item", "max_request", "overhead", "reason"),
    [
        (
            1_200_000,
            1_000_000,
            10_000_000,
            0,
            "record is 1.2 MB, over /import's 1 MB limit for one record",
        ),
        (
            1_000_001,
            1_000_000,
            10_000_000,
            0,
            "record is 1,000,001 bytes, over /import's 1,000,000-byte limit for one record",
        ),
        (
            1_048_577,
            1_048_576,
            10_000_000,
            0,
            "record is 1,048,577 bytes, over /import's 1,048,576-byte limit for one record",
        ),
        (
            5_000,
            10_000,
            4_000,
            0,
            "record needs a request of 5 KB, over /import's 4 KB request limit",
        ),
        (
            90,
            1_000,
            100,
            11,
            "record needs a request of 103 bytes, over /import's 100-byte request limit",
        ),
    ],
)
def test_refusal_reasons(
    size: int, max_item: int, max_request: int, overhead: int, reason: str
) -> None:
    imp = endpoint(
        "import",
        max_request_bytes=max_request,
        max_item_bytes=max_item,
        url="https://api.mixpanel.com/import?strict=1",
    )
    assert refusal(imp, size, overhead) == reason
    batcher = Batcher({"import": imp}, overhead={"import": overhead})
    result = batcher.add("import", item(size), "t")
    assert result.batches == ()
    assert result.refused is not None
    assert result.refused.reason == reason
    assert (result.refused.size, result.refused.tag, result.refused.endpoint) == (
        size,
        "t",
        "import",
    )


@pytest.mark.parametrize(("size", "ok"), [(100, True), (101, False)])
def test_item_limit_boundary(size: int, ok: bool) -> None:
    e = endpoint(max_item_bytes=100)
    assert (refusal(e, size) is None) is ok


def test_label_falls_back_to_name_without_url() -> None:
    e = endpoint("groups", max_item_bytes=10, url="")
    assert refusal(e, 11) == "record is 11 bytes, over /groups's 10-byte limit for one record"


def test_refused_item_never_poisons_a_batch() -> None:
    batcher = Batcher({"e": endpoint(max_items=3, max_item_bytes=50)})
    assert batcher.add("e", item(10, 0), 0).batches == ()
    bad = batcher.add("e", item(51, 1), 1)
    assert bad.refused is not None
    assert bad.batches == ()
    assert batcher.pending() == 1
    assert batcher.add("e", item(10, 2), 2).batches == ()
    [batch] = batcher.add("e", item(10, 3), 3).batches
    assert batch.tags == [0, 2, 3]
    assert batch.payload_bytes == 34


def test_endpoints_are_independent_and_flush_in_order() -> None:
    batcher = Batcher(
        {"a": endpoint("a", max_items=2), "b": endpoint("b", max_items=2)},
        overhead={"b": 11},
    )
    out: list[Batch] = []
    for n, name in enumerate(["a", "b", "a", "b", "b"]):
        out.extend(batcher.add(name, item(10, n), n).batches)
    assert [(b.endpoint, b.tags, b.payload_bytes) for b in out] == [
        ("a", [0, 2], 23),
        ("b", [1, 3], 34),
    ]
    assert [(b.endpoint, b.tags) for b in batcher.flush()] == [("b", [4])]


def test_split_halves_and_recomputes_bytes() -> None:
    batcher = Batcher({"e": endpoint()}, overhead={"e": 11})
    added(batcher, "e", [item(10, i) for i in range(5)])
    [batch] = batcher.flush()
    left, right = split(batch)
    assert (left.tags, right.tags) == ([0, 1], [2, 3, 4])
    assert (left.payload_bytes, right.payload_bytes) == (2 + 20 + 1 + 11, 2 + 30 + 2 + 11)
    assert left.array_json() == orjson.dumps(batch.items[:2])
    a, b = split(left)
    assert (a.tags, b.tags) == ([0], [1])
    with pytest.raises(ValueError, match="cannot be split"):
        split(a)


def test_subset_keeps_batch_order() -> None:
    batcher = Batcher({"e": endpoint()}, overhead={"e": 11})
    added(batcher, "e", [item(10, i) for i in range(4)])
    [batch] = batcher.flush()
    rest = subset(batch, [3, 1, 3])
    assert rest.tags == [1, 3]
    assert rest.items == [batch.items[1], batch.items[3]]
    assert rest.payload_bytes == 2 + 20 + 1 + 11
    with pytest.raises(IndexError, match="index 4 out of range for a batch of 4"):
        subset(batch, [4])


def test_constructor_checks() -> None:
    with pytest.raises(KeyError, match="unknown endpoints"):
        Batcher({"e": endpoint()}, overhead={"x": 1})
    with pytest.raises(ValueError, match="max_items must be at least 1"):
        Batcher({"e": endpoint(max_items=0)})
    with pytest.raises(KeyError):
        Batcher({"e": endpoint()}).add("nope", {}, None)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (999, "999 bytes"),
        (1000, "1 KB"),
        (1536, "1.5 KB"),
        (999_949, "999.9 KB"),
        (1_000_000, "1 MB"),
        (1_200_000, "1.2 MB"),
        (10_000_000, "10 MB"),
    ],
)
def test_human_bytes(size: int, text: str) -> None:
    assert human_bytes(size) == text


# --- Hypothesis ---------------------------------------------------------------------------

limits = st.fixed_dictionaries(
    {
        "max_items": st.integers(1, 6),
        "max_request_bytes": st.integers(10, 120),
        "max_item_bytes": st.integers(10, 80),
        "overhead": st.integers(0, 12),
    }
)
ops = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), st.integers(10, 100)),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(a=limits, b=limits, operations=ops)
def test_properties(
    a: dict[str, int], b: dict[str, int], operations: list[tuple[str, int]]
) -> None:
    spec = {"a": a, "b": b}
    endpoints = {
        name: endpoint(
            name,
            max_items=s["max_items"],
            max_request_bytes=s["max_request_bytes"],
            max_item_bytes=s["max_item_bytes"],
        )
        for name, s in spec.items()
    }
    batcher = Batcher(endpoints, overhead={name: s["overhead"] for name, s in spec.items()})
    batches: list[Batch] = []
    refused: list[int] = []
    sent: dict[int, tuple[str, dict[str, Any]]] = {}
    for tag, (name, size) in enumerate(operations):
        it = item(size, tag)
        sent[tag] = (name, it)
        result = batcher.add(name, it, tag)
        if result.refused is not None:
            assert result.batches == ()
            assert result.refused.tag == tag
            refused.append(tag)
        batches.extend(result.batches)
    batches.extend(batcher.flush())
    assert batcher.pending() == 0

    seen: list[int] = []
    for batch in batches:
        s = spec[batch.endpoint]
        assert 1 <= len(batch) <= s["max_items"]
        assert batch.payload_bytes <= s["max_request_bytes"]
        assert batch.payload_bytes == len(batch.array_json()) + s["overhead"]
        assert batch.array_json() == orjson.dumps(list(batch.items))
        assert all(len(e) <= s["max_item_bytes"] for e in batch.encoded)
        assert batch.items == [sent[t][1] for t in batch.tags]
        assert all(sent[t][0] == batch.endpoint for t in batch.tags)
        seen.extend(batch.tags)
        if len(batch) >= 2:
            left, right = split(batch)
            assert left.tags + right.tags == batch.tags
            assert (
                left.payload_bytes + right.payload_bytes == batch.payload_bytes + s["overhead"] + 1
            )

    # every item is in exactly one batch or refused
    assert sorted(seen + refused) == list(range(len(operations)))
    assert len(set(seen)) == len(seen)
    assert not set(seen) & set(refused)
    # order is preserved per endpoint
    for name in spec:
        in_batches = [t for batch in batches if batch.endpoint == name for t in batch.tags]
        assert in_batches == sorted(in_batches)
    # refused items are exactly those that can never fit
    for tag in refused:
        name, it = sent[tag]
        s = spec[name]
        size = len(orjson.dumps(it))
        assert size > s["max_item_bytes"] or 2 + size + s["overhead"] > s["max_request_bytes"]
