// In-process node tests: a real Node (gRPC on 127.0.0.1, RocksDB in a temp
// dir) driven through the public C++ client library.
#include "server/node/node.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <unistd.h>

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "client/client.h"
#include "gtest/gtest.h"
#include "tests/support/http_get.h"
#include "tests/support/temp_dir.h"

namespace rumor::server {
namespace {

using client::Client;
using client::ClientOptions;

class NodeTest : public ::testing::Test {
 protected:
  void SetUp() override { StartNode(); }

  void StartNode(Limits limits = {}) {
    NodeOptions opts;
    opts.listen = "127.0.0.1:0";
    opts.data_dir = dir_.Sub("node");
    opts.limits = limits;
    auto node = Node::Start(opts);
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = std::move(*node);
    client_ = Connect();
  }

  std::unique_ptr<Client> Connect(client::Resolver resolver = nullptr) {
    ClientOptions o;
    o.server = node_->address();
    o.resolver = std::move(resolver);
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok());
    return std::move(*c);
  }

  rumor::testing::TempDir dir_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<Client> client_;
};

TEST_F(NodeTest, GetPutSiblingsDelete) {
  auto missing = client_->Get("greeting");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_FALSE(missing->found);

  ASSERT_TRUE(client_->Put("greeting", "hello", "").ok());
  auto obj = client_->Get("greeting");
  ASSERT_TRUE(obj.ok());
  EXPECT_EQ(obj->values, std::vector<std::string>{"hello"});
  ASSERT_TRUE(client_->Put("greeting", "hi", obj->context).ok());
  ASSERT_TRUE(client_->Put("greeting", "hey", "").ok());
  obj = client_->Get("greeting");
  ASSERT_TRUE(obj.ok());
  EXPECT_EQ(std::set<std::string>(obj->values.begin(), obj->values.end()),
            (std::set<std::string>{"hi", "hey"}));
  ASSERT_TRUE(client_->Delete("greeting", obj->context).ok());
  obj = client_->Get("greeting");
  ASSERT_TRUE(obj.ok());
  EXPECT_FALSE(obj->found);
  EXPECT_TRUE(obj->values.empty());
}

TEST_F(NodeTest, PutReturnBodyCarriesSiblingsAndContext) {
  auto first = client_->Put("k", "a", "", {}, /*return_body=*/true);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->values, std::vector<std::string>{"a"});
  auto second = client_->Put("k", "b", "", {}, true);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->values.size(), 2u);
  auto third = client_->Put("k", "c", second->context, {}, true);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->values, std::vector<std::string>{"c"});
  auto plain = client_->Put("k", "d", third->context);
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->values.empty()) << "no body unless asked";
}

