"""The exceptions of the rumor client, and the one place gRPC errors become them.

    RumorError               any failed call; .code is the gRPC status code
    +-- InvalidArgument      the request is invalid (a key over the limit, a
    |                        malformed context, r/w out of range); also a
    |                        ValueError. Fix the request; retrying won't help.
    +-- FailedPrecondition   refused as it stands (a write over the sibling
    |                        limit: read, merge and write back with the context)
    +-- Unavailable          not carried out, nothing was written: the node
    |                        cannot be reached, too few replicas can, the node
    |                        has not joined yet or is overloaded. Retry later.
    +-- DeadlineExceeded     a read or an admin call got no answer in time
    +-- UnknownOutcome       a put or delete that may have reached a node and
                             then failed (no answer before the deadline,
                             connection lost, a quorum that fell short after
                             some replicas acknowledged, or any error other
                             than a definite refusal): it may or may not have
                             been applied, on some replicas or all. Read the
                             key to find out; a retry with the same context
                             cannot overwrite anything the first attempt did
                             not.

A key that is not found is not an error: Object.found is False.
"""

from __future__ import annotations

from typing import Optional, Sequence

import grpc

__all__ = [
    "RumorError",
    "InvalidArgument",
    "FailedPrecondition",
    "PermissionDenied",
    "Unavailable",
    "DeadlineExceeded",
    "UnknownOutcome",
    "error_from_status",
    "never_sent",
]


