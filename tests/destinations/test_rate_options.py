"""`max_events_per_second` and `max_bytes_per_minute` (PRODUCT.md §6.1), accepted by every kind
through the contract (`cdpcli.destinations.base.parse_rate_limits`), each kind with its own
default: Mixpanel 1.5 GB (10^9 bytes) a minute, Lago none; `null` removes a limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdpcli.destinations import registry
from cdpcli.destinations.base import RateLimits
from cdpcli.errors import ConfigError
from cdpcli.routing.config import load_config

MIXPANEL = "kind: mixpanel\n    project_id: '1'\n    api_url: http://127.0.0.1:9"
LAGO = "kind: lago\n    api_url: http://127.0.0.1:9"


def config(tmp_path: Path, destination: str, options: str = "") -> Path:
    path = tmp_path / "cdpcli.yaml"
    extra = "".join(f"\n    {line}" for line in options.splitlines())
    path.write_text(
        f"version: 1\ndestinations:\n  dest:\n    {destination}{extra}\n"
        "routes:\n  - name: all\n    to: dest\n",
        encoding="utf-8",
    )
    return path


def limits(path: Path) -> RateLimits:
    configured = load_config(path).destinations["dest"]
    kind = registry.get_kind(configured.kind)
    return kind("dest", configured.options, None).rate_limits()


@pytest.mark.parametrize(
    ("destination", "options", "expected"),
    [
        (MIXPANEL, "", RateLimits(None, 1_500_000_000)),
        (MIXPANEL, "max_bytes_per_minute: null", RateLimits(None, None)),
        (MIXPANEL, "max_bytes_per_minute: 2 GB", RateLimits(None, 2_000_000_000)),
        (MIXPANEL, "max_events_per_second: 500", RateLimits(500.0, 1_500_000_000)),
        (LAGO, "", RateLimits(None, None)),
        (LAGO, "max_events_per_second: 2.5", RateLimits(2.5, None)),
        (LAGO, "max_bytes_per_minute: 60MiB", RateLimits(None, 60 * 1024 * 1024)),
        (
            LAGO,
            "max_bytes_per_minute: 1_000_000\nmax_events_per_second: null",
            RateLimits(None, 10**6),
        ),
    ],
)
def test_each_kind_reads_the_rate_options_over_its_default(
    tmp_path: Path, destination: str, options: str, expected: RateLimits
) -> None:
    assert limits(config(tmp_path, destination, options)) == expected


@pytest.mark.parametrize("destination", [MIXPANEL, LAGO])
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("max_events_per_second: 0", "must be a positive number of events a second"),
        ("max_events_per_second: fast", "must be a positive number of events a second"),
        ("max_events_per_second: true", "must be a positive number of events a second"),
        ("max_bytes_per_minute: -5", "must be a positive number of bytes or a size"),
        ("max_bytes_per_minute: 3 TB", "must be a positive number of bytes or a size"),
    ],
)
def test_a_bad_rate_option_names_file_line_and_key(
    tmp_path: Path, destination: str, options: str, message: str
) -> None:
    path = config(tmp_path, destination, options)
    key = options.split(":", maxsplit=1)[0]
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    line = 5 + destination.count("\n")  # the line after the destination's own
    assert caught.value.message.startswith(f"{path}:{line}: ")
    assert f"`destinations.dest.{key}`" in caught.value.message
    assert message in caught.value.message
