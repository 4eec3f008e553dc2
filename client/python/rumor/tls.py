"""TLS settings of a client: for nodes started with --peer-ca (TLS) and
--tls-client-ca (mutual TLS)."""

from __future__ import annotations

import os
from typing import Optional, Tuple, Union

import grpc

from rumor.errors import InvalidArgument

__all__ = ["Tls"]

PemSource = Union[bytes, str, "os.PathLike[str]"]


def _pem(what: str, source: PemSource) -> bytes:
    """PEM given as bytes or text, or read from a path."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif isinstance(source, str) and "-----BEGIN " in source:
        data = source.encode()
    else:
        path = os.fspath(source)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise InvalidArgument(f"{what} {path}: cannot read the file ({e.strerror})") from None
    if b"-----BEGIN " not in data:
        raise InvalidArgument(f"{what}: not PEM data")
    return data


class Tls:
    """How to talk TLS to the nodes.

    `ca`: the CA that issued the nodes' certificates (the cluster CA, kvd's
    --peer-ca). `cert` and `key`: a client certificate and its key, for
    nodes that require one (--tls-client-ca); one from the cluster CA also
    authorises leave, remove, pausing anti-entropy and repair. Each is PEM (bytes or text) or a path to a
    PEM file. `server_name`: verify every node's certificate against this
    one name instead of the host of each address (with ring routing, only
    when one certificate names every node).

        rumor.Client("127.0.0.1:7379", tls=rumor.Tls(ca="certs/ca.pem",
                     cert="certs/client.pem", key="certs/client.key"))
    """

    def __init__(
        self,
        ca: PemSource,
        cert: Optional[PemSource] = None,
        key: Optional[PemSource] = None,
        *,
        server_name: Optional[str] = None,
    ) -> None:
        if (cert is None) != (key is None):
            raise InvalidArgument("a client certificate needs its key, and a key its certificate")
        self.ca = _pem("tls ca", ca)
        self.cert = None if cert is None else _pem("tls cert", cert)
        self.key = None if key is None else _pem("tls key", key)
        self.server_name = server_name

    def __repr__(self) -> str:
        return f"rumor.Tls(client_certificate={self.cert is not None}, server_name={self.server_name!r})"

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )

    def channel_options(self) -> Tuple[Tuple[str, object], ...]:
        if self.server_name:
            return (("grpc.ssl_target_name_override", self.server_name),)
        return ()