TEST_F(NodeTest, BadInputIsInvalidArgumentNamingTheLimit) {
  auto r = client_->Put(std::string(2049, 'k'), "v", "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("2048"), absl::string_view::npos);
  r = client_->Put("k", std::string((1 << 20) + 1, 'v'), "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("1048576"), absl::string_view::npos);
  r = client_->Put("", "v", "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  r = client_->Put("k", "v", "\x01garbage-context");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  // Nothing was written by any of them.
  auto obj = client_->Get("k");
  ASSERT_TRUE(obj.ok());
  EXPECT_FALSE(obj->found);
  // The largest legal value round-trips unchanged (no truncation).
  std::string big(1 << 20, 'x');
  big[12345] = '\0';
  ASSERT_TRUE(client_->Put("big", big, "").ok());
  obj = client_->Get("big");
  ASSERT_TRUE(obj.ok());
  ASSERT_EQ(obj->values.size(), 1u);
  EXPECT_EQ(obj->values[0], big);
}

TEST_F(NodeTest, ConfiguredLimitsApply) {
  node_.reset();
  StartNode(Limits{8, 16});
  auto r = client_->Put("123456789", "v", "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("limit is 8"), absl::string_view::npos);
  EXPECT_TRUE(client_->Put("12345678", std::string(16, 'v'), "").ok());
}

// riak_test's sibling explosion: two clients interleave read-modify-write
// with contexts that are always stale by the other's write. Each writer's
// value is the set of items it has seen plus its own new item; a correct
// store ends with at most 2 siblings whose union holds all 200 items.
TEST_F(NodeTest, SiblingExplosionIsBounded) {
  auto parse = [](const std::vector<std::string>& values) {
    std::set<std::string> items;
    for (const auto& v : values) {
      for (auto part : absl::StrSplit(v, ',', absl::SkipEmpty())) {
        items.insert(std::string(part));
      }
    }
    return items;
  };
  size_t max_siblings = 0;
  for (int i = 0; i < 100; ++i) {
    auto a = client_->Get("cart");
    auto b = client_->Get("cart");
    ASSERT_TRUE(a.ok() && b.ok());
    std::set<std::string> a_items = parse(a->values);
    a_items.insert("a" + std::to_string(i));
    std::set<std::string> b_items = parse(b->values);
    b_items.insert("b" + std::to_string(i));
    ASSERT_TRUE(
        client_->Put("cart", absl::StrJoin(a_items, ","), a->context).ok());
    ASSERT_TRUE(
        client_->Put("cart", absl::StrJoin(b_items, ","), b->context).ok());
    auto now = client_->Get("cart");
    ASSERT_TRUE(now.ok());
    max_siblings = std::max(max_siblings, now->values.size());
  }
  EXPECT_LE(max_siblings, 2u);
  auto final_obj = client_->Get("cart");
  ASSERT_TRUE(final_obj.ok());
  std::set<std::string> all = parse(final_obj->values);
  EXPECT_EQ(all.size(), 200u) << "every write must survive in some sibling";
}

TEST_F(NodeTest, ResolverMergesSiblingsAndWritesBack) {
  ASSERT_TRUE(client_->Put("k", "x", "").ok());
  ASSERT_TRUE(client_->Put("k", "y", "").ok());
  auto resolving = Connect([](const std::vector<std::string>& siblings) {
    std::set<std::string> s(siblings.begin(), siblings.end());
    return absl::StrJoin(s, "+");
  });
  auto obj = resolving->Get("k");
  ASSERT_TRUE(obj.ok()) << obj.status();
  EXPECT_EQ(obj->values, std::vector<std::string>{"x+y"});
  // Written back: a plain client now sees one value.
  auto plain = client_->Get("k");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->values, std::vector<std::string>{"x+y"});
}

TEST_F(NodeTest, ManyAsyncWritesAllLand) {
  constexpr int kOps = 500;
  std::atomic<int> pending{kOps}, failures{0};
  absl::Notification done;
  for (int i = 0; i < kOps; ++i) {
    client_->PutAsync("key" + std::to_string(i), "v" + std::to_string(i), "",
                      {}, false, [&](absl::StatusOr<client::Object> r) {
                        if (!r.ok()) failures++;
                        if (--pending == 0) done.Notify();
                      });
  }
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  EXPECT_EQ(failures.load(), 0);
  for (int i = 0; i < kOps; i += 37) {
    auto obj = client_->Get("key" + std::to_string(i));
    ASSERT_TRUE(obj.ok());
    EXPECT_EQ(obj->values, std::vector<std::string>{"v" + std::to_string(i)});
  }
}

TEST_F(NodeTest, RestartKeepsDataAndNodeId) {
  ASSERT_TRUE(client_->Put("durable", "yes", "").ok());
  NodeId id = node_->id();
  client_.reset();
  node_->Shutdown();
  node_.reset();
  StartNode();
  EXPECT_EQ(node_->id(), id);
  auto obj = client_->Get("durable");
  ASSERT_TRUE(obj.ok());
  EXPECT_EQ(obj->values, std::vector<std::string>{"yes"});
  auto st = client_->Status();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->node_id, id);
  EXPECT_EQ(st->address, node_->address());
}

TEST_F(NodeTest, SecondNodeOnSameDataDirIsRefused) {
  NodeOptions opts;
  opts.listen = "127.0.0.1:0";
  opts.data_dir = dir_.Sub("node");
  auto second = Node::Start(opts);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use"), absl::string_view::npos);
}

TEST_F(NodeTest, BadOptionsAreRefused) {
  NodeOptions opts;
  opts.data_dir = dir_.Sub("other");
  opts.listen = "nonsense";
  EXPECT_EQ(Node::Start(opts).status().code(),
            absl::StatusCode::kInvalidArgument);
  opts.listen = "0.0.0.0:0";
  EXPECT_EQ(Node::Start(opts).status().code(),
            absl::StatusCode::kInvalidArgument)
      << "a wildcard listen address needs --advertise";
  opts.listen = node_->address();  // taken
  auto busy = Node::Start(opts);
  EXPECT_EQ(busy.status().code(), absl::StatusCode::kUnavailable);
  opts.listen = "127.0.0.1:0";
  opts.limits.max_key_bytes = 1 << 20;
  EXPECT_EQ(Node::Start(opts).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// What a node would announce to its peers is checked at start with the
// peers' own rules: a node must not start only to have every message it
// sends refused as malformed.
TEST_F(NodeTest, AnnouncementsPeersWouldRefuseAreRefusedAtStart) {
  struct Case {
    const char* name;
    void (*breakit)(NodeOptions*);
    const char* expect;
  };
  const Case cases[] = {
      {"tag key", [](NodeOptions* o) { o->tags = {{"my zone", "a"}}; }, "tag key"},
      {"tag value", [](NodeOptions* o) { o->tags = {{"zone", "a\nb"}}; }, "printable"},
      {"long tag", [](NodeOptions* o) { o->tags = {{"zone", std::string(300, 'a')}}; }, "256"},
      {"version tag", [](NodeOptions* o) { o->tags = {{"version", "9"}}; }, "version"},
      {"too many tags", [](NodeOptions* o) {
         for (int i = 0; i < 64; ++i) o->tags.push_back({"t" + std::to_string(i), "x"});
       }, "tags"},
      {"cluster", [](NodeOptions* o) { o->cluster = "prod cluster"; }, "cluster name"},
      {"advertise host", [](NodeOptions* o) { o->advertise = "bad\thost:7000"; }, "host:port"},
      {"listen host", [](NodeOptions* o) { o->listen = "local host:0"; }, "host:port"},
  };
  for (const Case& c : cases) {
    NodeOptions opts;
    opts.data_dir = dir_.Sub(std::string("refused-") + c.name);
    opts.listen = "127.0.0.1:0";
    c.breakit(&opts);
    auto node = Node::Start(opts);
    ASSERT_FALSE(node.ok()) << c.name;
    EXPECT_EQ(node.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(node.status().message().find(c.expect), absl::string_view::npos)
        << c.name << ": " << node.status();
  }
  // And what is fine starts.
  NodeOptions ok;
  ok.data_dir = dir_.Sub("tagged");
  ok.listen = "127.0.0.1:0";
  ok.tags = {{"zone", "eu-west-1a"}, {"rack/row", "R 12"}};
  ok.cluster = "prod-2.eu_west";
  auto node = Node::Start(ok);
  ASSERT_TRUE(node.ok()) << node.status();
}

TEST_F(NodeTest, HealthServiceReportsServing) {
  auto channel = grpc::CreateChannel(node_->address(),
                                     grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::ByteBuffer request, response;  // empty HealthCheckRequest: service ""
  grpc::Slice empty;
  request = grpc::ByteBuffer(&empty, 1);
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                 &request, &response, [&](grpc::Status s) {
                   status = s;
                   done.Notify();
                 });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // HealthCheckResponse{status: SERVING (1)} encodes as field 1 varint 1.
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

TEST_F(NodeTest, HealthAnswersForEveryServiceName) {
  for (const char* service :
       {"", "rumor.v1.KV", "rumor.v1.Admin", "rumor.v1.Peer",
        "rumor.v1.Replica"}) {
    auto h = client_->Health(service);
    ASSERT_TRUE(h.ok()) << service << ": " << h.status();
    EXPECT_EQ(*h, client::ServingStatus::kServing) << service;
  }
  auto unknown = client_->Health("rumor.v1.Nope");
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(absl::IsNotFound(unknown.status())) << unknown.status();
  EXPECT_NE(unknown.status().message().find("rumor.v1.Nope"),
            std::string::npos);
}

TEST(NodeHealthTest, ANodeThatHasNotLearntItsRingIsNotServingClients) {
  rumor::testing::TempDir dir;
  NodeOptions opts;
  opts.listen = "127.0.0.1:0";
  opts.data_dir = dir.Sub("node");
  opts.seeds = {"127.0.0.1:1"};  // never answers: the node never joins
  auto node = Node::Start(opts);
  ASSERT_TRUE(node.ok()) << node.status();
  ClientOptions o;
  o.server = (*node)->address();
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok());
  // An observation window of several polls of the health loop (not a
  // wait for a condition): it stays NOT_SERVING throughout.
  for (int i = 0; i < 5; ++i) {
    for (const char* service : {"", "rumor.v1.KV"}) {
      auto h = (*c)->Health(service);
      ASSERT_TRUE(h.ok()) << h.status();
      EXPECT_EQ(*h, client::ServingStatus::kNotServing) << service;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  // Peers must reach it to let it join; operators can ask it questions.
  for (const char* service : {"rumor.v1.Admin", "rumor.v1.Peer"}) {
    auto h = (*c)->Health(service);
    ASSERT_TRUE(h.ok()) << h.status();
    EXPECT_EQ(*h, client::ServingStatus::kServing) << service;
  }
}

TEST(NodeHealthTest, AJoiningNodeTurnsServingOnceItKnowsTheRing) {
  rumor::testing::TempDir dir;
  NodeOptions a;
  a.listen = "127.0.0.1:0";
  a.data_dir = dir.Sub("a");
  a.probe_interval = absl::Milliseconds(100);
  auto first = Node::Start(a);
  ASSERT_TRUE(first.ok()) << first.status();
  NodeOptions b = a;
  b.data_dir = dir.Sub("b");
  b.seeds = {(*first)->address()};
  auto second = Node::Start(b);
  ASSERT_TRUE(second.ok()) << second.status();
  ClientOptions o;
  o.server = (*second)->address();
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok());
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  for (;;) {
    auto h = (*c)->Health("rumor.v1.KV");
    ASSERT_TRUE(h.ok()) << h.status();
    if (*h == client::ServingStatus::kServing) break;
    ASSERT_LT(absl::Now(), deadline) << "the joined node never served";
    absl::SleepFor(absl::Milliseconds(50));
  }
  // And it serves what it says: a read through it works.
  auto got = (*c)->Get("k");
  EXPECT_TRUE(got.ok()) << got.status();
}

// The value of the sample line `series` in the exposition `text`, or -1.
double Sample(const std::string& text, const std::string& series) {
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

TEST(NodeMetricsTest, MetricsCountRequestsByOperationAndOutcome) {
  rumor::testing::TempDir dir;
  NodeOptions opts;
  opts.listen = "127.0.0.1:0";
  opts.data_dir = dir.Sub("node");
  opts.metrics = "127.0.0.1:0";
  auto node = Node::Start(opts);
  ASSERT_TRUE(node.ok()) << node.status();
  int port = (*node)->metrics_port();
  ASSERT_GT(port, 0);
  ClientOptions o;
  o.server = (*node)->address();
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*c)->Put("k" + std::to_string(i), "v", "").ok());
  }
  ASSERT_TRUE((*c)->Get("k0").ok());
  ASSERT_TRUE((*c)->Get("missing").ok());
  EXPECT_FALSE((*c)->Put(std::string(100000, 'x'), "v", "").ok());

  std::string response = rumor::testing::HttpGet(port, "/metrics");
  ASSERT_NE(response.find("HTTP/1.1 200 OK"), std::string::npos) << response;
  std::string text = rumor::testing::HttpBody(response);
  const std::string count = "rumor_request_duration_seconds_count";
  EXPECT_EQ(Sample(text, count + "{op=\"put\",outcome=\"ok\"}"), 3);
  EXPECT_EQ(Sample(text, count + "{op=\"get\",outcome=\"ok\"}"), 1);
  EXPECT_EQ(Sample(text, count + "{op=\"get\",outcome=\"not_found\"}"), 1);
  EXPECT_EQ(
      Sample(text, count + "{op=\"put\",outcome=\"invalid_argument\"}"), 1);
  EXPECT_EQ(Sample(text, "rumor_members{status=\"alive\"}"), 1);
  EXPECT_EQ(Sample(text, "rumor_serving"), 1);
  // The coordinator counts every put it was handed, the refused one too.
  EXPECT_EQ(Sample(text, "rumor_requests_put_total"), 4);
  EXPECT_GT(Sample(text, "rumor_storage_disk_free_bytes"), 0);
  for (const char* family :
       {"rumor_swim_suspicions_raised_total", "rumor_peer_streams_opened_total",
        "rumor_hints_stored_for_total", "rumor_aae_keys_compared_total",
        "rumor_storage_pending_compaction_bytes", "rumor_storage_queue_depth",
        "rumor_quorum_timeouts_total", "rumor_handoff_keys_sent_total"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " "),
              std::string::npos)
        << family;
  }
  // Every family once, every sample line a name and a number.
  std::set<std::string> families;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "# TYPE ")) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      EXPECT_TRUE(families.insert(parts[2]).second) << line;
    } else if (!absl::StartsWith(line, "# HELP ")) {
      size_t space = line.rfind(' ');
      ASSERT_NE(space, absl::string_view::npos) << line;
      double v;
      EXPECT_TRUE(absl::SimpleAtod(line.substr(space + 1), &v)) << line;
    }
  }
  EXPECT_GT(families.size(), 60u);
}

