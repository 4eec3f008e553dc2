#include "server/rpc/replica_codec.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "proto/peer.pb.h"
#include "server/replication/limits.h"
#include "server/rpc/peer_codec.h"

namespace rumor::server {

void ToProto(const ReplicaOp& op, uint64_t id, v1::ReplicaRequest* out) {
  out->set_id(id);
  switch (op.kind) {
    case ReplicaOp::Kind::kStore: {
      auto* s = out->mutable_store();
      s->set_key(op.key);
      s->set_object(op.object);
      break;
    }
    case ReplicaOp::Kind::kFetch: {
      auto* f = out->mutable_fetch();
      f->set_key(op.key);
      f->set_hint_for(op.hint_for);
      break;
    }
    case ReplicaOp::Kind::kStoreHint: {
      auto* h = out->mutable_hint();
      h->set_owner(op.hint_for);
      h->set_key(op.key);
      h->set_object(op.object);
      break;
    }
    case ReplicaOp::Kind::kForward: {
      auto* f = out->mutable_forward();
      f->set_kind(static_cast<v1::ForwardedRequest::Kind>(op.forwarded));
      f->set_key(op.key);
      f->set_value(op.value);
      f->set_context(op.context);
      f->set_r(op.options.r);
      f->set_w(op.options.w);
      f->set_timeout_ms(static_cast<uint32_t>(
          std::max<int64_t>(0, absl::ToInt64Milliseconds(op.options.timeout))));
      f->set_return_body(op.return_body);
      break;
    }
    case ReplicaOp::Kind::kScan: {
      auto* s = out->mutable_scan();
      s->set_first(op.scan_first);
      s->set_last(op.scan_last);
      s->set_after(op.key);
      s->set_limit(op.limit);
      break;
    }
    case ReplicaOp::Kind::kTree: {
      auto* t = out->mutable_tree();
      for (const auto& [first, last] : op.ranges) {
        t->add_first(first);
        t->add_last(last);
      }
      t->set_list_keys(op.list_keys);
      t->set_segment_bits(op.segment_bits);
      break;
    }
    case ReplicaOp::Kind::kReap: {
      auto* r = out->mutable_reap();
      for (const std::string& k : op.keys) r->add_keys(k);
      for (uint64_t h : op.expected) r->add_expected(h);
      r->set_remove(op.reap_remove);
      break;
    }
  }
}

absl::StatusOr<ReplicaOp> FromProto(const v1::ReplicaRequest& in) {
  ReplicaOp op;
  auto check_key = [](const std::string& key) -> absl::Status {
    if (key.empty() || key.size() > kHardMaxKeyBytes) {
      return absl::InvalidArgumentError("replica request with a bad key");
    }
    return absl::OkStatus();
  };
  switch (in.op_case()) {
    case v1::ReplicaRequest::kStore:
      op.kind = ReplicaOp::Kind::kStore;
      op.key = in.store().key();
      op.object = in.store().object();
      break;
    case v1::ReplicaRequest::kFetch:
      op.kind = ReplicaOp::Kind::kFetch;
      op.key = in.fetch().key();
      op.hint_for = in.fetch().hint_for();
      break;
    case v1::ReplicaRequest::kHint:
      op.kind = ReplicaOp::Kind::kStoreHint;
      op.key = in.hint().key();
      op.object = in.hint().object();
      op.hint_for = in.hint().owner();
      if (op.hint_for == kNoNode) {
        return absl::InvalidArgumentError("hint without an owner");
      }
      break;
    case v1::ReplicaRequest::kForward: {
      const v1::ForwardedRequest& f = in.forward();
      int kind = static_cast<int>(f.kind());
      if (kind < 0 || kind > static_cast<int>(ReplicaOp::Forwarded::kDelete)) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown forwarded request kind ", kind));
      }
      op.kind = ReplicaOp::Kind::kForward;
      op.forwarded = static_cast<ReplicaOp::Forwarded>(kind);
      op.key = f.key();
      op.value = f.value();
      op.context = f.context();
      op.options.r = f.r();
      op.options.w = f.w();
      op.options.timeout = absl::Milliseconds(f.timeout_ms());
      op.return_body = f.return_body();
      break;
    }
    case v1::ReplicaRequest::kScan: {
      const v1::ScanRange& s = in.scan();
      if (s.first() > s.last()) {
        return absl::InvalidArgumentError("scan range ends before it starts");
      }
      if (s.limit() == 0 || s.limit() > kMaxScanLimit) {
        return absl::InvalidArgumentError(absl::StrCat(
            "scan limit ", s.limit(), " is outside 1..", kMaxScanLimit));
      }
      if (s.after().size() > kHardMaxKeyBytes) {
        return absl::InvalidArgumentError("scan resumes after a bad key");
      }
      op.kind = ReplicaOp::Kind::kScan;
      op.scan_first = s.first();
      op.scan_last = s.last();
      op.key = s.after();
      op.limit = s.limit();
      return op;  // (an empty key is the start of the range)
    }
    case v1::ReplicaRequest::kTree: {
      const v1::TreeQuery& t = in.tree();
      if (t.first_size() != t.last_size() || t.first_size() == 0 ||
          static_cast<size_t>(t.first_size()) > kMaxTreeRanges) {
        return absl::InvalidArgumentError(absl::StrCat(
            "tree query needs 1..", kMaxTreeRanges,
            " ranges, each with a first and a last position"));
      }
      op.kind = ReplicaOp::Kind::kTree;
      for (int i = 0; i < t.first_size(); ++i) {
        if (t.first(i) > t.last(i)) {
          return absl::InvalidArgumentError(
              "tree query range ends before it starts");
        }
        op.ranges.emplace_back(t.first(i), t.last(i));
      }
      op.list_keys = t.list_keys();
      op.segment_bits = t.segment_bits();
      return op;  // (no key)
    }
    case v1::ReplicaRequest::kReap: {
      const v1::ReapQuery& r = in.reap();
      if (r.keys_size() == 0 ||
          static_cast<size_t>(r.keys_size()) > kMaxReapKeys) {
        return absl::InvalidArgumentError(
            absl::StrCat("reap query needs 1..", kMaxReapKeys, " keys"));
      }
      if (r.remove() ? r.expected_size() != r.keys_size()
                     : r.expected_size() != 0) {
        return absl::InvalidArgumentError(
            "reap query: a removal needs one expected hash per key, a check "
            "none");
      }
      op.kind = ReplicaOp::Kind::kReap;
      for (const std::string& k : r.keys()) {
        RUMOR_RETURN_IF_ERROR(check_key(k));
        op.keys.push_back(k);
      }
      op.expected.assign(r.expected().begin(), r.expected().end());
      op.reap_remove = r.remove();
      return op;  // (no key)
    }
    case v1::ReplicaRequest::OP_NOT_SET:
      return absl::InvalidArgumentError("replica request without an op");
  }
  RUMOR_RETURN_IF_ERROR(check_key(op.key));
  return op;
}

