"""Both clients against a 3-node cluster with mutual TLS (kvd --peer-ca,
--peer-cert, --peer-key and --tls-client-ca; certificates from
scripts/make-certs.sh): they work with a client certificate, and are
refused with a clear error, writing nothing, without one."""

import asyncio
import subprocess
from pathlib import Path

import pytest
from conftest import _REPO, _start_cluster

import rumor


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    subprocess.run(
        ["bash", str(_REPO / "scripts" / "make-certs.sh"), str(directory), "--nodes", "1", "--test-extras"],
        check=True,
        capture_output=True,
    )
    return directory


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory, certs):
    flags = [
        f"--peer-ca={certs / 'ca.pem'}",
        f"--peer-cert={certs / 'node1.pem'}",  # valid for 127.0.0.1
        f"--peer-key={certs / 'node1.key'}",
        f"--tls-client-ca={certs / 'client-ca.pem'}",
    ]
    admin = rumor.Tls(certs / "ca.pem", certs / "admin.pem", certs / "admin.key")
    c = _start_cluster(tmp_path_factory.mktemp("tls-cluster"), flags=flags, tls=admin)
    try:
        yield c
    finally:
        c.close()


def client_tls(certs: Path) -> rumor.Tls:
    return rumor.Tls(str(certs / "ca.pem"), str(certs / "client.pem"), str(certs / "client.key"))


def test_a_client_certificate_gets_and_puts_on_every_node(tls_cluster, certs):
    with rumor.Client(tls_cluster.seed, tls=client_tls(certs)) as client:
        client.put("tls-py", "secret", w=3)
        assert list(client.get("tls-py", r=3).values) == [b"secret"]
        for node in tls_cluster.nodes:
            with rumor.Client(node.address, routing="any", tls=client_tls(certs)) as one:
                assert list(one.get("tls-py").values) == [b"secret"]


def test_the_async_client_talks_tls_too(tls_cluster, certs):
    async def run():
        async with rumor.AsyncClient(tls_cluster.seed, tls=client_tls(certs)) as client:
            await client.put("tls-aio", b"async")
            return (await client.get("tls-aio")).values

    assert list(asyncio.run(run())) == [b"async"]


@pytest.mark.parametrize(
    "who",
    ["plaintext", "no client certificate", "another CA", "expired"],
)
def test_callers_without_the_right_certificate_are_refused(tls_cluster, certs, who):
    tls = {
        "plaintext": None,
        "no client certificate": rumor.Tls(certs / "ca.pem"),
        "another CA": rumor.Tls(certs / "ca.pem", certs / "stranger.pem", certs / "stranger.key"),
        "expired": rumor.Tls(certs / "ca.pem", certs / "expired.pem", certs / "expired.key"),
    }[who]
    with rumor.Client(tls_cluster.seed, routing="any", tls=tls, timeout=5) as client:
        # Refused while connecting: certainly not written, and said so.
        with pytest.raises(rumor.Unavailable) as e:
            client.put(f"intruder-{who}", "x")
        message = str(e.value)
        assert message.startswith(f"cannot reach {tls_cluster.seed}: "), message
        assert "--tls-client-ca" in message or "--peer-ca" in message, message
    with rumor.Client(tls_cluster.seed, tls=client_tls(certs)) as good:
        assert not good.get(f"intruder-{who}").found


def test_tls_settings_are_checked(certs, tmp_path):
    with pytest.raises(rumor.InvalidArgument, match="cannot read"):
        rumor.Tls(tmp_path / "missing.pem")
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(rumor.InvalidArgument, match="not PEM"):
        rumor.Tls(tmp_path / "junk.pem")
    with pytest.raises(rumor.InvalidArgument, match="needs its key"):
        rumor.Tls(certs / "ca.pem", cert=certs / "client.pem")
    with pytest.raises(TypeError):
        rumor.Client("127.0.0.1:1", tls="ca.pem")


def test_pem_text_works_as_well_as_paths(tls_cluster, certs):
    tls = rumor.Tls(
        (certs / "ca.pem").read_text(), (certs / "client.pem").read_bytes(), str(certs / "client.key")
    )
    with rumor.Client(tls_cluster.seed, tls=tls) as client:
        client.put("tls-text", "ok")
        assert list(client.get("tls-text").values) == [b"ok"]
