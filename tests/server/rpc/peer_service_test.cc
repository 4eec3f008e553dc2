// A real node's peer port under bad input: wrong protocol version, no
// hello, forged and malformed frames, oversized messages. The node must
// refuse with a clear status, keep running and keep its member list clean.
#include <grpcpp/grpcpp.h>

#include "client/client.h"
#include "gtest/gtest.h"
#include "proto/peer.grpc.pb.h"
#include "server/node/node.h"
#include "server/rpc/peer_codec.h"
#include "tests/support/temp_dir.h"

namespace rumor::server {
namespace {

class PeerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NodeOptions o;
    o.listen = "127.0.0.1:0";
    o.data_dir = dir_.Sub("node");
    o.probe_interval = absl::Milliseconds(100);
    auto node = Node::Start(o);
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = std::move(*node);
    channel_ = grpc::CreateChannel(node_->address(),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Peer::NewStub(channel_);
    client::ClientOptions co;
    co.server = node_->address();
    client_ = std::move(*client::Client::Connect(co));
  }

  // Sends `frames` on one stream and returns how the node ended it.
  grpc::Status Send(const std::vector<v1::PeerFrame>& frames) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::PeerClose close;
    auto writer = stub_->Gossip(&ctx, &close);
    for (const auto& f : frames) {
      if (!writer->Write(f)) break;  // the node ended the stream
    }
    writer->WritesDone();
    return writer->Finish();
  }

  v1::PeerFrame Hello(uint32_t version = kPeerProtocolVersion,
                      const std::string& cluster = "rumor") {
    v1::PeerFrame f;
    f.mutable_hello()->set_protocol_version(version);
    f.mutable_hello()->set_node_id(777);
    f.mutable_hello()->set_address("127.0.0.1:1");
    f.mutable_hello()->set_cluster(cluster);
    return f;
  }

  v1::PeerFrame Swim(const Message& m) {
    v1::PeerFrame f;
    ToProto(m, f.mutable_swim());
    return f;
  }

  // The node's count of frames it dropped as malformed.
  uint64_t Malformed() {
    auto st = client_->Status();
    EXPECT_TRUE(st.ok()) << st.status();
    if (!st.ok()) return 0;
    for (const auto& [name, value] : st->counters) {
      if (name == "peer_malformed_frames") return value;
    }
    ADD_FAILURE() << "no peer_malformed_frames counter";
    return 0;
  }

  void ExpectHealthyAndAlone() {
    auto members = client_->Members();
    ASSERT_TRUE(members.ok()) << members.status();
    EXPECT_EQ(members->size(), 1u) << "nothing got into the member list";
    EXPECT_TRUE(client_->Put("still", "serving", "").ok());
  }

  rumor::testing::TempDir dir_;
  std::unique_ptr<Node> node_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Peer::Stub> stub_;
  std::unique_ptr<client::Client> client_;
};

TEST_F(PeerServiceTest, OtherProtocolVersionIsRefusedByName) {
  grpc::Status s = Send({Hello(99)});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("protocol version mismatch"), std::string::npos)
      << s.error_message();
  ExpectHealthyAndAlone();
}

TEST_F(PeerServiceTest, OtherClusterIsRefused) {
  grpc::Status s = Send({Hello(kPeerProtocolVersion, "other")});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("cluster mismatch"), std::string::npos);
  ExpectHealthyAndAlone();
}

TEST_F(PeerServiceTest, StreamWithoutHelloIsRefused) {
  Message ping;
  ping.from = 777;
  ping.from_address = "127.0.0.1:1";
  grpc::Status s = Send({Swim(ping)});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ExpectHealthyAndAlone();
}

TEST_F(PeerServiceTest, MalformedAndForgedFramesAreDroppedNotFatal) {
  std::vector<v1::PeerFrame> frames = {Hello()};
  // A push-pull claiming to come from another node than the hello's.
  Message forged;
  forged.type = Message::Type::kPushPull;
  forged.from = 555;
  forged.from_address = "127.0.0.1:2";
  MemberMeta meta;
  meta.address = "127.0.0.1:2";
  forged.state = {MemberState{555, 1, MemberStatus::kAlive, MakeMeta(meta)}};
  frames.push_back(Swim(forged));
  // Malformed: an alive update with neither meta nor fingerprint.
  v1::PeerFrame bad = Swim(forged);
  bad.mutable_swim()->set_from(777);
  auto* u = bad.mutable_swim()->add_updates();
  u->set_kind(v1::MEMBER_ALIVE);
  u->set_node(999);
  frames.push_back(bad);
  // An empty frame (neither hello nor swim).
  frames.push_back(v1::PeerFrame());
  uint64_t before = Malformed();
  grpc::Status s = Send(frames);
  EXPECT_TRUE(s.ok()) << "bad frames are dropped, the stream lives on: "
                      << s.error_message();
  EXPECT_EQ(Malformed() - before, 3u)
      << "the forged, the malformed and the empty frame are each counted";
  ExpectHealthyAndAlone();
}

TEST_F(PeerServiceTest, OversizedMessageIsRejectedAndTheNodeLives) {
  v1::PeerFrame huge = Hello();
  huge.mutable_hello()->set_address(std::string(70 << 20, 'x'));  // > 64 MiB
  grpc::Status s = Send({huge});
  EXPECT_FALSE(s.ok());
  ExpectHealthyAndAlone();
}

}  // namespace
}  // namespace rumor::server
