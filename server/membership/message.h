// The membership protocol's messages as plain C++ types: what the SWIM
// core (server/membership/membership.h) sends and receives, and the
// Transport that carries them. The gRPC codec (server/rpc/peer_codec.h)
// converts these to and from peer.proto.
//
// Value types; thread-compatible.
#ifndef RUMOR_SERVER_MEMBERSHIP_MESSAGE_H_
#define RUMOR_SERVER_MEMBERSHIP_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/types.h"
#include "server/membership/member_meta.h"

namespace rumor::server {

enum class MemberStatus : uint8_t { kAlive = 0, kSuspect = 1, kDead = 2, kLeft = 3 };
const char* MemberStatusName(MemberStatus s);  // "alive", "suspect", ...

struct MemberState {
  NodeId id = kNoNode;
  uint64_t incarnation = 0;
  MemberStatus status = MemberStatus::kAlive;
  MetaPtr meta;
  const std::string& address() const { return meta->address; }
};

// A member's state in a few bytes: what push-pull exchanges instead of full
// states. The receiver compares fingerprints and asks for the meta only of
// members it lacks or holds stale meta for.
struct MemberDigest {
  NodeId id = kNoNode;
  uint64_t incarnation = 0;
  MemberStatus status = MemberStatus::kAlive;
  uint64_t fingerprint = 0;   // of the member's meta (never 0)
  uint64_t meta_version = 0;  // MemberMeta::version of that meta
  bool owns_tokens = false;   // its meta lists ring tokens
  bool operator==(const MemberDigest&) const = default;
};

// A piggybacked membership update. Suspect/Dead/Left name the member, its
// incarnation and who said so. Alive carries the member's meta when it
// announces new meta (a join, claimed tokens); a refutation, which changes
// only the incarnation, carries just the meta's fingerprint, so it stays
// small: a receiver whose copy has another fingerprint pulls the member's
// state.
struct Update {
  MemberStatus kind = MemberStatus::kAlive;
  NodeId node = kNoNode;
  uint64_t incarnation = 0;
  NodeId from = kNoNode;  // the accuser (Suspect/Dead); the node itself for Left
  MetaPtr meta;           // Alive with new meta only
  uint64_t meta_fingerprint = 0;  // Alive: fingerprint of the member's meta
};

struct Message {
  enum class Type : uint8_t {
    kPing,           // seq; `to` the node the sender thinks it pings
    kAck,            // seq
    kPingReq,        // seq; target + target_address: ping it for me
    kNack,           // seq: I pinged your target and got nothing
    kPushPull,       // digests + the sender's own state; join: via us
    kPushPullReply,  // what the receiver lacks or holds older + want
    kGossip,         // nothing but piggybacked updates
  };
  Type type = Type::kPing;
  NodeId from = kNoNode;
  std::string from_address;
  // The sender's current incarnation: direct evidence that it is alive at
  // least at that incarnation, which refutes older suspicions about it.
  uint64_t from_incarnation = 0;
  NodeId to = kNoNode;  // kNoNode when unknown (a seed contacted by address)
  uint64_t seq = 0;
  NodeId target = kNoNode;
  std::string target_address;
  bool join = false;
  std::vector<Update> updates;      // piggybacked gossip
  // Push-pull only. A push-pull carries the sender's whole view as digests
  // plus its own full state. The reply carries only the difference: full
  // states of members the initiator lacks or holds other meta for, digests
  // of members whose status the replier holds newer, and `want`: members
  // whose meta the replier needs, which the initiator sends back in a last
  // reply with states only.
  std::vector<MemberDigest> digests;
  std::vector<MemberState> state;
  std::vector<NodeId> want;
};

// Incarnations above this are refused from peers (and never reached by
// refutation), so no arithmetic on them can wrap.
inline constexpr uint64_t kMaxIncarnation = uint64_t{1} << 62;

// Approximate encoded size in bytes, used for the piggyback budget and the
// simulator's accounting (the protobuf encoding is within a few percent).
size_t ApproxSize(const Update& u);
size_t ApproxSize(const Message& m);

// Where the core's messages go. Send must not block: the real transport
// queues, the simulator schedules a delivery.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual void Send(const std::string& address, Message message) = 0;
  // No member lives at `address` any more: drop what is kept for it (a
  // connection, a queue). Must not block. A later Send reopens.
  virtual void Forget(const std::string& address) { (void)address; }
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_MEMBERSHIP_MESSAGE_H_
