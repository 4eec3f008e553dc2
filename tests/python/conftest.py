"""Fixtures of the Python client's tests.

Live clusters: real kvd processes from $RUMOR_BUILD_DIR (the build
directory: its kvd binary and its generated python/rumor_pb), each on
127.0.0.1 with a port the OS chooses, a data directory under pytest's
temporary directory and a log file next to it, and an environment without
the caller's RUMOR_* variables (kvd reads its flags from them). Every
process is killed when its fixture ends, whether the tests passed or not;
they are also started with a parent-death signal (setpriv), so even a
killed pytest leaves none behind. A node that exited by itself (a crash, a
sanitizer's abort) fails the fixture's teardown, with the end of its log.

Fake nodes: in-process gRPC servers that answer KV and Admin calls as a
test scripts them, for what a real cluster cannot do on demand (a node
that never answers, a ring with unreachable addresses).

Tests wait for conditions (wait_until, with a deadline), never for a fixed
time.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Callable, Dict, List, Optional, TypeVar

import pytest

_REPO = Path(__file__).resolve().parents[2]
_BUILD = os.environ.get("RUMOR_BUILD_DIR", "")
# `import rumor` without PYTHONPATH too (PYTHONPATH entries come first).
for _path in (_REPO / "client" / "python", Path(_BUILD) / "python" if _BUILD else None):
    if _path is not None and str(_path) not in sys.path:
        sys.path.append(str(_path))

import grpc  # noqa: E402

import rumor  # noqa: E402
from rumor._proto import admin_pb2, admin_pb2_grpc, kv_pb2, kv_pb2_grpc  # noqa: E402

T = TypeVar("T")

# Generous: the machine may be loaded, or kvd built with sanitizers.
START_TIMEOUT = 60.0


def wait_until(condition: Callable[[], T], timeout: float = 30.0, what: str = "the condition") -> T:
    """Polls `condition` until it returns a true value (returned), or fails
    the test after `timeout` seconds, naming `what` and the last exception
    the condition raised."""
    deadline = time.monotonic() + timeout
    last: Optional[BaseException] = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as e:  # the condition may fail until it holds
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:g}s waiting for {what}"
                + (f"; last error: {last!r}" if last is not None else "")
            )
        time.sleep(0.05)


def kvd_binary() -> Path:
    if not _BUILD:
        pytest.fail(
            "RUMOR_BUILD_DIR is not set: point it at the build directory "
            "(the one holding kvd and python/rumor_pb), e.g. RUMOR_BUILD_DIR=build"
        )
    kvd = Path(_BUILD) / "kvd"
    if not os.access(kvd, os.X_OK):
        pytest.fail(f"{kvd} is not an executable: build kvd first (ninja -C {_BUILD})")
    return kvd


# kvd's own answers to a write (server/replication/coordinator.cc), which
# quote its replicas' errors: a connection refused between two nodes says
# nothing about the client's call, which reached the coordinator.
QUORUM_SHORT = (
    "only 1 of the 2 acknowledgements needed (W=2) arrived: 127.0.0.1:7002: "
    "lost the connection to 127.0.0.1:7002: failed to connect to all addresses; "
    "last error: UNKNOWN: ipv4:127.0.0.1:7002: Connection refused; the write may "
    "have been applied on some replicas: its outcome is unknown"
)
FORWARDED_SHORT = (
    "forwarded to replica 127.0.0.1:7002: only 2 of the key's 3 replicas can be "
    "reached (down: 127.0.0.1:7003); a write needs W=3; nothing was written; "
    "the write may have been applied: its outcome is unknown"
)

# setpriv (util-linux) makes the kernel SIGKILL kvd when pytest dies.
_SETPRIV = shutil.which("setpriv")


def setpriv() -> str:
    if not _SETPRIV:
        pytest.fail(
            "setpriv (util-linux) is not on PATH: the tests start kvd through it "
            "so that no kvd outlives pytest (apt-get install util-linux)"
        )
    return _SETPRIV


def kvd_environment() -> Dict[str, str]:
    """The tests' environment without RUMOR_* variables: kvd reads every
    flag from one (RUMOR_SEEDS, RUMOR_REPLICAS, ...), and the caller's must
    not change the clusters the tests start."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RUMOR_")}


