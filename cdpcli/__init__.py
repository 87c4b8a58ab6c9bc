"""cdpcli: move Segment-spec analytics events from files into Mixpanel and Lago.

`import cdpcli` gives the public API (`cdpcli.api`, PRODUCT.md §9): load and check a config, read
and validate events, map one event to the requests it becomes, run a send and get its result.

    import cdpcli

    config = cdpcli.load_config("cdpcli.yaml")
    requests = cdpcli.map_event(config, {"type": "track", "event": "Signed Up", "userId": "u1",
                                         "timestamp": "2024-05-01T12:00:00Z"})

Names are loaded on first use, so `import cdpcli` imports none of the stages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cdpcli import api

__version__ = "0.1.0"

# The names of `cdpcli.api`, and the version (tests/test_api.py pins this list).
__all__ = [
    "Attempt",
    "CdpError",
    "Config",
    "ConfigCheck",
    "ConfigError",
    "CredentialsError",
    "CriterionResult",
    "DeliveryError",
    "DryRunRequest",
    "EligibilityReport",
    "Event",
    "ExitCode",
    "Explained",
    "InputError",
    "Interrupted",
    "NoInputError",
    "Problem",
    "ProblemGroups",
    "Profile",
    "ProgramResult",
    "RetryPolicy",
    "SecretDeleted",
    "SecretList",
    "SecretStored",
    "SendOptions",
    "SendRequest",
    "SendResult",
    "SendSummary",
    "UsageError",
    "ValidationSummary",
    "WorkerError",
    "__version__",
    "check_config",
    "check_eligibility",
    "check_event",
    "default_jobs",
    "delete_secret",
    "find_config",
    "inspect",
    "list_secrets",
    "load_config",
    "map_event",
    "parse_config",
    "parse_time_ms",
    "read_events",
    "resolve_config_path",
    "run_send",
    "set_secret",
    "starter_config",
    "to_json",
    "validate",
    "write_starter_config",
]

if TYPE_CHECKING:  # the same names, typed, for mypy (nothing runs here)
    from cdpcli.api import *  # noqa: F403 - re-exported whole: `cdpcli.api.__all__`

else:  # at run time; mypy sees only the names imported above, so a typo is an error

    def __getattr__(name: str) -> Any:
        """A name of `cdpcli.api`, loaded on first use and kept here."""
        if name not in api.__all__:
            raise AttributeError(f"module 'cdpcli' has no attribute {name!r}")
        value = getattr(api, name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
