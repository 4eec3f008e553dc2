// The kvcli binary against fake nodes (tests/client/fake_node.h): --r/--w
// reach the node, --routing picks the node, `replicas` prints every copy,
// `health` follows the node's serving status, and server errors map onto
// the documented exit codes.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/hash.h"
#include "gtest/gtest.h"
#include "server/ring/ring.h"
#include "tests/client/fake_node.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace rumor::testing {
namespace {

class KvcliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (uint64_t id : {0xa1u, 0xb2u, 0xc3u}) {
      nodes_.push_back(std::make_unique<FakeNode>(id, &cluster_));
    }
    std::vector<FakeNode*> all;
    for (auto& n : nodes_) all.push_back(n.get());
    cluster_.SetLayout(MakeLayout(all, /*tokens=*/16, /*replicas=*/2,
                                  /*version=*/3, /*seed=*/21));
  }

  RunResult Kvcli(std::vector<std::string> args) {
    std::vector<std::string> argv = {KVCLI_BIN,
                                     "--server=" + nodes_[0]->address()};
    argv.insert(argv.end(), args.begin(), args.end());
    return rumor::testing::Run(argv, dir_.path());
  }

  // A key whose first replica is not the seed.
  std::string KeyNotOwnedBySeed(std::string* owner) {
    std::vector<server::RingMember> members;
    v1::RingLayoutResponse layout = cluster_.layout();
    for (const auto& n : layout.nodes()) {
      members.push_back({n.id(), {n.tokens().begin(), n.tokens().end()}});
    }
    server::Ring ring(members);
    for (int i = 0;; ++i) {
      std::string key = absl::StrCat("k", i);
      NodeId id = ring.PreferenceList(RingPosition(key), 1)[0];
      if (id == nodes_[0]->id()) continue;
      for (auto& n : nodes_) {
        if (n->id() == id) *owner = n->address();
      }
      return key;
    }
  }

  FakeCluster cluster_;
  std::vector<std::unique_ptr<FakeNode>> nodes_;
  TempDir dir_;
};

