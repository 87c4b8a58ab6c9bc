"""How a send reaches its destinations (PRODUCT.md §6.1 "Certificates and proxies", §7).

The one place that decides, per destination URL, whether it is loopback and what the https rule
says (`require_https`: through `targets` for dry runs and real runs alike, and for the probes of
`config check --connect`), and that builds the client of a real run (`make_client`):

- TLS is verified against the CA bundle `SSL_CERT_FILE` or the directory `SSL_CERT_DIR` names,
  else certifi's (httpx's default); a certificate that fails verification is fatal at once
  (`certificate_problem`): no retry will make it valid.
- `HTTPS_PROXY` (https), `HTTP_PROXY` (http) or `ALL_PROXY`, lower-case names first, reach every
  host `NO_PROXY` does not name; loopback never goes through a proxy.
- No redirect is followed (one would carry the credentials elsewhere), no netrc is read, and every
  connection obeys the attempt's deadline and can be abandoned (`cdpcli.send.deadline`).

"Loopback" is an address in 127.0.0.0/8 or ::1, or the name `localhost` (`cdpcli.hosts`): a
name that merely starts with `127.` is a name like any other, resolved by whatever DNS answers.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cdpcli.errors import DeliveryError, UsageError
from cdpcli.hosts import is_loopback
from cdpcli.send.delivery import DestinationRuntime

if TYPE_CHECKING:  # httpx and ssl are imported by a real run only: a dry run starts faster
    import ssl

    import httpx

    from cdpcli.send.deadline import Sockets

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0  # one read; the attempt as a whole has its deadline (cdpcli.send.deadline)


@dataclass(frozen=True, slots=True)
class Target:
    """One endpoint URL of a run's destination, as the transport reaches it."""

    destination: str
    url: str
    scheme: str
    host: str
    port: int | None

    @classmethod
    def of(cls, destination: str, url: str) -> Target:
        parts = urlsplit(url)
        return cls(destination, url, parts.scheme, parts.hostname or "", parts.port)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def pattern(self) -> str:
        """The httpx mount pattern of this endpoint's origin."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port is not None else "")


def targets(
    destinations: Mapping[str, DestinationRuntime], *, allow_insecure_http: bool
) -> list[Target]:
    """Every endpoint of the run's destinations, each through `require_https` first. Checked in
    dry runs too, so a dry run shows what the real run would refuse."""
    found: list[Target] = []
    for runtime in destinations.values():
        for endpoint in runtime.endpoints.values():
            require_https(runtime.name, endpoint.url, allow_insecure_http)
            found.append(Target.of(runtime.name, endpoint.url))
    return found


def require_https(destination: str, url: str, allow_http: bool) -> None:
    """Raise UsageError (exit 2) when `url`, where `destination`'s secrets go, is not https while
    its host is not loopback, unless `allow_http` (PRODUCT.md §7: secrets go over plain http
    only to this machine). A send's endpoints (`targets`) and `config check --connect`'s probes
    are held to it alike."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not is_loopback(parts.hostname or "") and not allow_http:
        raise UsageError(
            f"destination {destination}: {url} is not https",
            hint="secrets are only sent over https to hosts other than loopback "
            "(127.0.0.0/8, ::1, localhost); pass --allow-insecure-http to override",
        )


def make_client(
    concurrency: int,
    reached: Sequence[Target],
    *,
    environ: Mapping[str, str] | None = None,
    sockets: Sockets | None = None,
) -> tuple[httpx.Client, Sockets]:
    """The keep-alive client of a real run and its connections (`Sockets`, to abandon them):
    one connection per worker for each way out (direct, or each proxy the environment names
    for some of `reached`), TLS verified with the environment's CA bundle, no redirects."""
    import httpx

    from cdpcli.send.deadline import Sockets

    env = os.environ if environ is None else environ
    sockets = sockets if sockets is not None else Sockets()
    context = ssl_context(env)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    direct = _transport(sockets, context, limits)
    by_proxy: dict[str, httpx.HTTPTransport] = {}
    mounts: dict[str, httpx.BaseTransport | None] = {}
    for target in reached:
        proxy = proxy_for(target, env)
        if proxy is not None:
            if proxy not in by_proxy:
                by_proxy[proxy] = _transport(sockets, context, limits, proxy=proxy)
            mounts[target.pattern] = by_proxy[proxy]
    client = httpx.Client(
        transport=direct,
        mounts=mounts,
        timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
        trust_env=False,  # the environment's proxies are the mounts above, and nothing else
        follow_redirects=False,
    )
    return client, sockets


