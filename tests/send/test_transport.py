"""How a send reaches its destinations (PRODUCT.md §6.1 "Certificates and proxies", §7): loopback
is decided by parsing the address, the https rule applies to dry runs too, TLS is verified with
the environment's CA bundle, a certificate error is fatal at once, and the environment's proxies
are used for every host but loopback."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

import cdpcli
from cdpcli.hosts import is_loopback
from cdpcli.send.transport import Target, proxy_for, require_https
from tests.fakes import LAGO_API_KEY, FakeLago, FakeMixpanel
from tests.fakes.hostile import RecordingProxy
from tests.fakes.sends import SECRETS, check_accounting, cli
from tests.fakes.tls import make_certificates

pytestmark = pytest.mark.usefixtures("fast_retries")  # fixtures: tests/fakes/sends.py


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.attacker.invalid", False),
        ("127.0.0.1.nip.io", False),
        ("localhost.attacker.invalid", False),
        ("128.0.0.1", False),
        ("0x7f.0.0.1", False),
        ("2130706433", False),
        ("::2", False),
        ("", False),
    ],
)
def test_loopback_is_an_address_in_127_0_0_0_8_or_1_or_the_name_localhost(
    host: str, loopback: bool
) -> None:
    assert is_loopback(host) is loopback


def insecure_config(directory: Path, url: str) -> Path:
    path = directory / "cdpcli.yaml"
    path.write_text(
        f"version: 1\ndestinations:\n  mixpanel:\n    kind: mixpanel\n    project_id: '1'\n"
        f"    api_url: {url}\nroutes:\n  - name: analytics\n    to: mixpanel\n",
        encoding="utf-8",
    )
    return path


def one_event(directory: Path) -> Path:
    path = directory / "events.jsonl"
    path.write_text(
        '{"type":"track","event":"E","userId":"u1","messageId":"m1",'
        '"timestamp":"2024-05-01T00:00:00Z"}\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "real run"])
def test_a_host_that_only_starts_with_127_needs_https(tmp_path: Path, dry_run: bool) -> None:
    config = insecure_config(tmp_path, "http://127.attacker.invalid")
    events = one_event(tmp_path)
    args = [str(events), "-c", str(config), *(["--dry-run"] if dry_run else [])]

    code, summary, stderr = cli(*args, env=SECRETS)

    assert code == 2, stderr
    message = " ".join(stderr.split())
    assert "destination mixpanel: http://127.attacker.invalid/import" in message
    assert "is not https" in message and "--allow-insecure-http" in message
    assert summary == {}  # refused before anything was read

    code, summary, stderr = cli(*args, "--allow-insecure-http", env=SECRETS)
    if dry_run:
        assert code == 0, stderr
        assert summary["delivered"] == 1
    else:  # allowed, then the name does not resolve: a delivery failure, not a usage error
        assert code == 6, stderr


def test_loopback_over_http_needs_no_flag(tmp_path: Path) -> None:
    for url in ("http://127.0.0.2:9", "http://[::1]:9", "http://localhost:9"):
        config = insecure_config(tmp_path, url)
        code, _summary, stderr = cli(str(one_event(tmp_path)), "-c", str(config), "--dry-run")
        assert code == 0, (url, stderr)


# --- certificates --------------------------------------------------------------------------


def urls_config(directory: Path, mixpanel_url: str, lago_url: str) -> Path:
    """`write_config`'s destinations and routes, at these URLs."""
    path = directory / "cdpcli.yaml"
    path.write_text(
        "version: 1\ndestinations:\n"
        f"  mixpanel: {{kind: mixpanel, project_id: '12345', api_url: '{mixpanel_url}'}}\n"
        f"  billing: {{kind: lago, api_url: '{lago_url}'}}\n"
        "routes:\n  - {name: analytics, to: mixpanel}\n"
        "  - {name: usage, to: billing, when: {type: track, userId: {exists: true}}}\n",
        encoding="utf-8",
    )
    return path


NO_CA = {"SSL_CERT_FILE": None, "SSL_CERT_DIR": None}  # CliRunner: None unsets a variable
NO_PROXY_VARIABLES = {
    name: None
    for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    for name in (base, base.upper())
}


