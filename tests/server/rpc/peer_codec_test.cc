#include "server/rpc/peer_codec.h"

#include <memory>
#include <random>
#include <set>
#include <string>

#include "google/protobuf/stubs/logging.h"
#include "gtest/gtest.h"
#include "server/membership/membership.h"
#include "proto/peer.pb.h"

namespace rumor::server {
namespace {

MetaPtr Meta(const std::string& addr) {
  MemberMeta m;
  m.address = addr;
  m.tokens = {30, 10, 20};
  m.tags = {{"zone", "a"}};
  m.version = 6;
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
  m.digests = {MemberDigest{12, 4, MemberStatus::kSuspect, 0xfeed, 3, true},
               MemberDigest{13, 1, MemberStatus::kAlive, 0xbeef, 1, false}};
  m.want = {14, 15};
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
  EXPECT_EQ(back->state[0].meta->version, 6u);
  EXPECT_EQ(back->digests, m.digests);
  EXPECT_EQ(back->want, m.want);
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
      {"control character", [](v1::SwimMessage* m) { m->set_from_address("evil\nhost:7000"); }, "host:port"},
      {"non-ASCII address", [](v1::SwimMessage* m) { m->mutable_state(0)->mutable_meta()->set_address("h\xc3\xa9:7000"); }, "host:port"},
      {"unbracketed IPv6", [](v1::SwimMessage* m) { m->set_from_address("::1:7000"); }, "host:port"},
      {"tag key", [](v1::SwimMessage* m) { m->mutable_updates(0)->mutable_meta()->mutable_tags(0)->set_key("a b"); }, "tag key"},
      {"tag value", [](v1::SwimMessage* m) { m->mutable_updates(0)->mutable_meta()->mutable_tags(0)->set_value("\x1b[31m"); }, "printable"},
      {"digest id", [](v1::SwimMessage* m) { m->mutable_digests(0)->set_id(0); }, "digest without id"},
      {"digest fingerprint", [](v1::SwimMessage* m) { m->mutable_digests(1)->set_fingerprint(0); }, "fingerprint"},
      {"digest status", [](v1::SwimMessage* m) { m->mutable_digests(0)->set_status(static_cast<v1::MemberStatus>(9)); }, "status"},
      {"digest incarnation", [](v1::SwimMessage* m) { m->mutable_digests(0)->set_incarnation(~0ULL); }, "incarnation"},
      {"digest meta version", [](v1::SwimMessage* m) { m->mutable_digests(1)->set_meta_version(kMaxIncarnation + 1); }, "incarnation"},
      {"meta version", [](v1::SwimMessage* m) { m->mutable_updates(0)->mutable_meta()->set_version(~0ULL); }, "incarnation"},
      {"want node 0", [](v1::SwimMessage* m) { m->add_want(0); }, "want names node id 0"},
      {"too many digests", [](v1::SwimMessage* m) {
         for (int i = 0; i < 10001; ++i) {
           auto* d = m->add_digests();
           d->set_id(100 + i);
           d->set_fingerprint(1);
         }
       }, "too many"},
      {"too many wants", [](v1::SwimMessage* m) {
         for (int i = 0; i < 10001; ++i) m->add_want(100 + i);
       }, "too many"},
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

// Whatever a peer sends, the node neither crashes nor corrupts its member
// list: random byte mutations of a valid message and random well-formed
// protos with hostile values go through the codec and, when accepted,
// into a protocol core. After each message the core still has itself,
// Alive; every member has an id, meta and an address; and the list stays
// within the ids that were ever sent. (Run under ASan/UBSan by make
// test-asan, which is where out-of-bounds reads would show.)
class NullTransport : public Transport {
 public:
  void Send(const std::string&, Message) override { ++sent; }
  int sent = 0;
};

// Ids a message could introduce as members.
void CollectIds(const Message& m, std::set<NodeId>* ids) {
  ids->insert(m.from);
  ids->insert(m.target);
  for (const Update& u : m.updates) ids->insert(u.node);
  for (const MemberState& s : m.state) ids->insert(s.id);
}

void CheckCore(const Membership& core, const MembershipConfig& config,
               const std::set<NodeId>& sent, const char* what, int i) {
  MemberState me = core.Self();
  ASSERT_EQ(me.id, config.self) << what << " " << i;
  ASSERT_EQ(me.status, MemberStatus::kAlive) << what << " " << i;
  ASSERT_NE(me.meta, nullptr);
  ASSERT_EQ(me.meta->address, config.meta.address) << "our address was rewritten, " << what << " " << i;
  ASSERT_EQ(me.meta->tokens, config.meta.tokens) << "our tokens were rewritten, " << what << " " << i;
  std::set<NodeId> ids;
  for (const MemberState& m : core.Members()) {
    ASSERT_NE(m.id, kNoNode) << what << " " << i;
    ASSERT_TRUE(ids.insert(m.id).second) << "listed twice: " << m.id << ", " << what << " " << i;
    ASSERT_TRUE(m.id == config.self || sent.count(m.id))
        << "member " << m.id << " that nobody sent, " << what << " " << i;
    ASSERT_NE(m.meta, nullptr) << what << " " << i;
    ASSERT_FALSE(m.meta->address.empty()) << what << " " << i;
  }
  ASSERT_EQ(core.NumMembers(), ids.size()) << what << " " << i;
}

TEST(PeerCodecTest, HostilePeerMessagesNeverCrashOrCorruptTheCore) {
  constexpr NodeId kSelf = 1;
  MembershipConfig config;
  config.self = kSelf;
  config.meta.address = "127.0.0.1:7001";
  config.meta.tokens = {1, 2, 3};
  config.seed = 7;
  NullTransport transport;
  absl::Time now = absl::UnixEpoch();
  auto core_ptr = std::make_unique<Membership>(config, &transport, now);
  Membership& core = *core_ptr;
  std::mt19937_64 rng(2026);
  auto pick = [&](uint64_t n) { return rng() % n; };

  // 1. Byte-level mutations of a valid encoded message. (Protobuf logs
  // every string field that is not UTF-8; the refusal is what counts.)
  google::protobuf::LogSilencer quiet_protobuf;
  v1::SwimMessage proto;
  ToProto(Full(), &proto);
  std::string good = proto.SerializeAsString();
  int parsed = 0, accepted = 0;
  std::set<NodeId> sent;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = good;
    int edits = 1 + static_cast<int>(pick(3));
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
      size_t at = pick(bytes.size());
      switch (pick(4)) {
        case 0: bytes[at] = static_cast<char>(rng()); break;
        case 1: bytes[at] ^= static_cast<char>(1 << pick(8)); break;
        case 2: bytes.resize(at); break;
        case 3: bytes.insert(at, 1 + pick(16), static_cast<char>(rng())); break;
      }
    }
    v1::SwimMessage in;
    if (!in.ParseFromString(bytes)) continue;
    ++parsed;
    auto m = FromProto(in);
    if (!m.ok()) continue;
    ++accepted;
    CollectIds(*m, &sent);
    core.HandleMessage(*m, now);
    now += absl::Milliseconds(50);
    core.Tick(now);
    CheckCore(core, config, sent, "mutation", i);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(parsed, 500) << "the mutations should reach the codec";
  EXPECT_GT(accepted, 200) << "and some should reach the core";

  // 2. Well-formed protos with hostile values: ids including ours and 0,
  // any status (also invalid ones), tiny and huge incarnations, odd
  // addresses, duplicate and contradictory entries.
  // Mostly valid values (so messages get past the codec to the core),
  // sometimes invalid ones (which the codec must refuse).
  const char* good_addresses[] = {"127.0.0.1:7001", "127.0.0.1:7002",
                                  "10.0.0.9:1", "[::1]:7003", "a:1"};
  const char* bad_addresses[] = {"", "nohostport", "h:99999", "unix:/x"};
  auto address = [&]() -> const char* {
    return pick(20) == 0 ? bad_addresses[pick(std::size(bad_addresses))]
                         : good_addresses[pick(std::size(good_addresses))];
  };
  auto status = [&] {
    return static_cast<v1::MemberStatus>(pick(20) == 0 ? 4 + pick(3) : pick(4));
  };
  auto random_meta = [&](v1::MemberMeta* meta) {
    meta->set_address(address());
    for (uint64_t t = pick(4); t > 0; --t) meta->add_tokens(rng());
  };
  auto rare = [&] { return pick(20) == 0; };
  auto random_inc = [&]() -> uint64_t {
    if (rare()) return rng();  // mostly beyond the limit
    return pick(4) == 0 ? kMaxIncarnation - pick(3) : pick(6);
  };
  auto id = [&]() -> NodeId { return rare() ? 0 : 1 + pick(5); };
  // (A fresh core.)
  accepted = 0;
  sent.clear();
  Membership core2(config, &transport, now);
  for (int i = 0; i < 20000; ++i) {
    v1::SwimMessage in;
    in.set_type(static_cast<v1::SwimMessage::Type>(pick(20) == 0 ? 7 : pick(7)));
    in.set_from(id());
    in.set_from_address(address());
    in.set_from_incarnation(random_inc());
    in.set_to(id());
    in.set_seq(pick(4));
    in.set_target(id());
    in.set_target_address(address());
    in.set_join(pick(2));
    for (uint64_t k = pick(5); k > 0; --k) {
      v1::SwimUpdate* u = in.add_updates();
      u->set_kind(status());
      u->set_node(id());
      u->set_incarnation(random_inc());
      u->set_from(id());
      if (pick(2)) random_meta(u->mutable_meta());
      if (pick(2) || !u->has_meta()) u->set_meta_fingerprint(rng());
    }
    for (uint64_t k = pick(4); k > 0; --k) {
      v1::MemberState* st = in.add_state();
      st->set_id(id());
      st->set_incarnation(random_inc());
      st->set_status(status());
      if (!rare()) random_meta(st->mutable_meta());
    }
    auto m = FromProto(in);
    if (!m.ok()) continue;
    ++accepted;
    CollectIds(*m, &sent);
    core2.HandleMessage(*m, now);
    now += absl::Milliseconds(static_cast<int64_t>(pick(400)));
    core2.Tick(now);
    CheckCore(core2, config, sent, "random", i);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(accepted, 1000) << "most should reach the core";
  EXPECT_GT(transport.sent, 0) << "the core answered some of them";
}

}  // namespace
}  // namespace rumor::server
