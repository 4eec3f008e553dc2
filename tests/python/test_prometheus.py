"""A real Prometheus server (Debian's `prometheus` package) scrapes a
3-node cluster started with --metrics, under a short load; its HTTP query
API must show every node's series, and show them move."""

import json
import shutil
import socket
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import START_TIMEOUT, _start_cluster, kvd_environment, setpriv, wait_until

import rumor

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"

# Series every node must expose (unlabelled ones, or one label set).
REQUIRED = [
    'rumor_request_duration_seconds_count{op="put",outcome="ok"}',
    'rumor_request_duration_seconds_count{op="get",outcome="ok"}',
    'rumor_request_duration_seconds_bucket{op="put",outcome="ok",le="+Inf"}',
    "rumor_quorum_unavailable_total",
    "rumor_quorum_timeouts_total",
    "rumor_requests_forwarded_total",
    "rumor_read_repairs_total",
    "rumor_hints_stored_total",
    "rumor_hints_delivered_total",
    "rumor_hints_dropped_total",
    "rumor_handoff_keys_sent_total",
    "rumor_aae_keys_compared_total",
    "rumor_aae_keys_repaired_total",
    "rumor_aae_bytes_total",
    'rumor_members{status="alive"}',
    "rumor_swim_suspicions_raised_total",
    "rumor_peer_streams_opened_total",
    "rumor_storage_sst_bytes",
    "rumor_storage_pending_compaction_bytes",
    "rumor_storage_stall_micros_total",
    "rumor_storage_queue_depth",
    "rumor_serving",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    def __init__(self, directory: Path, targets) -> None:
        if not Path(PROMETHEUS).exists():
            pytest.fail(
                f"{PROMETHEUS} is missing: this test needs Debian's prometheus "
                "package (bash scripts/install-deps.sh installs it)"
            )
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: rumor\n    static_configs:\n"
            f"      - targets: {json.dumps(list(targets))}\n"
        )
        self.port = free_port()
        self.log_path = directory / "prometheus.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    setpriv(), "--pdeathsig", "KILL", "--", PROMETHEUS,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log, stderr=subprocess.STDOUT, env=kvd_environment(),
            )
        wait_until(self.ready, START_TIMEOUT, "prometheus to be ready")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited ({self.process.returncode}):\n{self.log()}")
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
            return r.status == 200

    def query(self, promql: str):
        """The instant vector `promql` evaluates to: [(labels, value)]."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        assert body["data"]["resultType"] == "vector", body
        return [(x["metric"], float(x["value"][1])) for x in body["data"]["result"]]

    def total(self, promql: str) -> float:
        return sum(v for _, v in self.query(promql))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    directory = tmp_path_factory.mktemp("prometheus")
    cluster = _start_cluster(directory / "cluster", flags=["--metrics=127.0.0.1:0"])
    prometheus = None
    try:
        targets = [f"127.0.0.1:{n.metrics_port}" for n in cluster.nodes]
        prometheus = Prometheus(directory / "prom", targets)
        yield cluster, prometheus, targets
    finally:
        if prometheus is not None:
            prometheus.close()
        cluster.close()


def load(cluster, n: int, prefix: str) -> None:
    with rumor.Client(cluster.seed) as client:
        for i in range(n):
            client.put(f"{prefix}-{i}", f"value-{i}")
            assert list(client.get(f"{prefix}-{i}").values) == [f"value-{i}".encode()]


def test_prometheus_scrapes_every_node(scraped):
    cluster, prometheus, targets = scraped

    def all_up():
        up = prometheus.query('up{job="rumor"}')
        return len(up) == 3 and all(v == 1 for _, v in up)

    wait_until(all_up, 30, f"prometheus to scrape {targets} successfully")
    load(cluster, 50, "exist")

    missing = list(REQUIRED)

    def every_series_on_every_node():
        missing[:] = [s for s in REQUIRED if len(prometheus.query(s)) != 3]
        return not missing

    try:
        wait_until(every_series_on_every_node, 30, "every required series on all three nodes")
    except AssertionError as e:
        raise AssertionError(f"{e}; not on every node: {missing}") from None
    alive = prometheus.query('rumor_members{status="alive"}')
    assert sorted(v for _, v in alive) == [3, 3, 3], alive
    assert all(v == 1 for _, v in prometheus.query("rumor_serving"))


def test_series_move_under_load(scraped):
    cluster, prometheus, _ = scraped
    puts = 'sum(rumor_request_duration_seconds_count{op="put",outcome="ok"})'
    replica_writes = "sum(rumor_replica_writes_received_total)"
    wait_until(lambda: prometheus.query(puts), 30, "a first scrape of the put counts")
    before_puts = prometheus.total(puts)
    before_replica = prometheus.total(replica_writes)
    load(cluster, 200, "move")
    # Every put of the load was answered by one of the three nodes, and
    # replicated to the other two: Prometheus sees the counters grow by
    # at least that much.
    wait_until(lambda: prometheus.total(puts) >= before_puts + 200, 30,
               f"the scraped put count to grow by 200 from {before_puts}")
    wait_until(lambda: prometheus.total(replica_writes) >= before_replica + 400, 30,
               "the scraped replica writes to grow by 400")
    # The histogram answers PromQL's quantile over the load's window.
    p99 = prometheus.query(
        'histogram_quantile(0.99, sum by (le) (rate(rumor_request_duration_seconds_bucket{op="put",outcome="ok"}[1m])))'
    )
    assert len(p99) == 1 and 0 < p99[0][1] < 30, p99
    # A counter the load made every node move: gossip keeps flowing.
    first = {m["instance"]: v for m, v in prometheus.query("rumor_swim_probes_sent_total")}
    wait_until(
        lambda: all(v > first[m["instance"]] for m, v in prometheus.query("rumor_swim_probes_sent_total")),
        30,
        "every node's probe count to grow",
    )
