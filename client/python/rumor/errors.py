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
    +-- UnknownOutcome       a put or delete that reached a node and then failed
                             (no answer before the deadline, connection lost,
                             or a quorum that fell short after some replicas
                             acknowledged): it may or may not have been
                             applied, on some replicas or all. Read the key to
                             find out; a retry with the same context cannot
                             overwrite anything the first attempt did not.

A key that is not found is not an error: Object.found is False.
"""

from __future__ import annotations

from typing import Optional, Sequence

import grpc

__all__ = [
    "RumorError",
    "InvalidArgument",
    "FailedPrecondition",
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


class DeadlineExceeded(RumorError):
    """A read or an admin call got no answer before its deadline."""


class UnknownOutcome(RumorError):
    """A put or delete that may or may not have been applied."""


_MAY_HAVE_BEEN_APPLIED = "the write may or may not have been applied"


def never_sent(code: grpc.StatusCode, details: str) -> bool:
    """Whether a failed call certainly did nothing on the node.

    True when its channel could not connect to (or resolve) the address, so
    the node cannot have seen it, or when the node refused it before doing
    anything because it is shutting down (kvd's exact wording). Anything
    else UNAVAILABLE (a reset or closed connection, a failed quorum) may
    have been applied. The same rule as the C++ client's.
    """
    if code != grpc.StatusCode.UNAVAILABLE:
        return False
    if details == "node is shutting down; retry on another node":
        return True
    text = details.lower()
    return (
        "failed to connect to all addresses" in text
        or "connection refused" in text
        or "dns resolution failed" in text
    )


def error_from_status(
    code: grpc.StatusCode,
    details: str,
    address: str,
    *,
    write: bool,
    retried: Sequence[str] = (),
) -> RumorError:
    """The exception for a call to `address` that failed with `code` and
    `details`, as the C++ client words it.

    `write`: the call was a put or delete. `retried`: "address: error" of
    earlier attempts of the same call, named in the message.
    """
    details = details or code.name
    cls: type = RumorError
    if code == grpc.StatusCode.UNAVAILABLE:
        if never_sent(code, details):
            cls, message = Unavailable, f"cannot reach {address}: {details}"
        elif write and "nothing was written" not in details:
            cls, message = UnknownOutcome, f"{address}: {details}"
            if "outcome is unknown" not in details:
                message += f"; {_MAY_HAVE_BEEN_APPLIED}"
        else:
            cls, message = Unavailable, f"{address}: {details}"
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        message = f"no answer from {address} before the deadline ({details})"
        if write:
            cls = UnknownOutcome
            if "outcome is unknown" not in details:
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
    elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        cls, message = Unavailable, f"{address}: {details}"
    elif code == grpc.StatusCode.UNIMPLEMENTED:
        message = f"{address} does not implement this call ({details})"
    else:
        message = f"{address}: {details}"
    if retried:
        message += f" (retried after {'; '.join(retried)})"
    return cls(message, code=code, address=address)