TEST(NodeMetricsTest, ABusyMetricsPortStopsTheStartCleanly) {
  rumor::testing::TempDir dir;
  NodeOptions opts;
  opts.listen = "127.0.0.1:0";
  opts.data_dir = dir.Sub("a");
  opts.metrics = "127.0.0.1:0";
  auto a = Node::Start(opts);
  ASSERT_TRUE(a.ok()) << a.status();
  opts.data_dir = dir.Sub("b");
  opts.metrics = "127.0.0.1:" + std::to_string((*a)->metrics_port());
  auto b = Node::Start(opts);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("cannot serve metrics on " +
                                      opts.metrics),
            std::string::npos)
      << b.status();
  // Checked before anything was opened: no data dir was even created (a
  // node with seeds would not have announced itself either).
  EXPECT_NE(access(opts.data_dir.c_str(), F_OK), 0);
  opts.metrics = "192.0.2.1:0";  // TEST-NET-1: on no interface here
  EXPECT_FALSE(Node::Start(opts).ok());
  EXPECT_NE(access(opts.data_dir.c_str(), F_OK), 0);
  opts.metrics = "";
  EXPECT_TRUE(Node::Start(opts).ok());
}

TEST(ClientTest, UnreachableServerIsUnavailableWithAddress) {
  ClientOptions o;
  o.server = "127.0.0.1:1";
  o.timeout = absl::Seconds(5);
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok());
  auto r = (*c)->Get("k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("127.0.0.1:1"), absl::string_view::npos);
}

}  // namespace
}  // namespace rumor::server

