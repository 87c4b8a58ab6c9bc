"""`cdpcli config check --connect` (PRODUCT.md §6.1): for each destination, the harmless
authenticated requests its kind declares (`Destination.probes`), made over the client a send
uses (`cdpcli.send.http.make_client`: TLS verified, no redirects), each answer read by the kind
(`Destination.probe_verdict`) and timed.

Secrets come from the same lookup as a send (environment, then keyring); a destination with one
missing is reported so and not contacted. The https rule of a send applies to every URL probed,
before any request. Each probe is one attempt, never retried: an answer that proves nothing (a
429, a 5xx) is reported as it came. After a probe that found its host unreachable, the other
probes of that destination are not sent. Every text that leaves this module passes through the
Redactor of the secrets found.
"""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cdpcli.destinations.base import Destination, Probe, ProbeVerdict
from cdpcli.destinations.registry import get_kind
from cdpcli.errors import ExitCode
from cdpcli.retry import ATTEMPT_DEADLINE_SECONDS
from cdpcli.routing.config import Config, load_config
from cdpcli.secrets.redact import Redactor
from cdpcli.secrets.store import (
    SecretStore,
    env_var_name,
    keys_set_command,
    required_secrets,
    routed_types,
)
from cdpcli.send.deadline import attempt
from cdpcli.send.transport import (
    Target,
    certificate_error,
    certificate_problem,
    make_client,
    require_https,
)

if TYPE_CHECKING:
    import httpx

ProbeOutcome = Literal["accepted", "refused", "unexpected", "unreachable"]
Outcome = Literal["accepted", "refused", "missing", "unexpected", "unreachable", "unused"]

_WORST: tuple[ProbeOutcome, ...] = ("refused", "unreachable", "unexpected", "accepted")
"""A destination's outcome is the first of these among its probes' outcomes."""