def test_a_certificate_that_fails_verification_is_fatal_at_once(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path, ["localhost", "127.0.0.1"])
    with FakeMixpanel().serve_tls(certificates.server_context()) as mixpanel, FakeLago() as lago:
        config = urls_config(tmp_path, mixpanel.url, lago.url)
        env = {**SECRETS, **NO_CA, **NO_PROXY_VARIABLES}

        code, summary, stderr = cli(str(one_event(tmp_path)), "-c", str(config), env=env)

        assert code == 6, stderr
        message = " ".join(stderr.split())
        assert "destination `mixpanel` (mixpanel): the TLS certificate of localhost failed " in (
            message
        )
        assert "nothing was retried" in message and "SSL_CERT_FILE" in message
        assert mixpanel.accepted == 1  # one handshake: not retried
        assert mixpanel.requests == []
        assert summary["destinations"]["mixpanel"]["not_sent"] == 1


def test_connect_says_a_certificate_failed_as_a_send_does(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path, ["localhost", "127.0.0.1"])
    with FakeMixpanel().serve_tls(certificates.server_context()) as mixpanel, FakeLago() as lago:
        config = urls_config(tmp_path, mixpanel.url, lago.url)
        env = {**SECRETS, **NO_CA, **NO_PROXY_VARIABLES}

        check = cdpcli.check_connect(config, environ=env)

    mp = check.destinations[0]
    assert mp.outcome == "unreachable" and check.exit_code == 6
    message = mp.probes[0].message
    assert "the TLS certificate of localhost failed verification" in message
    assert "SSL_CERT_FILE" in message
    assert mixpanel.requests == []


def test_ssl_cert_file_names_the_ca_that_signs_a_destination(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path, ["localhost", "127.0.0.1"])
    with FakeMixpanel().serve_tls(certificates.server_context()) as mixpanel, FakeLago() as lago:
        config = urls_config(tmp_path, mixpanel.url, lago.url)
        env = {**SECRETS, **NO_PROXY_VARIABLES, "SSL_CERT_FILE": str(certificates.ca)}

        code, summary, stderr = cli(str(one_event(tmp_path)), "-c", str(config), env=env)

        assert code == 0, stderr
        check_accounting(summary)
        assert summary["delivered"] == 2
        assert len(mixpanel.events) == len(lago.events) == 1


def test_a_ca_bundle_that_cannot_be_loaded_is_a_usage_error(tmp_path: Path) -> None:
    with FakeMixpanel() as mixpanel, FakeLago() as lago:
        config = urls_config(tmp_path, mixpanel.url, lago.url)
        missing = tmp_path / "missing.pem"
        env = {**SECRETS, "SSL_CERT_FILE": str(missing)}

        code, _summary, stderr = cli(str(one_event(tmp_path)), "-c", str(config), env=env)

    assert code == 2, stderr
    message = " ".join(stderr.split())
    assert f"SSL_CERT_FILE={missing}: cannot load the CA certificates" in message
    assert mixpanel.requests == [] and lago.requests == []


# --- proxies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "proxy", ["ftp://ops:s3cret@proxy.example:1080", "socks5://ops:s3cret@p:1"]
)
def test_a_proxy_url_it_cannot_use_is_named_without_its_password(proxy: str) -> None:
    from cdpcli.send.transport import make_client

    target = Target.of("mixpanel", "https://api.mixpanel.com/import")
    with pytest.raises(cdpcli.UsageError) as caught:
        make_client(1, [target], environ={"HTTPS_PROXY": proxy})
    text = f"{caught.value} {caught.value.hint}"
    assert "s3cret" not in text
    assert proxy.replace("s3cret", "***") in text
    assert caught.value.exit_code == 2


def test_https_proxy_carries_a_remote_destination_but_never_loopback(tmp_path: Path) -> None:
    """Mixpanel at a name only the proxy can reach (`mixpanel.example.test`, over TLS through
    a CONNECT tunnel); Lago on 127.0.0.1, with HTTP_PROXY set too: reached directly."""
    certificates = make_certificates(tmp_path, ["mixpanel.example.test"])
    context = certificates.server_context()
    with (
        FakeMixpanel().serve_tls(context, host="mixpanel.example.test") as mixpanel,
        FakeLago() as lago,
    ):
        authority = f"mixpanel.example.test:{mixpanel.port}"
        with RecordingProxy({authority: mixpanel.port}) as proxy:
            config = urls_config(tmp_path, mixpanel.url, lago.url)
            env = {
                **SECRETS,
                **NO_PROXY_VARIABLES,
                "HTTPS_PROXY": proxy.url,
                "HTTP_PROXY": proxy.url,
                "SSL_CERT_FILE": str(certificates.ca),
            }
            code, summary, stderr = cli(str(one_event(tmp_path)), "-c", str(config), env=env)
            targets = proxy.targets

    assert code == 0, stderr
    assert summary["delivered"] == 2
    assert targets == [authority]  # one tunnel, to Mixpanel; nothing for 127.0.0.1
    assert len(mixpanel.events) == 1 and len(lago.events) == 1


