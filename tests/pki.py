"""Throw-away certificates for TLS tests and benchmarks, made with the openssl CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

SERVING = "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
CLIENT = "extendedKeyUsage=clientAuth\n"


def _openssl(pki: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=pki, check=True, capture_output=True)


def make_ca(pki: Path, name: str) -> None:
    """`name`.crt and `name`.key: a self-signed CA, valid one day."""
    _openssl(pki, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
             f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.crt")


def make_signed(pki: Path, name: str, ca: str, extensions: str) -> None:
    """`name`.crt and `name`.key, signed by the CA `ca`, with these x509v3 extensions."""
    (pki / f"{name}.ext").write_text(extensions)
    _openssl(pki, "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
             "-keyout", f"{name}.key", "-out", f"{name}.csr")
    _openssl(pki, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey",
             f"{ca}.key", "-CAcreateserial", "-days", "1", "-extfile", f"{name}.ext",
             "-out", f"{name}.crt")
