// The replication wire: every op and reply survives a round trip, and
// whatever a peer sends is either a valid op or a clear refusal (never a
// crash: the fuzz case runs under ASan/UBSan in make test-asan).
#include "server/rpc/replica_codec.h"

#include <random>
#include <string>
#include <vector>

#include "google/protobuf/stubs/logging.h"
#include "gtest/gtest.h"
#include "proto/peer.pb.h"
#include "server/replication/limits.h"

namespace rumor::server {
namespace {

using Kind = ReplicaOp::Kind;

ReplicaOp RoundTrip(const ReplicaOp& op) {
  v1::ReplicaRequest proto;
  ToProto(op, 17, &proto);
  EXPECT_EQ(proto.id(), 17u);
  v1::ReplicaRequest parsed;
  EXPECT_TRUE(parsed.ParseFromString(proto.SerializeAsString()));
  auto back = FromProto(parsed);
  EXPECT_TRUE(back.ok()) << back.status();
  return back.ok() ? *back : ReplicaOp{};
}

TEST(ReplicaCodecTest, EveryOpRoundTrips) {
  ReplicaOp store;
  store.kind = Kind::kStore;
  store.key = "k";
  store.object = std::string("\0\1obj", 5);
  ReplicaOp back = RoundTrip(store);
  EXPECT_EQ(back.kind, Kind::kStore);
  EXPECT_EQ(back.key, "k");
  EXPECT_EQ(back.object, store.object);

  ReplicaOp fetch;
  fetch.kind = Kind::kFetch;
  fetch.key = "f";
  fetch.hint_for = 0xabcdef;
  back = RoundTrip(fetch);
  EXPECT_EQ(back.kind, Kind::kFetch);
  EXPECT_EQ(back.hint_for, 0xabcdefu);

  ReplicaOp hint = store;
  hint.kind = Kind::kStoreHint;
  hint.hint_for = 42;
  back = RoundTrip(hint);
  EXPECT_EQ(back.kind, Kind::kStoreHint);
  EXPECT_EQ(back.hint_for, 42u);
  EXPECT_EQ(back.object, hint.object);

  ReplicaOp forward;
  forward.kind = Kind::kForward;
  forward.forwarded = ReplicaOp::Forwarded::kDelete;
  forward.key = "d";
  forward.context = "ctx";
  forward.options.r = 1;
  forward.options.w = 3;
  forward.options.timeout = absl::Milliseconds(1500);
  forward.return_body = true;
  back = RoundTrip(forward);
  EXPECT_EQ(back.kind, Kind::kForward);
  EXPECT_EQ(back.forwarded, ReplicaOp::Forwarded::kDelete);
  EXPECT_EQ(back.context, "ctx");
  EXPECT_EQ(back.options.w, 3u);
  EXPECT_EQ(back.options.timeout, absl::Milliseconds(1500));
  EXPECT_TRUE(back.return_body);

  ReplicaOp scan;
  scan.kind = Kind::kScan;
  scan.scan_first = 5;
  scan.scan_last = ~uint64_t{0};
  scan.key = "after";
  scan.limit = 100;
  back = RoundTrip(scan);
  EXPECT_EQ(back.kind, Kind::kScan);
  EXPECT_EQ(back.scan_first, 5u);
  EXPECT_EQ(back.scan_last, ~uint64_t{0});
  EXPECT_EQ(back.key, "after");
  EXPECT_EQ(back.limit, 100u);
  scan.key.clear();  // from the start of the range
  EXPECT_TRUE(RoundTrip(scan).key.empty());

  ReplicaOp reap;
  reap.kind = Kind::kReap;
  reap.keys = {"a", "b"};
  back = RoundTrip(reap);
  EXPECT_EQ(back.kind, Kind::kReap);
  EXPECT_EQ(back.keys, reap.keys);
  EXPECT_FALSE(back.reap_remove);
  EXPECT_TRUE(back.expected.empty());
  reap.reap_remove = true;
  reap.expected = {7, ~uint64_t{0}};
  back = RoundTrip(reap);
  EXPECT_TRUE(back.reap_remove);
  EXPECT_EQ(back.expected, reap.expected);
}

TEST(ReplicaCodecTest, RepliesRoundTrip) {
  ReplicaReply reply;
  reply.found = true;
  reply.object = "obj";
  reply.view.values = {"a", "b"};
  reply.view.context = "c";
  reply.entries = {{"k1", "o1"}, {"k2", "o2"}};
  reply.more = true;
  reply.flags = {true, false, true};
  v1::ReplicaResponse proto;
  ToProto(reply, 9, &proto);
  ReplicaReply back = FromProto(proto);
  ASSERT_TRUE(back.status.ok()) << back.status;
  EXPECT_TRUE(back.found);
  EXPECT_EQ(back.object, "obj");
  EXPECT_EQ(back.view.values, reply.view.values);
  EXPECT_TRUE(back.view.found);
  EXPECT_EQ(back.entries, reply.entries);
  EXPECT_TRUE(back.more);
  EXPECT_EQ(back.flags, reply.flags);

  ReplicaReply failed;
  failed.status = absl::ResourceExhaustedError("queue full");
  ToProto(failed, 10, &proto);
  back = FromProto(proto);
  EXPECT_EQ(back.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(back.status.message(), "queue full");
}

// Each case breaks one thing; each must be refused with a clear reason.
TEST(ReplicaCodecTest, MalformedRequestsAreRefused) {
  struct Case {
    const char* name;
    void (*make)(v1::ReplicaRequest*);
    const char* expect;
  };
  const Case cases[] = {
      {"no op", [](v1::ReplicaRequest*) {}, "without an op"},
      {"store without key", [](v1::ReplicaRequest* r) { r->mutable_store(); }, "bad key"},
      {"long key", [](v1::ReplicaRequest* r) {
         r->mutable_store()->set_key(std::string(kHardMaxKeyBytes + 1, 'k'));
       }, "bad key"},
      {"fetch without key", [](v1::ReplicaRequest* r) { r->mutable_fetch(); }, "bad key"},
      {"hint without owner", [](v1::ReplicaRequest* r) {
         r->mutable_hint()->set_key("k");
       }, "without an owner"},
      {"forward kind", [](v1::ReplicaRequest* r) {
         r->mutable_forward()->set_key("k");
         r->mutable_forward()->set_kind(static_cast<v1::ForwardedRequest::Kind>(9));
       }, "unknown forwarded request kind"},
      {"scan backwards", [](v1::ReplicaRequest* r) {
         r->mutable_scan()->set_first(10);
         r->mutable_scan()->set_last(9);
         r->mutable_scan()->set_limit(1);
       }, "ends before it starts"},
      {"scan limit 0", [](v1::ReplicaRequest* r) {
         r->mutable_scan()->set_last(9);
       }, "scan limit 0"},
      {"scan limit too high", [](v1::ReplicaRequest* r) {
         r->mutable_scan()->set_last(9);
         r->mutable_scan()->set_limit(kMaxScanLimit + 1);
       }, "outside 1.."},
      {"scan cursor", [](v1::ReplicaRequest* r) {
         r->mutable_scan()->set_limit(1);
         r->mutable_scan()->set_after(std::string(kHardMaxKeyBytes + 1, 'a'));
       }, "bad key"},
      {"reap without keys", [](v1::ReplicaRequest* r) {
         r->mutable_reap();
       }, "1..1024 keys"},
      {"reap with an empty key", [](v1::ReplicaRequest* r) {
         r->mutable_reap()->add_keys("");
       }, "bad key"},
      {"reap removal without hashes", [](v1::ReplicaRequest* r) {
         r->mutable_reap()->add_keys("k");
         r->mutable_reap()->set_remove(true);
       }, "one expected hash per key"},
      {"reap check with hashes", [](v1::ReplicaRequest* r) {
         r->mutable_reap()->add_keys("k");
         r->mutable_reap()->add_expected(1);
       }, "one expected hash per key"},
      {"reap too many keys", [](v1::ReplicaRequest* r) {
         for (size_t i = 0; i <= kMaxReapKeys; ++i) r->mutable_reap()->add_keys("k");
       }, "1..1024 keys"},
  };
  for (const Case& c : cases) {
    v1::ReplicaRequest proto;
    c.make(&proto);
    auto r = FromProto(proto);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(r.status().message().find(c.expect), absl::string_view::npos)
        << c.name << ": " << r.status();
  }
}

TEST(ReplicaCodecTest, NonsenseRepliesBecomeInternalErrors) {
  v1::ReplicaResponse proto;
  proto.set_code(999);
  EXPECT_EQ(FromProto(proto).status.code(), absl::StatusCode::kInternal);
  proto.set_code(-1);
  EXPECT_EQ(FromProto(proto).status.code(), absl::StatusCode::kInternal);
  proto.set_code(static_cast<int>(absl::StatusCode::kUnavailable));
  ReplicaReply r = FromProto(proto);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(r.status.message().empty()) << "an error always says something";
  v1::ReplicaResponse scan;
  scan.add_entries()->set_key("fine");
  scan.add_entries();  // no key
  r = FromProto(scan);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(r.entries.empty()) << "nothing of a bad page is used";
}

// Random byte mutations of valid requests and responses: each decodes to
// something valid or is refused; nothing crashes.
TEST(ReplicaCodecTest, MutatedFramesNeverCrashTheCodec) {
  google::protobuf::LogSilencer quiet_protobuf;
  std::vector<std::string> good;
  for (Kind kind : {Kind::kStore, Kind::kFetch, Kind::kStoreHint,
                    Kind::kForward, Kind::kScan}) {
    ReplicaOp op;
    op.kind = kind;
    op.key = "some-key";
    op.object = "object bytes";
    op.hint_for = 3;
    op.value = "value";
    op.scan_last = 1000;
    op.limit = 10;
    v1::ReplicaRequest proto;
    ToProto(op, 1, &proto);
    good.push_back(proto.SerializeAsString());
  }
  std::mt19937_64 rng(679);
  int valid = 0, refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = good[i % good.size()];
    for (int e = 0; e < 1 + static_cast<int>(rng() % 3) && !bytes.empty(); ++e) {
      size_t at = rng() % bytes.size();
      switch (rng() % 3) {
        case 0: bytes[at] = static_cast<char>(rng()); break;
        case 1: bytes.resize(at); break;
        case 2: bytes.insert(at, 1 + rng() % 8, static_cast<char>(rng())); break;
      }
    }
    v1::ReplicaRequest request;
    if (request.ParseFromString(bytes)) {
      auto op = FromProto(request);
      if (op.ok()) {
        ++valid;
        if (op->kind != Kind::kScan) {
          EXPECT_FALSE(op->key.empty());
          EXPECT_LE(op->key.size(), kHardMaxKeyBytes);
        } else {
          EXPECT_LE(op->scan_first, op->scan_last);
          EXPECT_GE(op->limit, 1u);
          EXPECT_LE(op->limit, kMaxScanLimit);
        }
      } else {
        ++refused;
      }
    }
    v1::ReplicaResponse response;
    if (response.ParseFromString(bytes)) {
      ReplicaReply reply = FromProto(response);
      for (const auto& [key, object] : reply.entries) {
        EXPECT_FALSE(key.empty());
      }
    }
  }
  EXPECT_GT(valid, 0);
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace rumor::server