TEST_F(KvcliTest, QuorumFlagsReachTheNode) {
  RunResult r = Kvcli({"--routing=any", "get", "k", "--r=2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Kvcli({"--routing=any", "put", "k", "v", "--w=3", "--r=1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Kvcli({"--routing=any", "delete", "k", "--w=2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Kvcli({"--routing=any", "get", "k"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<FakeNode::Request> got = nodes_[0]->requests();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].op, "get");
  EXPECT_EQ(got[0].r, 2u);
  EXPECT_EQ(got[0].w, 0u);
  EXPECT_EQ(got[1].op, "put");
  EXPECT_EQ(got[1].r, 1u);
  EXPECT_EQ(got[1].w, 3u);
  EXPECT_EQ(got[2].op, "delete");
  EXPECT_EQ(got[2].w, 2u);
  EXPECT_EQ(got[3].r, 0u);  // absent: the node's default
  EXPECT_EQ(got[3].w, 0u);

  r = Kvcli({"get", "k", "--r=-1"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = Kvcli({"get", "k", "--r=two"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(nodes_[0]->requests().size(), 4u);
}

TEST_F(KvcliTest, RingRoutingSendsTheRequestToTheKeysReplica) {
  std::string owner;
  std::string key = KeyNotOwnedBySeed(&owner);
  RunResult r = Kvcli({"put", key, "v"});  // --routing=ring is the default
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Kvcli({"--routing=ring", "get", key, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, absl::StrCat("{\"found\":true,\"values\":[\"", owner,
                                "\"],\"context\":\"Y3R4\"}\n"));
  EXPECT_TRUE(nodes_[0]->keys("put").empty());
  EXPECT_EQ(nodes_[0]->ring_layout_calls(), 2);  // once per invocation

  r = Kvcli({"--routing=any", "put", key, "v"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nodes_[0]->keys("put"), std::vector<std::string>{key});
  EXPECT_EQ(nodes_[0]->ring_layout_calls(), 2);

  r = Kvcli({"--routing=nearest", "get", key});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.err, "--routing")) << r.err;
}

TEST_F(KvcliTest, AServerWithoutRingLayoutStillServesTheRequest) {
  nodes_[0]->SetRingLayoutUnimplemented(true);
  RunResult r = Kvcli({"put", "k", "v"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nodes_[0]->keys("put"), std::vector<std::string>{"k"});
}

v1::ReplicasResponse SampleReplicas() {
  v1::ReplicasResponse resp;
  resp.set_position(0x00ab00000000cd01ULL);
  resp.set_replicas(2);
  v1::ReplicaCopy* a = resp.add_copies();
  a->set_node(0xa1);
  a->set_address("10.0.0.1:7379");
  a->set_status("alive");
  a->set_role("replica");
  a->set_answered(true);
  a->set_holds(true);
  a->add_values("hello");
  a->add_values(std::string("\xff\x00", 2));
  a->set_tombstones(1);
  v1::VersionEntry* e = a->add_version();
  e->set_actor(0xa1);
  e->set_counter(3);
  e = a->add_version();
  e->set_actor(0xb2);
  e->set_counter(1);
  v1::ReplicaCopy* b = resp.add_copies();
  b->set_node(0xb2);
  b->set_address("10.0.0.2:7379");
  b->set_status("dead");
  b->set_role("replica");
  b->set_answered(false);
  b->set_error("no answer within 1s");
  v1::ReplicaCopy* c = resp.add_copies();
  c->set_node(0xc3);
  c->set_address("10.0.0.3:7379");
  c->set_status("alive");
  c->set_role("hint");
  c->set_hint_for(0xb2);
  c->set_answered(true);
  c->set_holds(false);
  return resp;
}

TEST_F(KvcliTest, ReplicasPrintsEveryCopy) {
  nodes_[0]->SetReplicas(SampleReplicas(), grpc::Status::OK);
  RunResult r = Kvcli({"replicas", "greeting", "--json", "--base64"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(
      r.out,
      "{\"position\":\"00ab00000000cd01\",\"replicas\":2,\"copies\":["
      "{\"node\":\"00000000000000a1\",\"address\":\"10.0.0.1:7379\","
      "\"status\":\"alive\",\"role\":\"replica\",\"hint_for\":null,"
      "\"answered\":true,\"error\":\"\",\"holds\":true,\"values\":["
      "\"aGVsbG8=\",\"/wA=\"],\"tombstones\":1,\"version\":{"
      "\"00000000000000a1\":3,\"00000000000000b2\":1}},"
      "{\"node\":\"00000000000000b2\",\"address\":\"10.0.0.2:7379\","
      "\"status\":\"dead\",\"role\":\"replica\",\"hint_for\":null,"
      "\"answered\":false,\"error\":\"no answer within 1s\",\"holds\":false,"
      "\"values\":[],\"tombstones\":0,\"version\":{}},"
      "{\"node\":\"00000000000000c3\",\"address\":\"10.0.0.3:7379\","
      "\"status\":\"alive\",\"role\":\"hint\",\"hint_for\":\"00000000000000b2\","
      "\"answered\":true,\"error\":\"\",\"holds\":false,\"values\":[],"
      "\"tombstones\":0,\"version\":{}}]}\n");
  EXPECT_EQ(nodes_[0]->replicas_keys(), std::vector<std::string>{"greeting"});

  r = Kvcli({"replicas", "greeting"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* part :
       {"ring position 00ab00000000cd01, N=2, 3 copies",
        "00000000000000a1  10.0.0.1:7379", "replica",
        "holds the key: 2 values, 1 tombstone", "[1] hello",
        "version: 00000000000000a1:3 00000000000000b2:1",
        "00000000000000b2  10.0.0.2:7379", "not asked: no answer within 1s",
        "hint for 00000000000000b2", "does not hold the key"}) {
    EXPECT_TRUE(absl::StrContains(r.out, part)) << part << " in\n" << r.out;
  }
  // Without --base64, JSON cannot carry the binary value faithfully: it
  // says so.
  r = Kvcli({"replicas", "greeting", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "\"hello\",\"\\ufffd\\u0000\""))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.err, "--base64")) << r.err;
}

TEST_F(KvcliTest, ServerErrorsMapToTheDocumentedExitCodes) {
  struct Case {
    grpc::StatusCode code;
    int exit_code;
  };
  // get/put/delete: input the server refused is a usage error.
  for (const Case& c : {Case{grpc::StatusCode::INVALID_ARGUMENT, 2},
                        Case{grpc::StatusCode::FAILED_PRECONDITION, 2},
                        Case{grpc::StatusCode::OUT_OF_RANGE, 2},
                        Case{grpc::StatusCode::RESOURCE_EXHAUSTED, 3},
                        Case{grpc::StatusCode::INTERNAL, 3},
                        Case{grpc::StatusCode::UNAVAILABLE, 3}}) {
    for (const char* op : {"put", "delete", "get"}) {
      for (auto& n : nodes_) n->FailWith(op, grpc::Status(c.code, "refused"));
      std::vector<std::string> args = {op, "k"};
      if (std::string(op) == "put") args.push_back("v");
      RunResult r = Kvcli(args);
      EXPECT_EQ(r.exit_code, c.exit_code) << op << " " << c.code << ": " << r.err;
      EXPECT_TRUE(absl::StrContains(r.err, "refused")) << r.err;
      EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;  // one line
      for (auto& n : nodes_) n->FailWith(op, grpc::Status::OK);
    }
  }
  // An admin command refused for the cluster's state is a server error.
  nodes_[0]->SetReplicas(v1::ReplicasResponse(),
                         grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                      "not now"));
  RunResult r = Kvcli({"replicas", "k"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  nodes_[0]->SetReplicas(v1::ReplicasResponse(),
                         grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                      "key too long"));
  r = Kvcli({"replicas", "k"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

TEST_F(KvcliTest, HealthExitsZeroOnlyWhileTheNodeServes) {
  RunResult r = Kvcli({"health"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "status: SERVING\n");
  nodes_[0]->SetServing(false);  // as kvd does when it shuts down
  r = Kvcli({"health"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, absl::StrCat("kvcli: ", nodes_[0]->address(),
                                " is not serving (NOT_SERVING)\n"));
  r = Kvcli({"health", "--json"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "{\"status\":\"NOT_SERVING\"}\n");
  nodes_[0]->SetServing(true);
  EXPECT_EQ(Kvcli({"health"}).exit_code, 0);
}

TEST_F(KvcliTest, HelpDocumentsTheNewFlagsAndExitCodes) {
  RunResult r = Kvcli({"--help"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* part : {"--routing", "replicas", "FAILED_PRECONDITION",
                           "1 not found (get only)"}) {
    EXPECT_TRUE(absl::StrContains(r.out, part)) << part;
  }
  r = Kvcli({"put", "--help"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "--w")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "--r")) << r.out;
}

}  // namespace
}  // namespace rumor::testing
