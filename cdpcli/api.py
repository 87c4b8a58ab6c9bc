"""The public API of cdpcli (PRODUCT.md §9): what every command does, as functions that return
results and never print. `import cdpcli` gives every name here (and `__version__`); the CLI
(`cdpcli.cli`) calls nothing else.

Each name is loaded on first use (PEP 562) from the module that defines it, through the table
below: importing the API imports none of the stages, so a command's start-up pays only for the
modules it runs. README's "Library API" says what each name does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Public name -> (module, attribute there). Keep in step with the imports below (a test checks).
_API: dict[str, tuple[str, str]] = {
    # config
    "Config": ("cdpcli.routing.config", "Config"),
    "load_config": ("cdpcli.routing.config", "load_config"),
    "parse_config": ("cdpcli.routing.config", "parse_config"),
    "resolve_config_path": ("cdpcli.routing.config", "resolve_config_path"),
    "find_config": ("cdpcli.routing.config", "find_config"),
    "ConfigCheck": ("cdpcli.routing.check", "ConfigCheck"),
    "check_config": ("cdpcli.routing.check", "check_config"),
    "starter_config": ("cdpcli.routing.starter", "starter_config"),
    "write_starter_config": ("cdpcli.routing.starter", "write_starter_config"),
    # events
    "Event": ("cdpcli.events.model", "Event"),
    "Problem": ("cdpcli.events.model", "Problem"),
    "read_events": ("cdpcli.events.reader", "read_events"),
    "parse_time_ms": ("cdpcli.events.spec", "parse_time_ms"),
    "check_event": ("cdpcli.events.validate", "check_event"),
    "ValidationSummary": ("cdpcli.events.validate", "ValidationSummary"),
    "ProblemGroups": ("cdpcli.events.grouping", "ProblemGroups"),
    "validate": ("cdpcli.destinations.checks", "validate"),
    "Profile": ("cdpcli.events.profile", "Profile"),
    "inspect": ("cdpcli.events.profile", "inspect"),
    # send
    "SendOptions": ("cdpcli.send.pipeline", "SendOptions"),
    "SendResult": ("cdpcli.send.pipeline", "SendResult"),
    "SendSummary": ("cdpcli.send.pipeline", "SendSummary"),
    "Explained": ("cdpcli.send.prepare", "Explained"),
    "Attempt": ("cdpcli.send.watch", "Attempt"),
    "RetryPolicy": ("cdpcli.retry", "RetryPolicy"),
    "DryRunRequest": ("cdpcli.send.dry_run", "DryRunRequest"),
    "SendRequest": ("cdpcli.send.run", "SendRequest"),
    "run_send": ("cdpcli.send.run", "send"),
    "map_event": ("cdpcli.send.run", "map_event"),
    "default_jobs": ("cdpcli.workers.pool", "default_jobs"),
    # secrets
    "SecretList": ("cdpcli.secrets.keys", "SecretList"),
    "SecretStored": ("cdpcli.secrets.keys", "SecretStored"),
    "SecretDeleted": ("cdpcli.secrets.keys", "SecretDeleted"),
    "set_secret": ("cdpcli.secrets.keys", "set_secret"),
    "delete_secret": ("cdpcli.secrets.keys", "delete_secret"),
    "list_secrets": ("cdpcli.secrets.keys", "list_secrets"),
    # eligibility
    "EligibilityReport": ("cdpcli.eligibility.evaluate", "Report"),
    "ProgramResult": ("cdpcli.eligibility.evaluate", "ProgramResult"),
    "CriterionResult": ("cdpcli.eligibility.evaluate", "CriterionResult"),
    "check_eligibility": ("cdpcli.eligibility.evaluate", "check_eligibility"),
    # errors, output
    "ExitCode": ("cdpcli.errors", "ExitCode"),
    "CdpError": ("cdpcli.errors", "CdpError"),
    "UsageError": ("cdpcli.errors", "UsageError"),
    "ConfigError": ("cdpcli.errors", "ConfigError"),
    "InputError": ("cdpcli.errors", "InputError"),
    "CredentialsError": ("cdpcli.errors", "CredentialsError"),
    "DeliveryError": ("cdpcli.errors", "DeliveryError"),
    "WorkerError": ("cdpcli.errors", "WorkerError"),
    "Interrupted": ("cdpcli.errors", "Interrupted"),
    "NoInputError": ("cdpcli.errors", "NoInputError"),
    "to_json": ("cdpcli.jsonio", "dumps"),
}

# Every name of the API, sorted (tests/test_api.py pins it).
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

if TYPE_CHECKING:  # what the table above loads, for mypy and readers (nothing runs here)
    from cdpcli.destinations.checks import validate
    from cdpcli.eligibility.evaluate import CriterionResult, ProgramResult, check_eligibility
    from cdpcli.eligibility.evaluate import Report as EligibilityReport
    from cdpcli.errors import (
        CdpError,
        ConfigError,
        CredentialsError,
        DeliveryError,
        ExitCode,
        InputError,
        Interrupted,
        NoInputError,
        UsageError,
        WorkerError,
    )
    from cdpcli.events.grouping import ProblemGroups
    from cdpcli.events.model import Event, Problem
    from cdpcli.events.profile import Profile, inspect
    from cdpcli.events.reader import read_events
    from cdpcli.events.spec import parse_time_ms
    from cdpcli.events.validate import ValidationSummary, check_event
    from cdpcli.jsonio import dumps as to_json
    from cdpcli.retry import RetryPolicy
    from cdpcli.routing.check import ConfigCheck, check_config
    from cdpcli.routing.config import (
        Config,
        find_config,
        load_config,
        parse_config,
        resolve_config_path,
    )
    from cdpcli.routing.starter import starter_config, write_starter_config
    from cdpcli.secrets.keys import (
        SecretDeleted,
        SecretList,
        SecretStored,
        delete_secret,
        list_secrets,
        set_secret,
    )
    from cdpcli.send.dry_run import DryRunRequest
    from cdpcli.send.pipeline import SendOptions, SendResult, SendSummary
    from cdpcli.send.prepare import Explained
    from cdpcli.send.run import SendRequest, map_event
    from cdpcli.send.run import send as run_send
    from cdpcli.send.watch import Attempt
    from cdpcli.workers.pool import default_jobs

else:  # at run time; mypy sees only the names imported above, so a typo is an error

    def __getattr__(name: str) -> Any:
        """Load a public name on first use (PEP 562) and keep it in the module."""
        try:
            module_name, attribute = _API[name]
        except KeyError:
            raise AttributeError(f"module 'cdpcli.api' has no attribute {name!r}") from None
        from importlib import import_module

        value = getattr(import_module(module_name), attribute)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
