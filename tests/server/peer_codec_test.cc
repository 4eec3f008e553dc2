#include "server/peer_codec.h"

#include <string>

#include "gtest/gtest.h"
#include "proto/peer.pb.h"

namespace rumor::server {
namespace {

MetaPtr Meta(const std::string& addr) {
  MemberMeta m;
  m.address = addr;
  m.tokens = {30, 10, 20};
  m.tags = {{"zone", "a"}};
  return MakeMeta(std::move(m));
}

Message Full() {
  Message m;
  m.type = Message::Type::kPushPull;
  m.from = 7;
  m.from_address = "10.0.0.7:7379";
  m.from_incarnation = 3;
  m.to = 9;
  m.seq = 42;
  m.target = 11;
  m.target_address = "10.0.0.11:7379";
  m.join = true;
  Update alive{MemberStatus::kAlive, 7, 3, 7, Meta("10.0.0.7:7379"), 0};
  Update light{MemberStatus::kAlive, 8, 5, 8, nullptr, 1234};
  Update suspect{MemberStatus::kSuspect, 9, 2, 7, nullptr, 0};
  m.updates = {alive, light, suspect};
  m.state = {MemberState{7, 3, MemberStatus::kAlive, Meta("10.0.0.7:7379")},
             MemberState{8, 1, MemberStatus::kLeft, Meta("10.0.0.8:7379")}};
  return m;
}

TEST(PeerCodecTest, RoundTripKeepsEveryField) {
  Message m = Full();
  v1::SwimMessage proto;
  ToProto(m, &proto);
  std::string wire = proto.SerializeAsString();
  v1::SwimMessage parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  auto back = FromProto(parsed);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->type, m.type);
  EXPECT_EQ(back->from, 7u);
  EXPECT_EQ(back->from_address, m.from_address);
  EXPECT_EQ(back->from_incarnation, 3u);
  EXPECT_EQ(back->to, 9u);
  EXPECT_EQ(back->seq, 42u);
  EXPECT_EQ(back->target_address, m.target_address);
  EXPECT_TRUE(back->join);
  ASSERT_EQ(back->updates.size(), 3u);
  EXPECT_EQ(*back->updates[0].meta, *m.updates[0].meta) << "same fingerprint too";
  EXPECT_EQ(back->updates[1].meta, nullptr);
  EXPECT_EQ(back->updates[1].meta_fingerprint, 1234u);
  EXPECT_EQ(back->updates[2].kind, MemberStatus::kSuspect);
  ASSERT_EQ(back->state.size(), 2u);
  EXPECT_EQ(back->state[1].status, MemberStatus::kLeft);
  EXPECT_EQ(back->state[0].meta->tokens, (std::vector<uint64_t>{10, 20, 30}));
}

// Each case breaks one thing; each must be refused with a clear reason.
TEST(PeerCodecTest, MalformedMessagesAreRefused) {
  struct Case {
    const char* name;
    void (*breakit)(v1::SwimMessage*);
    const char* expect;
  };
  const Case cases[] = {
      {"type", [](v1::SwimMessage* m) { m->set_type(static_cast<v1::SwimMessage::Type>(77)); }, "type"},
      {"sender id", [](v1::SwimMessage* m) { m->set_from(0); }, "sender id"},
      {"sender address", [](v1::SwimMessage* m) { m->clear_from_address(); }, "sender address"},
      {"long address", [](v1::SwimMessage* m) { m->set_from_address(std::string(300, 'a')); }, "256"},
      {"ping-req target", [](v1::SwimMessage* m) { m->set_type(v1::SwimMessage::PING_REQ); m->clear_target_address(); }, "target"},
      {"update node 0", [](v1::SwimMessage* m) { m->mutable_updates(2)->set_node(0); }, "node id 0"},
      {"bare alive", [](v1::SwimMessage* m) { m->mutable_updates(1)->clear_meta_fingerprint(); }, "neither meta nor fingerprint"},
      {"status", [](v1::SwimMessage* m) { m->mutable_updates(2)->set_kind(static_cast<v1::MemberStatus>(9)); }, "status"},
      {"tokens", [](v1::SwimMessage* m) {
         for (int i = 0; i < 5000; ++i) m->mutable_updates(0)->mutable_meta()->add_tokens(i);
       }, "tokens"},
      {"tag", [](v1::SwimMessage* m) {
         auto* t = m->mutable_updates(0)->mutable_meta()->add_tags();
         t->set_key(std::string(300, 'k'));
       }, "tag"},
      {"meta address", [](v1::SwimMessage* m) { m->mutable_state(0)->mutable_meta()->clear_address(); }, "address"},
      {"state meta", [](v1::SwimMessage* m) { m->mutable_state(0)->clear_meta(); }, "meta"},
      {"incarnation", [](v1::SwimMessage* m) { m->mutable_updates(2)->set_incarnation(~0ULL); }, "incarnation"},
      {"sender incarnation", [](v1::SwimMessage* m) { m->set_from_incarnation(kMaxIncarnation + 1); }, "incarnation"},
      {"state incarnation", [](v1::SwimMessage* m) { m->mutable_state(0)->set_incarnation(~0ULL); }, "incarnation"},
      {"scheme address", [](v1::SwimMessage* m) { m->mutable_state(0)->mutable_meta()->set_address("unix:/tmp/sock"); }, "host:port"},
      {"portless address", [](v1::SwimMessage* m) { m->set_from_address("somehost"); }, "host:port"},
      {"too many updates", [](v1::SwimMessage* m) {
         for (int i = 0; i < 5000; ++i) {
           auto* u = m->add_updates();
           u->set_kind(v1::MEMBER_SUSPECT);
           u->set_node(5);
         }
       }, "too many"},
  };
  for (const Case& c : cases) {
    v1::SwimMessage proto;
    ToProto(Full(), &proto);
    c.breakit(&proto);
    auto r = FromProto(proto);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(r.status().message().find(c.expect), absl::string_view::npos)
        << c.name << ": " << r.status();
  }
}

}  // namespace
}  // namespace rumor::server
