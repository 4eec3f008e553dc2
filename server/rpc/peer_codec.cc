#include "server/rpc/peer_codec.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"
#include "proto/peer.pb.h"
#include "server/membership/member_meta.h"

namespace rumor::server {
namespace {

v1::MemberStatus StatusToProto(MemberStatus s) {
  return static_cast<v1::MemberStatus>(static_cast<int>(s));
}

absl::StatusOr<MemberStatus> StatusFromProto(int s) {
  if (s < 0 || s > static_cast<int>(MemberStatus::kLeft)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown member status ", s));
  }
  return static_cast<MemberStatus>(s);
}

void MetaToProto(const MemberMeta& meta, v1::MemberMeta* out) {
  out->set_address(meta.address);
  out->set_version(meta.version);
  out->set_joining(meta.joining);
  out->mutable_tokens()->Reserve(meta.tokens.size());
  for (uint64_t t : meta.tokens) out->add_tokens(t);
  for (const auto& [k, v] : meta.tags) {
    auto* tag = out->add_tags();
    tag->set_key(k);
    tag->set_value(v);
  }
}

absl::Status CheckIncarnation(uint64_t incarnation) {
  if (incarnation > kMaxIncarnation) {
    return absl::InvalidArgumentError("incarnation out of range");
  }
  return absl::OkStatus();
}

absl::StatusOr<MetaPtr> MetaFromProto(const v1::MemberMeta& in) {
  if (in.address().empty()) {
    return absl::InvalidArgumentError("member meta without an address");
  }
  RUMOR_RETURN_IF_ERROR(CheckHostPort(in.address(), "member address"));
  if (static_cast<size_t>(in.tokens_size()) > kMaxTokensPerMember) {
    return absl::InvalidArgumentError(absl::StrCat(
        "member announces ", in.tokens_size(), " tokens; the limit is ",
        kMaxTokensPerMember));
  }
  if (static_cast<size_t>(in.tags_size()) > kMaxTagsPerMember) {
    return absl::InvalidArgumentError("too many member tags");
  }
  RUMOR_RETURN_IF_ERROR(CheckIncarnation(in.version()));
  MemberMeta meta;
  meta.address = in.address();
  meta.version = in.version();
  meta.joining = in.joining();
  meta.tokens.assign(in.tokens().begin(), in.tokens().end());
  for (const auto& tag : in.tags()) {
    RUMOR_RETURN_IF_ERROR(CheckTag(tag.key(), tag.value()));
    meta.tags.push_back({tag.key(), tag.value()});
  }
  return MakeMeta(std::move(meta));
}

}  // namespace

void ToProto(const Message& m, v1::SwimMessage* out) {
  out->set_type(static_cast<v1::SwimMessage::Type>(static_cast<int>(m.type)));
  out->set_from(m.from);
  out->set_from_address(m.from_address);
  out->set_from_incarnation(m.from_incarnation);
  out->set_to(m.to);
  out->set_seq(m.seq);
  out->set_target(m.target);
  out->set_target_address(m.target_address);
  out->set_join(m.join);
  for (const Update& u : m.updates) {
    auto* pu = out->add_updates();
    pu->set_kind(StatusToProto(u.kind));
    pu->set_node(u.node);
    pu->set_incarnation(u.incarnation);
    pu->set_from(u.from);
    pu->set_meta_fingerprint(u.meta_fingerprint);
    if (u.meta) MetaToProto(*u.meta, pu->mutable_meta());
  }
  out->mutable_digests()->Reserve(static_cast<int>(m.digests.size()));
  for (const MemberDigest& d : m.digests) {
    auto* pd = out->add_digests();
    pd->set_id(d.id);
    pd->set_incarnation(d.incarnation);
    pd->set_status(StatusToProto(d.status));
    pd->set_fingerprint(d.fingerprint);
    pd->set_meta_version(d.meta_version);
    pd->set_owns_tokens(d.owns_tokens);
  }
  for (NodeId id : m.want) out->add_want(id);
  for (const MemberState& s : m.state) {
    auto* ps = out->add_state();
    ps->set_id(s.id);
    ps->set_incarnation(s.incarnation);
    ps->set_status(StatusToProto(s.status));
    if (s.meta) MetaToProto(*s.meta, ps->mutable_meta());
  }
}

absl::StatusOr<Message> FromProto(const v1::SwimMessage& in) {
  Message m;
  int type = static_cast<int>(in.type());
  if (type < 0 || type > static_cast<int>(Message::Type::kGossip)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown message type ", type));
  }
  m.type = static_cast<Message::Type>(type);
  if (in.from() == kNoNode) {
    return absl::InvalidArgumentError("message without a sender id");
  }
  if (in.from_address().empty()) {
    return absl::InvalidArgumentError("message without a sender address");
  }
  RUMOR_RETURN_IF_ERROR(CheckHostPort(in.from_address(), "sender address"));
  if (in.target_address().size() > kMaxAddressBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("target address is over ", kMaxAddressBytes, " bytes"));
  }
  if (m.type == Message::Type::kPingReq) {
    RUMOR_RETURN_IF_ERROR(CheckHostPort(in.target_address(), "target address"));
  }
  RUMOR_RETURN_IF_ERROR(CheckIncarnation(in.from_incarnation()));
  if (m.type == Message::Type::kPingReq && in.target_address().empty()) {
    return absl::InvalidArgumentError("ping-req without a target address");
  }
  if (static_cast<size_t>(in.updates_size()) > kMaxUpdatesPerMessage ||
      static_cast<size_t>(in.state_size()) > kMaxMembersPerMessage ||
      static_cast<size_t>(in.digests_size()) > kMaxMembersPerMessage ||
      static_cast<size_t>(in.want_size()) > kMaxMembersPerMessage) {
    return absl::InvalidArgumentError(
        "message carries too many updates, states, digests or wants");
  }
  m.from = in.from();
  m.from_address = in.from_address();
  m.from_incarnation = in.from_incarnation();
  m.to = in.to();
  m.seq = in.seq();
  m.target = in.target();
  m.target_address = in.target_address();
  m.join = in.join();
  m.updates.reserve(in.updates_size());
  for (const auto& pu : in.updates()) {
    Update u;
    RUMOR_ASSIGN_OR_RETURN(u.kind, StatusFromProto(pu.kind()));
    u.node = pu.node();
    u.incarnation = pu.incarnation();
    u.from = pu.from();
    if (u.node == kNoNode) {
      return absl::InvalidArgumentError("update about node id 0");
    }
    RUMOR_RETURN_IF_ERROR(CheckIncarnation(u.incarnation));
    u.meta_fingerprint = pu.meta_fingerprint();
    if (u.kind == MemberStatus::kAlive) {
      if (pu.has_meta()) {
        RUMOR_ASSIGN_OR_RETURN(u.meta, MetaFromProto(pu.meta()));
      } else if (u.meta_fingerprint == 0) {
        return absl::InvalidArgumentError(
            "alive update with neither meta nor fingerprint");
      }
    }
    m.updates.push_back(std::move(u));
  }
  m.state.reserve(in.state_size());
  for (const auto& ps : in.state()) {
    MemberState s;
    s.id = ps.id();
    s.incarnation = ps.incarnation();
    RUMOR_ASSIGN_OR_RETURN(s.status, StatusFromProto(ps.status()));
    RUMOR_RETURN_IF_ERROR(CheckIncarnation(s.incarnation));
    if (s.id == kNoNode || !ps.has_meta()) {
      return absl::InvalidArgumentError("member state without id or meta");
    }
    RUMOR_ASSIGN_OR_RETURN(s.meta, MetaFromProto(ps.meta()));
    m.state.push_back(std::move(s));
  }
  m.digests.reserve(in.digests_size());
  for (const auto& pd : in.digests()) {
    MemberDigest d;
    d.id = pd.id();
    d.incarnation = pd.incarnation();
    d.fingerprint = pd.fingerprint();
    d.meta_version = pd.meta_version();
    d.owns_tokens = pd.owns_tokens();
    RUMOR_RETURN_IF_ERROR(CheckIncarnation(d.meta_version));
    RUMOR_ASSIGN_OR_RETURN(d.status, StatusFromProto(pd.status()));
    RUMOR_RETURN_IF_ERROR(CheckIncarnation(d.incarnation));
    if (d.id == kNoNode || d.fingerprint == 0) {
      return absl::InvalidArgumentError(
          "member digest without id or fingerprint");
    }
    m.digests.push_back(d);
  }
  m.want.reserve(in.want_size());
  for (uint64_t id : in.want()) {
    if (id == kNoNode) {
      return absl::InvalidArgumentError("want names node id 0");
    }
    m.want.push_back(id);
  }
  return m;
}

void FillHello(NodeId self, const std::string& address,
               const std::string& cluster, v1::PeerHello* out) {
  out->set_protocol_version(kPeerProtocolVersion);
  out->set_node_id(self);
  out->set_address(address);
  out->set_cluster(cluster);
}

absl::Status CheckHello(const v1::PeerHello& h, const std::string& cluster) {
  if (h.protocol_version() != kPeerProtocolVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("protocol version mismatch: the caller speaks ",
                     h.protocol_version(), ", this node ",
                     kPeerProtocolVersion));
  }
  if (h.cluster() != cluster) {
    return absl::FailedPreconditionError(
        absl::StrCat("cluster mismatch: the caller belongs to cluster '",
                     absl::CHexEscape(h.cluster()), "', this node to '",
                     cluster, "'"));
  }
  if (h.node_id() == kNoNode) {
    return absl::InvalidArgumentError("hello without a node id");
  }
  return CheckHostPort(h.address(), "hello address");
}

}  // namespace rumor::server