def ssl_context(environ: Mapping[str, str]) -> ssl.SSLContext:
    """TLS verification against `SSL_CERT_FILE` and/or `SSL_CERT_DIR` when set, else certifi's
    bundle; a bundle that cannot be loaded is a usage error naming the variable."""
    import ssl

    cafile = environ.get("SSL_CERT_FILE") or None
    capath = environ.get("SSL_CERT_DIR") or None
    if cafile is None and capath is None:
        import httpx

        return httpx.create_ssl_context(verify=True, trust_env=False)
    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except (OSError, ssl.SSLError) as error:
        named = f"SSL_CERT_FILE={cafile}" if cafile else f"SSL_CERT_DIR={capath}"
        reason = getattr(error, "strerror", None) or error
        raise UsageError(
            f"{named}: cannot load the CA certificates: {reason}",
            hint="point it at the PEM bundle of the CA that signs your destinations' "
            "(or your proxy's) certificates, or unset it",
        ) from error


def proxy_for(target: Target, environ: Mapping[str, str]) -> str | None:
    """The proxy URL the environment names for `target`, or None to connect directly: never
    for loopback, nor for a host `NO_PROXY` names; else `HTTPS_PROXY` (https) or `HTTP_PROXY`
    (http), else `ALL_PROXY`."""
    if target.loopback or _bypassed(target, _variable(environ, "no_proxy") or ""):
        return None
    return _variable(environ, f"{target.scheme}_proxy") or _variable(environ, "all_proxy")


def _variable(environ: Mapping[str, str], name: str) -> str | None:
    value = (environ.get(name) or environ.get(name.upper()) or "").strip()
    return value or None


def _bypassed(target: Target, no_proxy: str) -> bool:
    """Whether a `NO_PROXY` list names the target: `*`, its host or a domain it is in
    (`example.com`, `.example.com` and `*.example.com` all name `api.example.com`), optionally
    with `:port`, or an address or network (`10.0.0.0/8`) holding its address."""
    host = target.host.lower()
    port = target.port or (443 if target.scheme == "https" else 80)
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if entry == "*":
            return True
        if entry.startswith("["):  # [v6 address]:port
            name, _, rest = entry[1:].partition("]")
            entry_port = rest.removeprefix(":")
        elif entry.count(":") == 1:
            name, _, entry_port = entry.partition(":")
        else:
            name, entry_port = entry, ""
        if not name or (entry_port and entry_port != str(port)):
            continue
        if _in_network(host, name):
            return True
        domain = name.removeprefix("*").removeprefix(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def _in_network(host: str, entry: str) -> bool:
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False


def _transport(
    sockets: Sockets, context: ssl.SSLContext, limits: httpx.Limits, *, proxy: str | None = None
) -> httpx.HTTPTransport:
    import httpx

    try:
        transport = httpx.HTTPTransport(verify=context, limits=limits, proxy=proxy)
    except (ValueError, ImportError) as error:  # a proxy URL httpx cannot use (socks, a typo)
        shown, password = _without_password(proxy or "")
        text = str(error).replace(password, "***") if password else str(error)
        raise UsageError(
            f"proxy {shown}: {text}",
            hint="HTTPS_PROXY / HTTP_PROXY / ALL_PROXY must be an http:// or https:// URL",
        ) from error
    # httpx builds its httpcore pool without a way to pass a network backend: set it before
    # the pool opens its first connection (httpx is pinned below 0.29; tests/send/test_deadline
    # fails loudly if this stops applying).
    pool = transport._pool
    assert hasattr(pool, "_network_backend"), "httpcore pool without a network backend"
    pool._network_backend = sockets
    return transport


def _without_password(url: str) -> tuple[str, str | None]:
    """`url` with the password of its user info masked (`http://user:***@host:3128`), and that
    password: a proxy URL from the environment may carry one."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    user, _, host = parts.netloc.rpartition("@")
    masked = f"{user.partition(':')[0]}:***@{host}"
    return parts._replace(netloc=masked).geturl(), parts.password


def certificate_problem(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind a transport error, if that is what it is."""
    import ssl

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def certificate_error(
    destination: str, kind: str, url: str, problem: ssl.SSLCertVerificationError
) -> DeliveryError:
    """The fatal error of a certificate that failed verification: which host, why, and the
    variable that points cdpcli at another CA."""
    host = urlsplit(url).hostname or url
    reason = problem.verify_message or problem.reason or str(problem)
    return DeliveryError(
        f"destination `{destination}` ({kind}): the TLS certificate of {host} failed "
        f"verification: {reason}; nothing was retried",
        hint="if a corporate proxy or a private CA signs it, set SSL_CERT_FILE to that CA's "
        "PEM bundle (or SSL_CERT_DIR to a directory of them) and re-run; otherwise check "
        f"that {host} is the right host",
    )
