"""A test certificate authority and a server certificate it signs, made in the test (with the
`cryptography` package when it is installed, else `openssl`), for TLS fakes on loopback."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the CA's certificate (PEM): what SSL_CERT_FILE points at
    cert: Path  # the server's certificate chain (PEM)
    key: Path  # the server's private key (PEM)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificates(directory: Path, names: Sequence[str]) -> Certificates:
    """A CA and a certificate for `names` (host names, or IP addresses) signed by it; skips the
    test when neither `cryptography` nor `openssl` is available."""
    try:
        return _with_cryptography(directory, names)
    except ImportError:
        pass
    if shutil.which("openssl") is None:
        pytest.skip("neither the cryptography package nor openssl is available")
    return _with_openssl(directory, names)


def _with_cryptography(directory: Path, names: Sequence[str]) -> Certificates:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cdpcli test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alternative: list[x509.GeneralName] = []
    for name in names:
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    found = Certificates(directory / "ca.pem", directory / "server.pem", directory / "key.pem")
    found.ca.write_bytes(ca_cert.public_bytes(pem))
    found.cert.write_bytes(cert.public_bytes(pem))
    found.key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return found


def _with_openssl(directory: Path, names: Sequence[str]) -> Certificates:
    found = Certificates(directory / "ca.pem", directory / "server.pem", directory / "key.pem")
    ca_key = directory / "ca-key.pem"

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(ca_key), "-out", str(found.ca), "-days", "1", "-subj", "/CN=cdpcli test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    request = directory / "server.csr"
    openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(found.key), "-out", str(request), "-subj", f"/CN={names[0]}",
    )  # fmt: skip
    alternative = []
    for name in names:
        try:
            ipaddress.ip_address(name)
            alternative.append(f"IP:{name}")
        except ValueError:
            alternative.append(f"DNS:{name}")
    extensions = directory / "server.ext"
    extensions.write_text(
        f"subjectAltName={','.join(alternative)}\nbasicConstraints=critical,CA:FALSE\n"
        "extendedKeyUsage=serverAuth\n",
        encoding="utf-8",
    )
    openssl(
        "x509", "-req", "-in", str(request), "-CA", str(found.ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(found.cert), "-days", "1", "-extfile", str(extensions),
    )  # fmt: skip
    return found