class KvdNode:
    """One kvd process, started and stopped by the tests."""

    def __init__(self, kvd: Path, directory: Path, name: str, flags: List[str]) -> None:
        self.kvd = kvd
        self.name = name
        self.data_dir = directory / name
        self.log_path = directory / f"{name}.log"
        self.port_file = directory / f"{name}.port"
        self.flags = flags
        self.process: Optional[subprocess.Popen] = None
        self.address = ""
        self.port = 0
        # Set when the tests kill the process: it did not exit by itself.
        self.killed = False

    def start(self, port: int = 0) -> None:
        """Starts kvd on 127.0.0.1:`port` (0: any) and waits until it serves."""
        if self.port_file.exists():
            self.port_file.unlink()
        argv = [
            setpriv(),
            "--pdeathsig",
            "KILL",
            "--",
            str(self.kvd),
            f"--listen=127.0.0.1:{port}",
            f"--data-dir={self.data_dir}",
            f"--port-file={self.port_file}",
            *self.flags,
        ]
        self.killed = False
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=kvd_environment()
            )
        wait_until(
            lambda: self.port_file.exists() or self.process.poll() is not None,
            START_TIMEOUT,
            f"{self.name} to write its port file",
        )
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited at start; its log:\n{self.log()}")
        self.address = self.port_file.read_text().strip()
        self.port = int(self.address.rsplit(":", 1)[1])

    @property
    def metrics_port(self) -> int:
        """The port of /metrics (kvd ran with --metrics=127.0.0.1:0), from
        the line kvd logs once it serves."""
        found = re.findall(
            r"metrics on http://127\.0\.0\.1:(\d+)/metrics",
            self.log_path.read_text(errors="replace"),
        )
        if not found:
            raise AssertionError(f"{self.name} logged no metrics address; its log:\n{self.log()}")
        return int(found[-1])

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def exited_by_itself(self) -> bool:
        """The process ended without the tests killing it."""
        return self.process is not None and self.process.poll() is not None and not self.killed

    def signal(self, sig: int) -> None:
        if self.running:
            self.process.send_signal(sig)

    def state(self) -> str:
        """The process's state letter in /proc/<pid>/stat (R, S, T, ...)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        return stat[stat.rindex(")") + 2]  # "pid (comm) S ...": comm may hold spaces

    def stop(self) -> None:
        """SIGSTOP, and waits until the kernel shows the process stopped."""
        self.signal(signal.SIGSTOP)
        wait_until(lambda: self.state() in "Tt", 10, f"{self.name} to stop")

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL, and waits until the process is gone."""
        if self.process is not None and self.process.poll() is None:
            self.killed = True
            self.process.send_signal(signal.SIGCONT)  # in case a test stopped it
            self.process.kill()
            self.process.wait(timeout=30)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"