def test_http_proxy_forwards_plain_http_to_a_remote_name(tmp_path: Path) -> None:
    with FakeMixpanel() as mixpanel, FakeLago() as lago:
        authority = f"billing.example.test:{lago.port}"
        with RecordingProxy({authority: lago.port}) as proxy:
            config = urls_config(tmp_path, mixpanel.url, f"http://{authority}")
            env = {**SECRETS, **NO_PROXY_VARIABLES, "HTTP_PROXY": proxy.url}
            args = (str(one_event(tmp_path)), "-c", str(config), "--allow-insecure-http")
            code, summary, stderr = cli(*args, env=env)
            targets = proxy.targets

    assert code == 0, stderr
    assert summary["delivered"] == 2
    assert targets == [f"http://{authority}/api/v1/events/batch"]
    assert lago.requests[0].headers["authorization"] == f"Bearer {LAGO_API_KEY}"
    assert len(mixpanel.events) == 1  # directly: loopback


def target(url: str) -> Target:
    parts = urlsplit(url)
    return Target("d", url, parts.scheme, parts.hostname or "", parts.port)


@pytest.mark.parametrize(
    ("url", "environ", "proxy"),
    [
        ("https://api.example.com", {"HTTPS_PROXY": "http://p:3128"}, "http://p:3128"),
        ("https://api.example.com", {"https_proxy": "http://a", "HTTPS_PROXY": "http://b"}, "http://a"),
        ("https://api.example.com", {"HTTP_PROXY": "http://p"}, None),
        ("http://api.example.com", {"HTTP_PROXY": "http://p"}, "http://p"),
        ("https://api.example.com", {"ALL_PROXY": "http://p"}, "http://p"),
        ("https://127.0.0.1:8443", {"HTTPS_PROXY": "http://p"}, None),
        ("https://localhost", {"ALL_PROXY": "http://p"}, None),
        ("https://[::1]:8443", {"HTTPS_PROXY": "http://p"}, None),
        ("https://127.attacker.invalid", {"HTTPS_PROXY": "http://p"}, "http://p"),
    ],
)  # fmt: skip
def test_the_proxy_of_a_destination(url: str, environ: dict[str, str], proxy: str | None) -> None:
    assert proxy_for(target(url), environ) == proxy


@pytest.mark.parametrize(
    ("url", "no_proxy", "bypassed"),
    [
        ("https://api.example.com", "*", True),
        ("https://api.example.com", "example.com", True),
        ("https://api.example.com", ".example.com", True),
        ("https://api.example.com", "other.test, *.example.com", True),
        ("https://api.example.com", "ample.com", False),
        ("https://api.example.com", "api.example.com:443", True),
        ("https://api.example.com", "api.example.com:8443", False),
        ("https://10.1.2.3", "10.0.0.0/8", True),
        ("https://11.1.2.3", "10.0.0.0/8", False),
        ("https://[2001:db8::1]", "2001:db8::/32", True),
        ("https://[2001:db8::1]:8443", "[2001:db8::1]:8443", True),
    ],
)  # fmt: skip
def test_no_proxy_names_hosts_domains_ports_and_networks(
    url: str, no_proxy: str, bypassed: bool
) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        environ = {"HTTPS_PROXY": "http://p", name: no_proxy}
        assert proxy_for(target(url), environ) == (None if bypassed else "http://p")


# --- the https rule, shared with `config check --connect` -----------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://api.mixpanel.com/import",
        "http://127.0.0.1:8765/import",
        "http://127.200.3.4/import",
        "http://localhost:3000/api/v1/events",
        "http://[::1]:3000/api/v1/events",
    ],
)
def test_https_and_loopback_pass(url: str) -> None:
    require_https("dest", url, allow_http=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://lago.example.com/api/v1/events",
        # a host name that merely starts with `127.` is not loopback (PRODUCT.md §6.1)
        "http://127.0.0.1.example.com/import",
        "http://127.evil.example/import",
        "http://128.0.0.1/import",
    ],
)
def test_plain_http_elsewhere_is_refused(url: str) -> None:
    with pytest.raises(cdpcli.UsageError) as caught:
        require_https("dest", url, allow_http=False)
    assert caught.value.exit_code == 2
    assert f"destination dest: {url} is not https" in str(caught.value)
    assert "--allow-insecure-http" in str(caught.value)
    require_https("dest", url, allow_http=True)