namespace rumor::server {
namespace {

// Peers hold long-lived gossip streams to each other; a node shutting down
// must end them itself rather than sit out its whole grace period.
TEST(NodeClusterTest, ShutdownDoesNotWaitForPeerStreams) {
  rumor::testing::TempDir dir;
  NodeOptions a_opts;
  a_opts.listen = "127.0.0.1:0";
  a_opts.data_dir = dir.Sub("a");
  a_opts.probe_interval = absl::Milliseconds(50);
  auto a = Node::Start(a_opts);
  ASSERT_TRUE(a.ok()) << a.status();
  for (int round = 0; round < 20; ++round) {
    NodeOptions b_opts = a_opts;
    b_opts.data_dir = dir.Sub("b");
    b_opts.seeds = {(*a)->address()};
    auto b = Node::Start(b_opts);
    ASSERT_TRUE(b.ok()) << b.status();
    // Stop right after the join, or a little later: peers are then busy
    // opening streams to us.
    client::ClientOptions co;
    co.server = (*b)->address();
    auto c = client::Client::Connect(co);
    ASSERT_TRUE(c.ok());
    bool joined = false;
    for (int i = 0; i < 2500 && !joined; ++i) {
      auto members = (*c)->Members();
      joined = members.ok() && members->size() == 2;
      if (!joined) absl::SleepFor(absl::Milliseconds(2));
    }
    ASSERT_TRUE(joined) << "round " << round << ": b never saw a";
    absl::SleepFor(absl::Milliseconds(10 * (round % 5)));
    absl::Time t0 = absl::Now();
    (*b)->Shutdown(absl::Seconds(5));
    absl::Duration took = absl::Now() - t0;
    EXPECT_LT(took, absl::Seconds(2)) << "round " << round;
  }
  absl::Time t0 = absl::Now();
  (*a)->Shutdown(absl::Seconds(5));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(2));
}

}  // namespace
}  // namespace rumor::server