class Cluster:
    """`size` kvd processes; node 0 starts the cluster, the others join
    through it."""

    def __init__(
        self,
        directory: Path,
        size: int = 3,
        flags: Optional[List[str]] = None,
        probe_interval: str = "1s",
        tls: Optional[rumor.Tls] = None,
    ) -> None:
        # How the fixture's own clients reach nodes started with TLS flags.
        self.tls = tls
        kvd = kvd_binary()
        directory.mkdir(parents=True, exist_ok=True)
        # Joins that finish within a second or two. Probes every second
        # (kvd's default) leave a slow node (sanitizers, a loaded machine)
        # time to answer; tests that wait for a failure to be detected ask
        # for faster ones.
        common = [
            f"--probe-interval={probe_interval}",
            "--handoff-interval=200ms",
            "--handoff-settle=1s",
            *(flags or []),
        ]
        self.nodes: List[KvdNode] = []
        for i in range(size):
            self.nodes.append(KvdNode(kvd, directory, f"node{i}", list(common)))
        self._clients: Dict[str, rumor.Client] = {}

    def start(self) -> None:
        self.nodes[0].start()
        for node in self.nodes[1:]:
            node.flags.append(f"--seeds={self.nodes[0].address}")
            node.start()
        self.wait_formed()

    def wait_formed(self, timeout: float = START_TIMEOUT) -> None:
        """Waits until every running node sees every running node alive,
        done joining and on its ring."""
        running = [n for n in self.nodes if n.running]
        addresses = {n.address for n in running}

        def formed() -> bool:
            for node in running:
                admin = self.admin(node.address)
                members = admin.members(timeout=2)
                ready = {
                    m.address
                    for m in members
                    if m.status == "alive" and not m.joining and m.tokens > 0
                }
                ring = {n.address for n in admin.ring_layout(timeout=2).nodes if n.tokens}
                if not (addresses <= ready and addresses <= ring):
                    return False
            return True

        try:
            wait_until(formed, timeout, f"the cluster {sorted(addresses)} to form")
        except AssertionError as e:
            logs = "\n".join(f"--- {n.name} ---\n{n.log()}" for n in running)
            raise AssertionError(f"{e}\n{logs}") from None

    @property
    def seed(self) -> str:
        return self.nodes[0].address

    def admin(self, address: str) -> rumor.Client:
        """A client that sends everything to `address` (for its status)."""
        client = self._clients.get(address)
        if client is None:
            client = self._clients[address] = rumor.Client(
                address, routing="any", timeout=10, tls=self.tls
            )
        return client

    def counters(self, nodes: Optional[List[KvdNode]] = None) -> Dict[str, Dict[str, int]]:
        """The counters of `nodes` (default: every running node), by address."""
        nodes = [n for n in self.nodes if n.running] if nodes is None else nodes
        return {n.address: self.admin(n.address).status().counters for n in nodes}

    def node_at(self, address: str) -> KvdNode:
        return next(n for n in self.nodes if n.address == address)

    def close(self, check: bool = True) -> None:
        """Kills every node, each whatever happens to the others. With
        `check`, then fails if a node had exited by itself (crashed),
        showing the end of its log."""
        crashed = [n for n in self.nodes if n.exited_by_itself]
        errors: List[str] = []
        for client in self._clients.values():
            try:
                client.close()
            except Exception as e:  # pragma: no cover - still kill the nodes
                errors.append(f"closing a client: {e!r}")
        for node in self.nodes:
            try:
                node.kill()
            except Exception as e:
                errors.append(f"killing {node.name} (pid {node.process.pid}): {e!r}")
        if check and crashed:
            errors += [
                f"{n.name} ({n.address}) exited by itself with status "
                f"{n.process.returncode}; the end of its log:\n{n.log()}"
                for n in crashed
            ]
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)


def _start_cluster(directory: Path, **kwargs) -> Cluster:
    cluster = Cluster(directory, **kwargs)
    try:
        cluster.start()
    except BaseException:
        cluster.close(check=False)  # the start's error says what happened
        raise
    return cluster


# Writes that would leave more siblings than this are refused (a small
# limit, so a test reaches it).
MAX_SIBLINGS = 5


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Cluster:
    """A healthy 3-node cluster (N=3, R=W=2) shared by a module's tests."""
    c = _start_cluster(
        tmp_path_factory.mktemp("cluster"), flags=[f"--max-siblings={MAX_SIBLINGS}"]
    )
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def fresh_cluster(tmp_path) -> Cluster:
    """A 3-node cluster of the test's own, which it may damage; fast
    probes (200 ms), so that a killed node is soon declared dead."""
    c = _start_cluster(tmp_path / "cluster", probe_interval="200ms")
    try:
        yield c
    finally:
        c.close()