PROBE_DEADLINE_SECONDS = ATTEMPT_DEADLINE_SECONDS
"""A probe's total deadline, as a send's attempt has (connect, send and the whole answer)."""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe of a destination: what it checks (`checks`, the secret `fields`), the request
    (`method`, `url`), and what came of it: `outcome`, the HTTP `status` (None without an
    answer), the time to the whole answer or the failure in milliseconds (None when not sent),
    and a `message` for a human (secrets masked)."""

    name: str
    checks: str
    fields: tuple[str, ...]
    method: str
    url: str
    outcome: ProbeOutcome
    status: int | None
    latency_ms: float | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "checks": self.checks,
            "fields": list(self.fields),
            "method": self.method,
            "url": self.url,
            "outcome": self.outcome,
            "status": self.status,
            "latency_ms": _rounded(self.latency_ms),
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class DestinationConnect:
    """One destination's connection check: `outcome` is "accepted" (every probe accepted),
    "refused" (some secret refused), "missing" (some secret not found: `missing` names the
    fields, nothing was sent), "unreachable" (no answer), "unexpected" (an answer that proves
    nothing) or "unused" (no route sends there: nothing to check); `message` and `hint` say it
    for a human; `probes` are the requests made, in order."""

    name: str
    kind: str
    outcome: Outcome
    message: str
    hint: str | None
    missing: tuple[str, ...]
    probes: tuple[ProbeResult, ...]

    @property
    def latency_ms(self) -> float | None:
        """The time of every probe sent, together; None when none was sent."""
        times = [p.latency_ms for p in self.probes if p.latency_ms is not None]
        return sum(times) if times else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "outcome": self.outcome,
            "message": self.message,
            "hint": self.hint,
            "latency_ms": _rounded(self.latency_ms),
            "missing": list(self.missing),
            "probes": [probe.as_dict() for probe in self.probes],
        }


@dataclass(frozen=True, slots=True)
class ConnectCheck:
    """The result of `check_connect`: one `DestinationConnect` per destination of the config,
    in config order, and the exit code of `config check --connect`."""

    config: str
    destinations: tuple[DestinationConnect, ...]

    @property
    def exit_code(self) -> ExitCode:
        """0 when every destination a route feeds accepted; 5 when some secret is missing or
        refused (this wins: it is what must be fixed); else 6 when some destination was
        unreachable or answered in a way that proves nothing."""
        outcomes = {d.outcome for d in self.destinations}
        if outcomes & {"refused", "missing"}:
            return ExitCode.CREDENTIALS
        if outcomes & {"unreachable", "unexpected"}:
            return ExitCode.DELIVERY
        return ExitCode.OK

    def count(self, outcome: str) -> int:
        """How many destinations had `outcome`."""
        return sum(1 for d in self.destinations if d.outcome == outcome)

    def as_dict(self) -> dict[str, Any]:
        """The `connect` part of `config check --connect --format json`."""
        return {
            "exit_code": int(self.exit_code),
            "destinations": [d.as_dict() for d in self.destinations],
        }


def check_connect(
    config: str | Path | Config,
    *,
    environ: Mapping[str, str] | None = None,
    allow_insecure_http: bool = False,
    client: httpx.Client | None = None,
) -> ConnectCheck:
    """Prove each destination's reachability and credentials without writing data: the
    harmless authenticated requests its kind declares for the event types routed there
    (`Destination.probes`; each kind's `probe` module says what it sends and why), timed.

    Raises ConfigError (exit 3) for an invalid config and UsageError (exit 2), before any
    request, when a URL to probe is not https, its host not loopback, and `allow_insecure_http`
    is off. Refused or missing secrets and unreachable hosts are results, not errors
    (`ConnectCheck.exit_code`). `client` (default: the client a send builds) is for tests.
    """
    loaded = config if isinstance(config, Config) else load_config(config)
    store = SecretStore(os.environ if environ is None else environ)
    plans = [_plan(loaded, name, store, allow_insecure_http) for name in loaded.destinations]
    redactor = Redactor.from_resolved({plan.name: plan.secrets for plan in plans})
    own_client = client is None
    if client is None:  # the client of a send: its CA bundle and proxies (cdpcli.send.transport)
        reached = [Target.of(plan.name, url) for plan in plans for url in plan.urls]
        client, _sockets = make_client(1, reached, environ=environ)
    try:
        results = tuple(_check(plan, client, redactor) for plan in plans)
    finally:
        if own_client:
            client.close()
    return ConnectCheck(config=str(loaded.path), destinations=results)


# --- internals -------------------------------------------------------------------------------


class _Plan:
    """What is known of one destination before any request."""

    def __init__(self, name: str, kind: str, types: frozenset[str]) -> None:
        self.name = name
        self.kind = kind
        self.types = types
        self.missing: list[str] = []
        self.failures: list[str] = []  # why the keyring gave no value, where it failed
        self.secrets: dict[str, str] = {}
        self.destination: Destination[Any] | None = None
        self.urls: list[str] = []  # where it is probed


def _plan(config: Config, name: str, store: SecretStore, allow_http: bool) -> _Plan:
    """The secrets of destination `name`, found or not, and the https rule applied to every URL
    it will be probed at (UsageError before anything is sent anywhere)."""
    configured = config.destinations[name]
    plan = _Plan(name, configured.kind, routed_types(config, name))
    if not plan.types:
        return plan  # no route feeds it: nothing to check
    for need in required_secrets(config, [name]):
        found = store.lookup(name, need.field)
        if found is not None:
            plan.secrets[need.field] = found.value
            continue
        plan.missing.append(need.field)
        failure = store.lookup_failure(name, need.field)
        if failure:
            plan.failures.append(f"the keyring lookup of {need.field} failed: {failure}")
    kind = get_kind(configured.kind)
    for probe in kind(name, configured.options, None).probes(plan.types):
        require_https(name, probe.request.url, allow_http)
        plan.urls.append(probe.request.url)
    if not plan.missing:
        plan.destination = kind(name, configured.options, plan.secrets)
    return plan


def _rounded(ms: float | None) -> float | None:
    return None if ms is None else round(ms, 1)


def _check(plan: _Plan, client: httpx.Client, redactor: Redactor) -> DestinationConnect:
    name, kind = plan.name, plan.kind
    if not plan.types:
        return DestinationConnect(
            name, kind, "unused", "no route sends events here: nothing to check", None, (), ()
        )
    if plan.destination is None:
        fields = tuple(plan.missing)
        ways = "; ".join(
            f"set {env_var_name(name, field)} or run `{keys_set_command(name, field)}`"
            for field in fields
        )
        if plan.failures:
            ways += f" ({'; '.join(plan.failures)})"
        return DestinationConnect(
            name,
            kind,
            "missing",
            f"secret(s) missing: {', '.join(fields)}; nothing was sent",
            ways,
            fields,
            (),
        )
    destination = plan.destination
    made: list[tuple[Probe, ProbeResult]] = []
    unreachable: str | None = None
    for probe in destination.probes(plan.types):
        if unreachable is not None:
            made.append((probe, _not_sent(probe, unreachable, redactor)))
            continue
        result = _probe(destination, probe, client, redactor)
        if result.outcome == "unreachable":
            unreachable = result.url
        made.append((probe, result))
    results = [result for _, result in made]
    outcome = next(o for o in _WORST if any(r.outcome == o for r in results))
    return DestinationConnect(
        name,
        kind,
        outcome,
        _summary(outcome, results),
        _hint(name, outcome, made),
        (),
        tuple(results),
    )


def _probe(
    destination: Destination[Any], probe: Probe, client: httpx.Client, redactor: Redactor
) -> ProbeResult:
    import httpx

    from cdpcli.send.http_batch import GZIP_LEVEL, USER_AGENT

    request = probe.request
    headers = {**request.headers, "User-Agent": USER_AGENT}
    body = request.content
    if request.gzip:
        body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
    url = redactor.text(request.url)
    started = time.perf_counter()
    try:
        with attempt(PROBE_DEADLINE_SECONDS):  # a server that trickles costs no more than this
            response = client.request(request.method, request.url, headers=headers, content=body)
    except httpx.HTTPError as error:
        elapsed = (time.perf_counter() - started) * 1000
        certificate = certificate_problem(error)
        if certificate is not None:  # said as a send says it, with the SSL_CERT_FILE hint
            said = certificate_error(destination.name, destination.kind, request.url, certificate)
            failure = redactor.text(f"{said.message} ({said.hint})")
        else:
            failure = redactor.text(f"{type(error).__name__}: {error}".rstrip(": "))
        return _result(
            probe,
            url,
            "unreachable",
            status=None,
            latency_ms=elapsed,
            message=f"no answer from {url}: {failure}",
        )
    elapsed = (time.perf_counter() - started) * 1000
    verdict: ProbeVerdict = destination.probe_verdict(
        probe.name, response.status_code, response.headers, response.content
    )
    return _result(
        probe,
        url,
        verdict.outcome,
        status=response.status_code,
        latency_ms=elapsed,
        message=redactor.text(verdict.message),
    )


def _result(
    probe: Probe,
    url: str,
    outcome: ProbeOutcome,
    *,
    status: int | None,
    latency_ms: float | None,
    message: str,
) -> ProbeResult:
    return ProbeResult(
        name=probe.name,
        checks=probe.checks,
        fields=probe.fields,
        method=probe.request.method,
        url=url,
        outcome=outcome,
        status=status,
        latency_ms=latency_ms,
        message=message,
    )


def _not_sent(probe: Probe, unreachable: str, redactor: Redactor) -> ProbeResult:
    url = redactor.text(probe.request.url)
    message = f"not sent: {unreachable} was unreachable"
    return _result(probe, url, "unreachable", status=None, latency_ms=None, message=message)


def _summary(outcome: ProbeOutcome, results: list[ProbeResult]) -> str:
    if outcome == "accepted":
        return "; ".join(f"{r.checks}: accepted" for r in results)
    return "; ".join(f"{r.checks}: {r.message}" for r in results if r.outcome != "accepted")


def _hint(name: str, outcome: ProbeOutcome, made: list[tuple[Probe, ProbeResult]]) -> str | None:
    if outcome == "refused":
        refused = [probe for probe, result in made if result.outcome == "refused"]
        fields = sorted({field for probe in refused for field in probe.fields})
        check = f"the secret{'s' if len(fields) > 1 else ''} {', '.join(fields)}"
        notes = [probe.note for probe in refused if probe.note]
        if notes:
            check += f" ({notes[0]})"
        fixes = "; ".join(
            f"`{keys_set_command(name, field)}` or {env_var_name(name, field)}" for field in fields
        )
        return (
            f"check {check} of `{name}`: `cdpcli config check` shows where each was found; "
            f"fix with {fixes}"
        )
    if outcome == "unreachable":
        return (
            "check the host (the destination's `api_url` or region) and that this machine "
            "reaches it, then run `cdpcli config check --connect` again"
        )
    if outcome == "unexpected":
        return (
            "that answer proves nothing about the credentials: check the destination's "
            "`api_url`, or try again later if the server was busy (429, 5xx)"
        )
    return None
