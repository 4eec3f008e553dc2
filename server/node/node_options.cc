#include "server/node/node_options.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "server/membership/member_meta.h"

namespace rumor::server {
namespace {

bool IsWildcard(const std::string& host) {
  return host == "0.0.0.0" || host == "[::]" || host == "::";
}

}  // namespace

absl::StatusOr<HostPort> ParseHostPort(const std::string& addr,
                                       const char* what) {
  RUMOR_RETURN_IF_ERROR(CheckHostPort(addr, what, /*min_port=*/0));
  size_t colon = addr.rfind(':');
  HostPort hp;
  hp.host = addr.substr(0, colon);
  (void)absl::SimpleAtoi(addr.substr(colon + 1), &hp.port);  // checked
  return hp;
}

absl::Status ValidateOptions(const NodeOptions& o) {
  RUMOR_RETURN_IF_ERROR(o.limits.Validate());
  RUMOR_ASSIGN_OR_RETURN(HostPort listen, ParseHostPort(o.listen, "listen address"));
  if (o.advertise.empty() && IsWildcard(listen.host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listening on wildcard address ", o.listen,
        " needs --advertise=HOST:PORT so peers and clients can reach it"));
  }
  if (!o.advertise.empty()) {
    RUMOR_RETURN_IF_ERROR(ParseHostPort(o.advertise, "advertise address").status());
  }
  if (!o.metrics.empty()) {
    RUMOR_RETURN_IF_ERROR(ParseHostPort(o.metrics, "metrics address").status());
  }
  for (const std::string& seed : o.seeds) {
    RUMOR_ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(seed, "seed"));
    if (hp.port == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("seed '", seed, "' needs a real port, not 0"));
    }
  }
  if (!(o.aae_latency_tolerance >= 0 && o.aae_latency_tolerance <= 10)) {
    return absl::InvalidArgumentError(
        "anti-entropy latency tolerance must be between 0 and 10 (0.05: "
        "repair may slow client requests by 5%; 0: no pacing by latency)");
  }
  if (o.storage_queue < 1 || o.storage_queue > 1000000) {
    return absl::InvalidArgumentError("storage queue must be 1..1000000");
  }
  if (o.storage_threads < 0) {
    return absl::InvalidArgumentError("storage threads must be >= 0");
  }
  if (o.probe_interval < absl::Milliseconds(10) ||
      o.probe_interval > absl::Minutes(1)) {
    return absl::InvalidArgumentError(
        "probe interval must be between 10ms and 1m");
  }
  if (o.probe_timeout < absl::ZeroDuration() ||
      o.probe_timeout >= o.probe_interval) {
    return absl::InvalidArgumentError(
        "probe timeout must be shorter than the probe interval");
  }
  if (o.tokens == 0 || o.tokens > 1024) {
    return absl::InvalidArgumentError("tokens per node must be 1..1024");
  }
  if (o.forget_departed_after < absl::Seconds(1)) {
    return absl::InvalidArgumentError("forget-departed-after must be >= 1s");
  }
  if (o.push_pull_interval < absl::Milliseconds(100)) {
    return absl::InvalidArgumentError("push-pull interval must be >= 100ms");
  }
  if (o.replicas == 0 || o.replicas > 16) {
    return absl::InvalidArgumentError("replicas (N) must be 1..16");
  }
  if (o.r < 1 || o.r > o.replicas || o.w < 1 || o.w > o.replicas) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--r and --w must be between 1 and --replicas (N=", o.replicas,
        "); got r=", o.r, ", w=", o.w));
  }
  if (o.request_timeout < absl::Milliseconds(10) ||
      o.request_timeout > absl::Minutes(5)) {
    return absl::InvalidArgumentError("request timeout must be 10ms..5m");
  }
  if (o.max_siblings < 1 || o.warn_siblings < 1) {
    return absl::InvalidArgumentError("sibling limits must be >= 1");
  }
  if (o.max_object_bytes < o.limits.max_value_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max-object-bytes (", o.max_object_bytes,
        ") must be at least --max-value-bytes (", o.limits.max_value_bytes,
        ")"));
  }
  if (o.max_object_bytes > kHardMaxValueBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max-object-bytes must be at most ", kHardMaxValueBytes,
        " (an object must fit in one message)"));
  }
  if (o.max_hints_per_node < 1) {
    return absl::InvalidArgumentError("--max-hints-per-node must be >= 1");
  }
  if (o.handoff_interval < absl::Milliseconds(10)) {
    return absl::InvalidArgumentError("handoff interval must be >= 10ms");
  }
  if (o.indirect_checks < 0 || o.retransmit_mult < 1 ||
      o.suspicion_mult < 3) {
    return absl::InvalidArgumentError(
        "need indirect checks >= 0, retransmit mult >= 1, suspicion mult >= 3");
  }
  RUMOR_RETURN_IF_ERROR(CheckClusterName(o.cluster));
  if (o.tags.size() + 1 > kMaxTagsPerMember) {  // (+1: the version tag)
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxTagsPerMember - 1, " member tags"));
  }
  for (const auto& [key, value] : o.tags) {
    RUMOR_RETURN_IF_ERROR(CheckTag(key, value));
    if (key == "version") {
      return absl::InvalidArgumentError(
          "tag 'version' is set by kvd itself (its release)");
    }
  }
  return absl::OkStatus();
}

}  // namespace rumor::server