def counter_deltas(before: Dict[str, Dict[str, int]], after: Dict[str, Dict[str, int]], name: str) -> Dict[str, int]:
    """How much counter `name` grew on each node (nodes that grew it only)."""
    out = {}
    for address, counters in after.items():
        delta = counters.get(name, 0) - before.get(address, {}).get(name, 0)
        if delta:
            out[address] = delta
    return out


# -- fake nodes ------------------------------------------------------------

Handler = Callable[[object, grpc.ServicerContext], object]


class FakeNode:
    """An in-process gRPC server answering KV and Admin calls.

    By default a Get finds nothing and Put and Delete succeed; `handlers`
    replaces the answer of a method ("Get", "Put", "Delete"). Every KV
    response carries the "rumor-ring-version" header (`ring_version`), as
    kvd's do. `layout` answers RingLayout (None: UNIMPLEMENTED). `calls`
    records every KV call's method name and request.
    """

    def __init__(self) -> None:
        self.calls: List[tuple] = []
        self.handlers: Dict[str, Handler] = {}
        self.layout: Optional[admin_pb2.RingLayoutResponse] = None
        self.ring_version = 1
        self.released = threading.Event()  # ends every hang()
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        kv_pb2_grpc.add_KVServicer_to_server(_FakeKv(self), self._server)
        admin_pb2_grpc.add_AdminServicer_to_server(_FakeAdmin(self), self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{port}"
        self._server.start()

    def kv_calls(self, method: str) -> List[object]:
        with self._lock:
            return [req for name, req in self.calls if name == method]

    def hang(self, request, context):
        """A handler that never answers (until the call ends or the node stops)."""
        while context.is_active() and not self.released.wait(0.05):
            pass
        context.abort(grpc.StatusCode.CANCELLED, "fake node stopped")

    def _kv(self, method: str, request, context, default):
        with self._lock:
            self.calls.append((method, request))
        context.send_initial_metadata((("rumor-ring-version", str(self.ring_version)),))
        handler = self.handlers.get(method)
        return default if handler is None else handler(request, context)

    def stop(self) -> None:
        self.released.set()
        self._server.stop(0).wait(10)


class _FakeKv(kv_pb2_grpc.KVServicer):
    def __init__(self, node: FakeNode) -> None:
        self._node = node

    def Get(self, request, context):
        return self._node._kv("Get", request, context, kv_pb2.GetResponse())

    def Put(self, request, context):
        return self._node._kv("Put", request, context, kv_pb2.PutResponse())

    def Delete(self, request, context):
        return self._node._kv("Delete", request, context, kv_pb2.DeleteResponse())


class _FakeAdmin(admin_pb2_grpc.AdminServicer):
    def __init__(self, node: FakeNode) -> None:
        self._node = node

    def RingLayout(self, request, context):
        if self._node.layout is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "fake node has no ring")
        return self._node.layout


@pytest.fixture
def fake_nodes():
    """A factory of FakeNodes, all stopped when the test ends."""
    nodes: List[FakeNode] = []

    def make() -> FakeNode:
        node = FakeNode()
        nodes.append(node)
        return node

    try:
        yield make
    finally:
        errors = []
        for node in nodes:
            try:
                node.stop()
            except Exception as e:  # the others are stopped still
                errors.append(f"stopping the fake node at {node.address}: {e!r}")
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)


def layout(version: int, replicas: int, nodes) -> admin_pb2.RingLayoutResponse:
    """A RingLayoutResponse of (address, status, tokens) triples; node ids
    1, 2, ... in order."""
    return admin_pb2.RingLayoutResponse(
        version=version,
        replicas=replicas,
        nodes=[
            admin_pb2.RingNode(id=i + 1, address=address, status=status, tokens=tokens)
            for i, (address, status, tokens) in enumerate(nodes)
        ],
    )