class RumorError(Exception):
    """A failed call. `code` is its grpc.StatusCode, `address` the node's."""

    def __init__(
        self,
        message: str,
        *,
        code: Optional[grpc.StatusCode] = None,
        address: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.address = address


class InvalidArgument(RumorError, ValueError):
    """The request is invalid (INVALID_ARGUMENT, OUT_OF_RANGE, or refused
    before it was sent)."""


class FailedPrecondition(RumorError):
    """The request was refused as it stands (FAILED_PRECONDITION)."""


class Unavailable(RumorError):
    """The request was not carried out (UNAVAILABLE, RESOURCE_EXHAUSTED):
    nothing was written. Safe to retry."""


class PermissionDenied(RumorError):
    """The node refused the caller (PERMISSION_DENIED, UNAUTHENTICATED):
    with TLS on, leave, remove, pausing anti-entropy and repair need a
    certificate from the cluster CA. Nothing was done."""


class DeadlineExceeded(RumorError):
    """A read or an admin call got no answer before its deadline."""


class UnknownOutcome(RumorError):
    """A put or delete that may or may not have been applied."""


_MAY_HAVE_BEEN_APPLIED = "the write may or may not have been applied"

# kvd's refusal of a call it did nothing with (server/rpc/kv_service.cc).
_SHUTTING_DOWN = "node is shutting down; retry on another node"

# Codes with which a put or delete was certainly refused as a whole: nothing
# was written. (RESOURCE_EXHAUSTED: kvd refuses writes with it while its
# disk or storage queue is full, before writing anything.) A write failing
# with any other code, UNAVAILABLE aside (see error_from_status), may have
# been applied.
_DEFINITE_REFUSALS = frozenset(
    (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
    )
)


def _says_outcome_unknown(details: str) -> bool:
    """Whether kvd said the write may have been applied (its words; a
    replica's "nothing was written" quoted in them does not count)."""
    return "outcome is unknown" in details or "may have been applied" in details


def never_sent(code: grpc.StatusCode, details: str, answered: bool = False) -> bool:
    """Whether a failed call certainly did nothing on the node.

    `answered`: the node answered the call itself (its response carried
    kvd's "rumor-ring-version" header, in the initial or the trailing
    metadata), so the call reached it. Then only kvd's own refusal while it
    shuts down (its exact wording) counts as never sent: its other errors
    quote its peers' ("failed to connect ...; Connection refused" of a
    replica it could not reach), which say nothing about this call.

    Otherwise also true when the channel could not connect to (or resolve)
    the address, so the node cannot have seen the call. Anything else
    UNAVAILABLE (a reset or closed connection, a failed quorum) may have
    been applied. The same rule as the C++ client's.
    """
    if code != grpc.StatusCode.UNAVAILABLE:
        return False
    if details == _SHUTTING_DOWN:
        return True
    if answered:
        return False
    text = details.lower()
    return (
        "failed to connect to all addresses" in text
        or "connection refused" in text
        or "dns resolution failed" in text
    )


def tls_hint(details: str) -> str:
    """What a connection that failed while it was set up most likely means
    (as the C++ client says it)."""
    if "Ssl handshake failed" in details or "certificate verify failed" in details:
        return (
            " (TLS: is the Tls's ca the CA that issued the node's certificate, "
            "and the host in the address one the certificate names?)"
        )
    if "Socket closed" in details:
        return (
            " (the node closed the connection as it was set up: a node started "
            "with --peer-ca needs tls=rumor.Tls(ca), and one with --tls-client-ca "
            "also a client certificate from that CA, Tls(ca, cert, key))"
        )
    return ""


def error_from_status(
    code: grpc.StatusCode,
    details: str,
    address: str,
    *,
    write: bool,
    answered: bool = False,
    retried: Sequence[str] = (),
) -> RumorError:
    """The exception for a call to `address` that failed with `code` and
    `details`, as the C++ client words it.

    `write`: the call was a put or delete. `answered`: the node answered it
    itself (see never_sent). `retried`: "address: error" of earlier
    attempts of the same call, named in the message.

    A write fails with UnknownOutcome unless it was certainly not applied:
    never sent, refused with one of the codes of a definite refusal, or an
    UNAVAILABLE saying "nothing was written" (and not that its outcome is
    unknown: kvd's quorum failures quote its replicas' errors).
    """
    details = details or code.name
    cls: type = RumorError
    if code == grpc.StatusCode.UNAVAILABLE:
        if write and _says_outcome_unknown(details):
            cls, message = UnknownOutcome, f"{address}: {details}"
        elif never_sent(code, details, answered):
            cls, message = Unavailable, f"cannot reach {address}: {details}{tls_hint(details)}"
        elif write and "nothing was written" not in details:
            cls, message = UnknownOutcome, f"{address}: {details}; {_MAY_HAVE_BEEN_APPLIED}"
        else:
            cls, message = Unavailable, f"{address}: {details}"
    elif code == grpc.StatusCode.UNKNOWN and not answered and "Ssl handshake failed" in details:
        # The handshake failed: nothing was sent.
        cls, message = Unavailable, f"cannot reach {address}: {details}{tls_hint(details)}"
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        message = f"no answer from {address} before the deadline ({details})"
        if write:
            cls = UnknownOutcome
            if not _says_outcome_unknown(details):
                message += f"; {_MAY_HAVE_BEEN_APPLIED}"
        else:
            cls = DeadlineExceeded
    elif code == grpc.StatusCode.CANCELLED and write:
        cls = UnknownOutcome
        message = f"the call to {address} was cancelled ({details}); {_MAY_HAVE_BEEN_APPLIED}"
    elif code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE):
        cls, message = InvalidArgument, details
    elif code == grpc.StatusCode.FAILED_PRECONDITION:
        cls, message = FailedPrecondition, details
    elif code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
        cls, message = PermissionDenied, f"{address}: {details}"
    elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        cls, message = Unavailable, f"{address}: {details}"
    elif code == grpc.StatusCode.UNIMPLEMENTED:
        message = f"{address} does not implement this call ({details})"
    elif write and code not in _DEFINITE_REFUSALS:
        # UNKNOWN, INTERNAL, ABORTED, DATA_LOSS, ...: the node may have
        # applied the write before it failed.
        cls, message = UnknownOutcome, f"{address}: {details}"
        if not _says_outcome_unknown(details):
            message += f"; {_MAY_HAVE_BEEN_APPLIED}"
    else:
        message = f"{address}: {details}"
    if retried:
        message += f" (retried after {'; '.join(retried)})"
    return cls(message, code=code, address=address)
