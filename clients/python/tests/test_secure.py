"""The Python client against a gateway serving TLS that reads as its callers, in front of
pulsar.sh's `secure` standalone (JWT authentication and authorization on)."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import grpc
import pulsar
import pytest

import pulsar_seam

from conftest import ROOT, Gateway, fresh_topic, produce, read_official

PULSAR_SH = str(ROOT / "pulsar/pulsar.sh")
AUTH_DIR = ROOT / "pulsar/.data-auth/auth"
SERVICE_URL = "pulsar://127.0.0.1:6660"
WEB_URL = "http://127.0.0.1:8090"


def sign(role):
    """A JWT for `role`, HS256 with the brokers' secret key (what `pulsar tokens create` makes)."""
    part = lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    signed = f"{part({'alg': 'HS256'})}.{part({'sub': role})}"
    mac = hmac.new((AUTH_DIR / "secret.key").read_bytes(), signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def admin(method, path, body):
    request = urllib.request.Request(
        f"{WEB_URL}/admin/v2/{path}",
        method=method,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {sign('admin')}", "Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=20).close()


@pytest.fixture(scope="module")
def certificates():
    """A CA and a server certificate for 127.0.0.1 (openssl)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = lambda *args: subprocess.run(["openssl", *args], cwd=tmp, check=True, capture_output=True)
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=seam-test-ca", "-days", "2",
            "-keyout", "ca.key", "-out", "ca.pem")
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
            "-out", "server.csr")
        Path(tmp, "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
        run("x509", "-req", "-days", "2", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-extfile", "san.ext", "-out", "server.pem")
        yield Path(tmp)


@pytest.fixture(scope="module")
def secure_gateway(certificates):
    # Reused when the TypeScript security tests already started it; scripts/test.sh stops it.
    subprocess.run(["bash", PULSAR_SH, "start"], check=True, env={**os.environ, "SEAM_PULSAR_PROFILE": "secure"},
                   stdout=subprocess.DEVNULL)
    gw = Gateway(
        "--caller-auth", "forward",
        "--tls-cert", str(certificates / "server.pem"), "--tls-key", str(certificates / "server.key"),
        "--pulsar-url", SERVICE_URL, "--pulsar-admin-url", WEB_URL,
        "--pulsar-token", f"file://{AUTH_DIR / 'seam-proxy.token'}",
        "--token-secret-key", str(AUTH_DIR / "secret.key"),
    )
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def granted_topic():
    """A topic of 120 messages that role `py-reader` may consume, and nobody else but admin."""
    topic = fresh_topic("secure")
    client = pulsar.Client(SERVICE_URL, authentication=pulsar.AuthenticationToken(sign("admin")),
                           logger=pulsar.FileLogger(pulsar.LoggerLevel.Warn, "/dev/stderr"))
    produce(client, topic, 120)
    admin("POST", f"{topic.replace('://', '/')}/permissions/py-reader", ["consume"])
    yield topic, read_official(client, topic)
    client.close()


def test_a_caller_with_a_token_reads_over_tls(secure_gateway, certificates, granted_topic):
    topic, official = granted_topic
    creds = pulsar_seam.credentials(ca=certificates / "ca.pem", token=sign("py-reader"))
    table = pulsar_seam.read(secure_gateway.address, topic, credentials=creds).read_all()
    assert table.column("__messageId").to_pylist() == [m.message_id().serialize() for m in official]


def test_a_token_function_is_asked_at_every_call(secure_gateway, certificates, granted_topic):
    topic, _official = granted_topic
    calls = []

    def token():
        calls.append(1)
        return sign("py-reader")

    creds = pulsar_seam.credentials(ca=(certificates / "ca.pem").read_bytes(), token=token)
    for _ in range(2):
        assert pulsar_seam.read(secure_gateway.address, topic, credentials=creds).read_all().num_rows == 120
    assert len(calls) == 2


@pytest.mark.parametrize(
    "token, code",
    [(None, grpc.StatusCode.UNAUTHENTICATED), ("py-other", grpc.StatusCode.PERMISSION_DENIED)],
    ids=["no token", "no grant"],
)
def test_callers_without_access_read_nothing(secure_gateway, certificates, granted_topic, token, code):
    topic, _ = granted_topic
    creds = pulsar_seam.credentials(ca=certificates / "ca.pem", token=token and sign(token))
    rows = []
    with pytest.raises(pulsar_seam.SeamError) as error:
        for batch, _ in pulsar_seam.stream(secure_gateway.address, topic, credentials=creds):
            rows.append(batch.num_rows)
    assert error.value.code == code
    assert rows == []


def test_a_client_that_does_not_trust_the_ca_fails(secure_gateway, granted_topic):
    topic, _ = granted_topic
    creds = pulsar_seam.credentials(token=sign("py-reader"))  # the system's CAs
    with pytest.raises(pulsar_seam.SeamError) as error:
        pulsar_seam.read(secure_gateway.address, topic, credentials=creds, max_resumes=0)
    assert error.value.code == grpc.StatusCode.UNAVAILABLE


def test_a_certificate_needs_its_key():
    with pytest.raises(ValueError, match="go together"):
        pulsar_seam.credentials(cert=b"pem")