void ToProto(const ReplicaReply& reply, uint64_t id, v1::ReplicaResponse* out) {
  out->set_id(id);
  out->set_code(static_cast<int32_t>(reply.status.code()));
  if (!reply.status.ok()) out->set_message(std::string(reply.status.message()));
  out->set_found(reply.found);
  out->set_object(reply.object);
  for (const std::string& v : reply.view.values) out->add_values(v);
  out->set_context(reply.view.context);
  for (const auto& [key, object] : reply.entries) {
    auto* e = out->add_entries();
    e->set_key(key);
    e->set_object(object);
  }
  out->set_more(reply.more);
  for (uint64_t h : reply.hashes) out->add_hashes(h);
  for (const auto& [key, hash] : reply.keys) {
    auto* k = out->add_keys();
    k->set_key(key);
    k->set_hash(hash);
  }
  for (bool f : reply.flags) out->add_flags(f);
}

ReplicaReply FromProto(const v1::ReplicaResponse& in) {
  ReplicaReply reply;
  int code = in.code();
  if (code < 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    reply.status = absl::InternalError(
        absl::StrCat("peer answered with unknown status code ", code));
    return reply;
  }
  if (code != 0) {
    std::string message = in.message();
    if (message.empty()) message = "peer reported an error without a message";
    reply.status = absl::Status(static_cast<absl::StatusCode>(code), message);
    return reply;
  }
  reply.found = in.found();
  reply.object = in.object();
  reply.view.values.assign(in.values().begin(), in.values().end());
  reply.view.context = in.context();
  reply.view.found = !reply.view.values.empty();
  for (const auto& e : in.entries()) {
    if (e.key().empty() || e.key().size() > kHardMaxKeyBytes) {
      reply.status = absl::InternalError("peer sent a scan entry with a bad key");
      reply.entries.clear();
      return reply;
    }
    reply.entries.emplace_back(e.key(), e.object());
  }
  reply.more = in.more();
  reply.hashes.assign(in.hashes().begin(), in.hashes().end());
  if (static_cast<size_t>(in.keys_size()) > kMaxTreeKeys) {
    reply.status = absl::InternalError("peer listed too many keys");
    reply.hashes.clear();
    return reply;
  }
  for (const auto& k : in.keys()) {
    if (k.key().empty() || k.key().size() > kHardMaxKeyBytes) {
      reply.status = absl::InternalError("peer listed a bad key");
      reply.keys.clear();
      return reply;
    }
    reply.keys.emplace_back(k.key(), k.hash());
  }
  if (static_cast<size_t>(in.flags_size()) > kMaxReapKeys) {
    reply.status = absl::InternalError("peer sent too many reap flags");
    reply.hashes.clear();
    reply.keys.clear();
    return reply;
  }
  reply.flags.assign(in.flags().begin(), in.flags().end());
  return reply;
}

}  // namespace rumor::server
