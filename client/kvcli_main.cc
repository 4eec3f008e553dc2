// kvcli: command-line client for rumor. See `kvcli --help`.
//
// Exit codes: 0 success, 1 key not found (get), 2 usage error (bad flags or
// input the server rejected as invalid), 3 server or network error.
// ExitCodeOf maps the server's status codes onto them.
//
// With --routing=ring (the default) get, put and delete first fetch the
// ring from --server and send the request straight to a replica of the key
// (rumor::client::Client does the routing, and falls back to --server when
// no replica can be connected to); --routing=any sends everything to
// --server.
#include <grpc/support/log.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/json.h"
#include "common/strings.h"
#include "common/types.h"
#include "common/version.h"

namespace {

using rumor::client::Client;
using rumor::client::JsonQuote;

constexpr int kExitOk = 0;
constexpr int kExitNotFound = 1;
constexpr int kExitUsage = 2;
constexpr int kExitServer = 3;

struct Globals {
  std::string server = "127.0.0.1:7379";
  std::string timeout = "5s";
  bool timeout_given = false;
  std::string routing = "ring";
  bool json = false;
  bool base64 = false;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
};

// The kind of command a failed call belongs to: get, put or delete of a
// key (kKv), or an admin command (kAdmin). ExitCodeOf maps FAILED_PRECONDITION
// differently for the two.
enum class Request { kKv, kAdmin };

int Fail(int code, const std::string& msg) {
  std::fprintf(stderr, "kvcli: %s\n", msg.c_str());
  return code;
}

// The exit code of a failed call (documented in --help):
//   INVALID_ARGUMENT, OUT_OF_RANGE: the server refused the input (e.g. a
//     key or value over the limit, a malformed context): 2.
//   FAILED_PRECONDITION: for get, put and delete the server refused this
//     request as it stands (e.g. a put that would exceed the sibling
//     limit): 2. For an admin command the cluster is not in a state that
//     allows it (e.g. remove of a member that is not dead): 3.
//   Anything else (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
//   INTERNAL, ...): a server or network error, 3.
int ExitCodeOf(const absl::Status& s, Request request) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kExitUsage;
    case absl::StatusCode::kFailedPrecondition:
      return request == Request::kKv ? kExitUsage : kExitServer;
    default:
      return kExitServer;
  }
}

int FailStatus(const absl::Status& s, Request request = Request::kAdmin) {
  return Fail(ExitCodeOf(s, request), std::string(s.message()));
}

bool ParseTimeout(const std::string& text, absl::Duration* d) {
  double seconds;
  if (absl::SimpleAtod(text, &seconds)) {
    *d = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(text, d)) {
    return false;
  }
  return *d > absl::ZeroDuration();
}

std::string EncodeContext(const std::string& ctx) {
  return absl::WebSafeBase64Escape(ctx);
}

bool DecodeContext(const std::string& text, std::string* ctx) {
  return absl::WebSafeBase64Unescape(text, ctx) ||
         absl::Base64Unescape(text, ctx);
}

// Prints a value for humans or JSON. Returns false if it cannot be shown
// faithfully (not UTF-8 in JSON mode without --base64).
std::string JsonValue(const std::string& v, const Globals& g, bool* lossy) {
  if (g.base64) return JsonQuote(absl::Base64Escape(v));
  if (!rumor::client::IsValidUtf8(v)) *lossy = true;
  return JsonQuote(v);
}

int RunGet(Client& client, const Globals& g, const std::string& key,
           const rumor::client::CallOptions& opts) {
  auto obj = client.Get(key, opts);
  if (!obj.ok()) return FailStatus(obj.status(), Request::kKv);
  std::string ctx = EncodeContext(obj->context);
  if (g.json) {
    bool lossy = false;
    std::string out = absl::StrCat("{\"found\":", obj->found ? "true" : "false",
                                   ",\"values\":[");
    for (size_t i = 0; i < obj->values.size(); ++i) {
      if (i) out += ",";
      out += JsonValue(obj->values[i], g, &lossy);
    }
    out += absl::StrCat("],\"context\":", JsonQuote(ctx), "}\n");
    std::fputs(out.c_str(), stdout);
    if (lossy) {
      std::fprintf(stderr,
                   "kvcli: warning: a value is not valid UTF-8 and was "
                   "shown with replacement characters; use --base64\n");
    }
  } else if (obj->found) {
    std::string out;
    if (obj->values.size() == 1) {
      out = g.base64 ? absl::Base64Escape(obj->values[0]) : obj->values[0];
      out += "\n";
    } else {
      out = absl::StrCat(obj->values.size(), " siblings:\n");
      for (size_t i = 0; i < obj->values.size(); ++i) {
        absl::StrAppend(&out, "  [", i + 1, "] ",
                        g.base64 ? absl::Base64Escape(obj->values[i])
                                 : obj->values[i],
                        "\n");
      }
    }
    absl::StrAppend(&out, "context: ", ctx, "\n");
    std::fwrite(out.data(), 1, out.size(), stdout);
  } else {
    std::fprintf(stderr, "kvcli: not found: %s\n", key.c_str());
    // A deleted key still has a context; writing with it supersedes the
    // tombstone cleanly.
    if (!ctx.empty()) std::printf("context: %s\n", ctx.c_str());
  }
  return obj->found ? kExitOk : kExitNotFound;
}

int RunPut(Client& client, const Globals& g, const std::string& key,
           std::string value, const std::string& context_text,
           const rumor::client::CallOptions& opts) {
  if (value == "-") {
    value.assign(std::istreambuf_iterator<char>(std::cin),
                 std::istreambuf_iterator<char>());
    if (std::cin.bad()) return Fail(kExitUsage, "cannot read the value from stdin");
  } else if (g.base64) {
    std::string raw;
    if (!absl::Base64Unescape(value, &raw)) {
      return Fail(kExitUsage, "--base64 is set but the value is not base64");
    }
    value = std::move(raw);
  }
  std::string ctx;
  if (!DecodeContext(context_text, &ctx)) {
    return Fail(kExitUsage,
                "--context is not a context printed by kvcli get (bad base64)");
  }
  auto obj = client.Put(key, value, ctx, opts, /*return_body=*/true);
  if (!obj.ok()) return FailStatus(obj.status(), Request::kKv);
  if (g.json) {
    std::printf("{\"ok\":true,\"siblings\":%zu,\"context\":%s}\n",
                obj->values.size(), JsonQuote(EncodeContext(obj->context)).c_str());
  } else {
    std::printf("ok\n");
    if (obj->values.size() > 1) {
      std::printf("note: %s now has %zu siblings (get shows them all)\n",
                  key.c_str(), obj->values.size());
    }
  }
  return kExitOk;
}

int RunDelete(Client& client, const Globals& g, const std::string& key,
              const std::string& context_text,
              const rumor::client::CallOptions& opts) {
  std::string ctx;
  if (!DecodeContext(context_text, &ctx)) {
    return Fail(kExitUsage,
                "--context is not a context printed by kvcli get (bad base64)");
  }
  absl::Status s = client.Delete(key, ctx, opts);
  if (!s.ok()) return FailStatus(s, Request::kKv);
  std::printf(g.json ? "{\"ok\":true}\n" : "ok\n");
  return kExitOk;
}

int RunStatus(Client& client, const Globals& g) {
  auto st = client.Status();
  if (!st.ok()) return FailStatus(st.status());
  std::string id = rumor::NodeIdToString(st->node_id);
  if (g.json) {
    std::string counters;
    for (const auto& [name, value] : st->counters) {
      absl::StrAppend(&counters, counters.empty() ? "" : ",", JsonQuote(name),
                      ":", value);
    }
    std::printf(
        "{\"node_id\":%s,\"address\":%s,\"version\":%s,\"uptime_seconds\":%llu,"
        "\"data_dir\":%s,\"sync_writes\":%s,\"max_key_bytes\":%u,"
        "\"max_value_bytes\":%u,\"cluster\":%s,\"incarnation\":%llu,"
        "\"members_alive\":%u,\"members_total\":%u,\"local_health\":%u,"
        "\"probe_interval_ms\":%u,\"counters\":{%s}}\n",
        JsonQuote(id).c_str(), JsonQuote(st->address).c_str(),
        JsonQuote(st->version).c_str(),
        static_cast<unsigned long long>(st->uptime_seconds),
        JsonQuote(st->data_dir).c_str(), st->sync_writes ? "true" : "false",
        st->max_key_bytes, st->max_value_bytes, JsonQuote(st->cluster).c_str(),
        static_cast<unsigned long long>(st->incarnation), st->members_alive,
        st->members_total, st->local_health, st->probe_interval_ms,
        counters.c_str());
  } else {
    std::printf(
        "node         %s\naddress      %s\ncluster      %s\nversion      %s\n"
        "uptime       %llus\ndata dir     %s\nsync         %s\n"
        "max key      %u bytes\nmax value    %u bytes\nincarnation  %llu\n"
        "members      %u alive of %u known\nlocal health %u (0 is healthy)\n"
        "probe every  %ums\n",
        id.c_str(), st->address.c_str(), st->cluster.c_str(),
        st->version.c_str(), static_cast<unsigned long long>(st->uptime_seconds),
        st->data_dir.c_str(), st->sync_writes ? "on" : "off",
        st->max_key_bytes, st->max_value_bytes,
        static_cast<unsigned long long>(st->incarnation), st->members_alive,
        st->members_total, st->local_health, st->probe_interval_ms);
    for (const auto& [name, value] : st->counters) {
      std::printf("  %-20s %llu\n", name.c_str(),
                  static_cast<unsigned long long>(value));
    }
  }
  return kExitOk;
}

std::string TagsText(const std::vector<std::pair<std::string, std::string>>& tags) {
  std::string out;
  for (const auto& [k, v] : tags) absl::StrAppend(&out, out.empty() ? "" : ",", k, "=", v);
  return out;
}

std::string TagsJson(const std::vector<std::pair<std::string, std::string>>& tags) {
  std::string out = "{";
  for (size_t i = 0; i < tags.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "", JsonQuote(tags[i].first), ":",
                    JsonQuote(tags[i].second));
  }
  return out + "}";
}

int RunMembers(Client& client, const Globals& g) {
  auto st = client.Status();
  if (!st.ok()) return FailStatus(st.status());
  auto members = client.Members();
  if (!members.ok()) return FailStatus(members.status());
  std::string out;
  if (g.json) {
    out = "[";
    for (size_t i = 0; i < members->size(); ++i) {
      const auto& m = (*members)[i];
      absl::StrAppend(
          &out, i ? "," : "", "{\"id\":",
          JsonQuote(rumor::NodeIdToString(m.id)),
          ",\"address\":", JsonQuote(m.address),
          ",\"status\":", JsonQuote(m.status),
          ",\"incarnation\":", m.incarnation, ",\"tags\":", TagsJson(m.tags),
          ",\"tokens\":", m.tokens,
          ",\"joining\":", m.joining ? "true" : "false",
          ",\"self\":", m.id == st->node_id ? "true" : "false", "}");
    }
    out += "]\n";
  } else {
    out = absl::StrFormat("%-17s %-22s %-8s %11s %6s  %s\n", "ID", "ADDRESS",
                          "STATUS", "INCARNATION", "TOKENS", "TAGS");
    for (const auto& m : *members) {
      absl::StrAppend(
          &out, absl::StrFormat("%-17s %-22s %-8s %11d %6d  %s\n",
                                rumor::NodeIdToString(m.id) +
                                    (m.id == st->node_id ? "*" : ""),
                                m.address,
                                m.joining && m.status == "alive" ? "joining"
                                                                 : m.status,
                                m.incarnation, m.tokens, TagsText(m.tags)));
    }
    absl::StrAppend(&out, "(* is the node answering: ", st->address, ")\n");
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

std::string OwnerJson(const rumor::client::RingOwner& o) {
  return absl::StrCat("{\"id\":", JsonQuote(rumor::NodeIdToString(o.id)),
                      ",\"address\":", JsonQuote(o.address),
                      ",\"status\":", JsonQuote(o.status),
                      ",\"tokens\":", o.tokens, ",\"share\":",
                      absl::StrFormat("%.6f", o.share), ",\"replica_share\":",
                      absl::StrFormat("%.6f", o.replica_share), "}");
}

int RunRing(Client& client, const Globals& g, const std::string& key,
            bool has_key) {
  auto ring = client.Ring(has_key ? &key : nullptr);
  if (!ring.ok()) return FailStatus(ring.status());
  std::string out;
  auto owners_json = [&](const std::vector<rumor::client::RingOwner>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) {
      absl::StrAppend(&s, i ? "," : "", OwnerJson(v[i]));
    }
    return s + "]";
  };
  if (g.json) {
    out = absl::StrCat("{\"replicas\":", ring->replicas, ",\"imbalance\":",
                       absl::StrFormat("%.4f", ring->imbalance),
                       ",\"owners\":", owners_json(ring->owners));
    if (has_key) {
      absl::StrAppend(&out, ",\"key\":", JsonQuote(key), ",\"position\":",
                      JsonQuote(absl::StrFormat("%016x", ring->position)),
                      ",\"preference_list\":",
                      owners_json(ring->preference_list),
                      ",\"fallbacks\":", owners_json(ring->fallbacks));
    }
    out += "}\n";
  } else if (has_key) {
    out = absl::StrFormat("key %s at ring position %016x\n", key, ring->position);
    absl::StrAppend(&out, "preference list (N=", ring->replicas, "):\n");
    int i = 0;
    for (const auto& o : ring->preference_list) {
      absl::StrAppend(&out, absl::StrFormat("  %d. %s  %-22s %s\n", ++i,
                                            rumor::NodeIdToString(o.id),
                                            o.address, o.status));
    }
    if (!ring->fallbacks.empty()) absl::StrAppend(&out, "fallbacks:\n");
    for (const auto& o : ring->fallbacks) {
      absl::StrAppend(&out, absl::StrFormat("  %d. %s  %-22s %s\n", ++i,
                                            rumor::NodeIdToString(o.id),
                                            o.address, o.status));
    }
  } else {
    out = absl::StrFormat(
        "%zu nodes in the ring, N=%u, imbalance %.2f (largest share / "
        "smallest)\n",
        ring->owners.size(), ring->replicas, ring->imbalance);
    absl::StrAppend(&out, absl::StrFormat("%-17s %-22s %-8s %6s %8s %9s\n", "ID",
                                          "ADDRESS", "STATUS", "TOKENS", "OWNS",
                                          "REPLICAS"));
    for (const auto& o : ring->owners) {
      absl::StrAppend(&out, absl::StrFormat(
                                "%-17s %-22s %-8s %6d %7.2f%% %8.2f%%\n",
                                rumor::NodeIdToString(o.id), o.address,
                                o.status, o.tokens, 100 * o.share,
                                100 * o.replica_share));
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

int RunLeave(Client& client, const Globals& g) {
  auto st = client.Status();
  if (!st.ok()) return FailStatus(st.status());
  // A leave first hands every key the node holds to its other replicas:
  // unless --timeout was given, wait as long as the node allows for that
  // (its --leave-timeout, 10 minutes by default).
  rumor::client::CallOptions opts;
  if (!g.timeout_given) opts.timeout = absl::Minutes(10);
  std::fprintf(stderr, "leaving: the node hands its data off first; its log "
                       "shows the progress\n");
  auto spread = client.Leave(opts);
  if (!spread.ok()) return FailStatus(spread.status());
  std::string id = rumor::NodeIdToString(st->node_id);
  if (g.json) {
    std::printf("{\"ok\":true,\"node_id\":%s,\"spread\":%s}\n",
                JsonQuote(id).c_str(), *spread ? "true" : "false");
  } else {
    std::printf("node %s at %s left the cluster and is shutting down\n",
                id.c_str(), st->address.c_str());
    if (!*spread) {
      std::printf(
          "note: not every member had confirmed the leave yet; gossip will "
          "finish spreading it\n");
    }
  }
  return kExitOk;
}

int RunRemove(Client& client, const Globals& g, const std::string& node) {
  auto members = client.Members();
  if (!members.ok()) return FailStatus(members.status());
  const rumor::client::Member* target = nullptr;
  for (const auto& m : *members) {
    if (rumor::NodeIdToString(m.id) == absl::AsciiStrToLower(node) ||
        m.address == node) {
      target = &m;
    }
  }
  if (target == nullptr) {
    return Fail(kExitUsage, absl::StrCat("no member with id or address '", node,
                                         "' (see kvcli members)"));
  }
  absl::Status s = client.Remove(target->id);
  if (!s.ok()) return FailStatus(s);
  std::string id = rumor::NodeIdToString(target->id);
  if (g.json) {
    std::printf("{\"ok\":true,\"node_id\":%s}\n", JsonQuote(id).c_str());
  } else {
    std::printf("removed %s (%s) from the ring; its ranges move to the others\n",
                id.c_str(), target->address.c_str());
  }
  return kExitOk;
}

std::string ExchangeJson(const rumor::client::AaeExchange& e) {
  return absl::StrCat(
      "{\"peer\":", JsonQuote(rumor::NodeIdToString(e.peer)),
      ",\"address\":", JsonQuote(e.address), ",\"ok\":", e.ok ? "true" : "false",
      ",\"error\":", JsonQuote(e.error),
      ",\"finished_unix_ms\":", e.finished_unix_ms, ",\"took_ms\":", e.took_ms,
      ",\"ranges\":", e.ranges, ",\"requests\":", e.requests,
      ",\"keys_compared\":", e.keys_compared, ",\"differing\":", e.differing,
      ",\"repaired_here\":", e.repaired_here,
      ",\"repaired_peer\":", e.repaired_peer, ",\"bytes\":", e.bytes,
      ",\"per_range\":[", absl::StrJoin(e.per_range, ",", [](std::string* out,
                                                         const auto& r) {
        absl::StrAppend(
            out, "{\"first\":", JsonQuote(absl::StrFormat("%016x", r.first)),
            ",\"last\":", JsonQuote(absl::StrFormat("%016x", r.last)),
            ",\"keys_compared\":", r.keys_compared,
            ",\"differing\":", r.differing, ",\"repaired\":", r.repaired,
            "}");
      }), "]}");
}

// One line per exchange: the peer, when, and what it found and repaired;
// under it one line per shared range (at most `max_ranges` of them).
std::string ExchangeTable(const std::vector<rumor::client::AaeExchange>& all,
                          size_t max_ranges) {
  std::string out = absl::StrFormat(
      "%-17s %-22s %-9s %6s %9s %9s %8s %8s %8s %10s\n", "PEER", "ADDRESS",
      "FINISHED", "RANGES", "COMPARED", "DIFFERING", "TOOK", "GAINED", "GAVE",
      "BYTES");
  absl::Time now = absl::Now();
  for (const auto& e : all) {
    absl::Duration ago = now - absl::FromUnixMillis(e.finished_unix_ms);
    std::string when =
        absl::StrCat(absl::ToInt64Seconds(std::max(ago, absl::ZeroDuration())),
                     "s ago");
    absl::StrAppend(
        &out,
        absl::StrFormat("%-17s %-22s %-9s %6d %9d %9d %6dms %8d %8d %10d\n",
                        rumor::NodeIdToString(e.peer), e.address, when,
                        e.ranges, e.keys_compared, e.differing, e.took_ms,
                        e.repaired_here, e.repaired_peer, e.bytes));
    if (!e.ok) absl::StrAppend(&out, "  failed: ", e.error, "\n");
    for (size_t i = 0; i < e.per_range.size() && i < max_ranges; ++i) {
      const auto& r = e.per_range[i];
      absl::StrAppend(
          &out, absl::StrFormat("  range %016x..%016x %9d %9d %8d repaired\n",
                                r.first, r.last, r.keys_compared, r.differing,
                                r.repaired));
    }
    if (e.per_range.size() > max_ranges) {
      absl::StrAppend(&out, "  ... ", e.per_range.size() - max_ranges,
                      " more ranges (kvcli aae --ranges lists all)\n");
    }
  }
  return out;
}

int RunAae(Client& client, const Globals& g, bool all_ranges) {
  auto st = client.Aae();
  if (!st.ok()) return FailStatus(st.status());
  std::string out;
  if (g.json) {
    out = absl::StrCat(
        "{\"tree\":", JsonQuote(st->tree_ready ? "ready" : "building"),
        ",\"build_progress\":", absl::StrFormat("%.3f", st->build_progress),
        ",\"build_keys\":", st->build_keys, ",\"build_ms\":", st->build_ms,
        ",\"tree_bytes\":", st->tree_bytes, ",\"interval_ms\":", st->interval_ms,
        ",\"exchanges_total\":", st->exchanges_total,
        ",\"exchange_failures\":", st->exchange_failures,
        ",\"keys_repaired\":", st->keys_repaired,
        ",\"tombstone_grace_ms\":", st->tombstone_grace_ms,
        ",\"tombstones_pending\":", st->tombstones_pending,
        ",\"tombstones_reaped\":", st->tombstones_reaped,
        ",\"tombstones_kept\":", st->tombstones_kept,
        ",\"reaping_paused\":", JsonQuote(st->reaping_paused),
        ",\"verify_interval_ms\":", st->verify_interval_ms,
        ",\"verify_runs\":", st->verify_runs,
        ",\"verify_running\":", st->verify_running ? "true" : "false",
        ",\"verify_progress\":", absl::StrFormat("%.3f", st->verify_progress),
        ",\"verify_segments_corrected\":", st->verify_segments_corrected,
        ",\"verify_finished_unix_ms\":", st->verify_finished_unix_ms,
        ",\"pacing\":", st->pacing ? "true" : "false",
        ",\"rate_share\":", absl::StrFormat("%.3f", st->rate_share),
        ",\"baseline_latency_us\":", st->baseline_latency_us,
        ",\"recent_latency_us\":", st->recent_latency_us,
        ",\"slowdowns\":", st->slowdowns,
        ",\"latency_probes\":", st->latency_probes,
        ",\"paused\":", st->paused ? "true" : "false",
        ",\"exchanges\":[");
    for (size_t i = 0; i < st->exchanges.size(); ++i) {
      absl::StrAppend(&out, i ? "," : "", ExchangeJson(st->exchanges[i]));
    }
    out += "]}\n";
  } else {
    if (st->tree_ready) {
      out = absl::StrFormat(
          "hash tree: ready (built from %d keys in %dms, %d MiB)\n",
          st->build_keys, st->build_ms, st->tree_bytes >> 20);
    } else {
      out = absl::StrFormat("hash tree: building, %.0f%% (%d keys so far)\n",
                            100 * st->build_progress, st->build_keys);
    }
    absl::StrAppend(
        &out,
        st->interval_ms > 0
            ? absl::StrFormat("exchanges: one peer every %dms", st->interval_ms)
            : std::string("exchanges: only on kvcli repair"),
        absl::StrFormat("; %d so far, %d failed, %d keys repaired\n",
                        st->exchanges_total, st->exchange_failures,
                        st->keys_repaired));
    if (st->paused) {
      out +=
          "PAUSED by an operator: exchanges, repairs, the tree check and "
          "reaping wait (kvcli aae --resume)\n";
    }
    if (!st->pacing) {
      out += "pacing: at the rate limits (no pacing by client latency)\n";
    } else {
      absl::StrAppend(
          &out,
          absl::StrFormat("pacing (as of repair's last step): %.0f%% of the "
                          "rate limits; client latency %s without repair, "
                          "%s with it; %d slowdown(s), %d probe(s)\n",
                          100 * st->rate_share,
                          st->baseline_latency_us > 0
                              ? absl::FormatDuration(absl::Microseconds(
                                    st->baseline_latency_us))
                              : std::string("not measured"),
                          st->recent_latency_us > 0
                              ? absl::FormatDuration(absl::Microseconds(
                                    st->recent_latency_us))
                              : std::string("not measured"),
                          st->slowdowns, st->latency_probes));
    }
    if (st->verify_interval_ms == 0) {
      out += "tree check: off\n";
    } else if (st->verify_running) {
      absl::StrAppend(&out, absl::StrFormat("tree check: running, %.0f%%\n",
                                            100 * st->verify_progress));
    } else {
      absl::StrAppend(
          &out,
          absl::StrFormat("tree check: every %s; %d run(s), %d segment(s) "
                          "corrected so far\n",
                          absl::FormatDuration(
                              absl::Milliseconds(st->verify_interval_ms)),
                          st->verify_runs, st->verify_segments_corrected));
    }
    if (st->tombstone_grace_ms == 0) {
      absl::StrAppend(&out, absl::StrFormat(
                                "tombstones: kept for good (--tombstone-grace=0)"
                                "; %d pending\n",
                                st->tombstones_pending));
    } else {
      absl::StrAppend(
          &out,
          absl::StrFormat("tombstones: reaped after %s once every holder "
                          "agrees; %d pending, %d reaped, %d kept back\n",
                          absl::FormatDuration(
                              absl::Milliseconds(st->tombstone_grace_ms)),
                          st->tombstones_pending, st->tombstones_reaped,
                          st->tombstones_kept));
      if (!st->reaping_paused.empty()) {
        absl::StrAppend(&out, "  paused: ", st->reaping_paused, "\n");
      }
    }
    if (st->exchanges.empty()) {
      out += "no exchange yet\n";
    } else {
      out += ExchangeTable(st->exchanges, all_ranges ? SIZE_MAX : 8);
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

int RunRepair(Client& client, const Globals& g, const std::string& peer) {
  uint64_t peer_id = 0;
  if (!peer.empty()) {
    auto members = client.Members();
    if (!members.ok()) return FailStatus(members.status());
    for (const auto& m : *members) {
      if (rumor::NodeIdToString(m.id) == absl::AsciiStrToLower(peer) ||
          m.address == peer) {
        peer_id = m.id;
      }
    }
    if (peer_id == 0) {
      return Fail(kExitUsage, absl::StrCat("no member with id or address '",
                                           peer, "' (see kvcli members)"));
    }
  }
  // Repairs run at the node's rate limits: unless --timeout was given, wait
  // as long as a large repair may take.
  rumor::client::CallOptions opts;
  if (!g.timeout_given) opts.timeout = absl::Minutes(30);
  if (!g.json) {
    std::fprintf(stderr, "repair: comparing %s with %s; the node's log shows "
                         "the progress\n",
                 g.server.c_str(),
                 peer.empty() ? "every peer sharing its ranges" : peer.c_str());
  }
  auto reports = client.Repair(peer_id, opts);
  if (!reports.ok()) return FailStatus(reports.status());
  bool failed = false;
  for (const auto& e : *reports) failed = failed || !e.ok;
  std::string out;
  if (g.json) {
    out = absl::StrCat("{\"ok\":", failed ? "false" : "true", ",\"exchanges\":[");
    for (size_t i = 0; i < reports->size(); ++i) {
      absl::StrAppend(&out, i ? "," : "", ExchangeJson((*reports)[i]));
    }
    out += "]}\n";
  } else if (reports->empty()) {
    out = "no peer shares ranges with this node: nothing to compare\n";
  } else {
    uint64_t here = 0, there = 0;
    for (const auto& e : *reports) {
      here += e.repaired_here;
      there += e.repaired_peer;
    }
    out = ExchangeTable(*reports, 8);
    absl::StrAppend(&out, absl::StrFormat(
                              "repaired %d key(s) here and %d on the peers\n",
                              here, there));
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return failed ? kExitServer : kExitOk;
}

// gRPC's standard health check of --server: exit 0 only when it answers
// SERVING (a container's HEALTHCHECK runs this).
int RunHealth(Client& client, const Globals& g, const std::string& service) {
  auto status = client.Health(service);
  if (!status.ok()) return FailStatus(status.status());
  const char* name = rumor::client::ServingStatusName(*status);
  if (g.json) {
    std::printf("{\"status\":%s}\n", JsonQuote(name).c_str());
  } else if (*status == rumor::client::ServingStatus::kServing) {
    std::printf("status: %s\n", name);
  }
  if (*status == rumor::client::ServingStatus::kServing) return kExitOk;
  return Fail(kExitServer,
              absl::StrCat(g.server, service.empty() ? "" : " ", service,
                           " is not serving (", name, ")"));
}

std::string ValueText(const std::string& v, const Globals& g) {
  return g.base64 ? absl::Base64Escape(v) : v;
}

int RunReplicas(Client& client, const Globals& g, const std::string& key) {
  auto report = client.Replicas(key);
  if (!report.ok()) return FailStatus(report.status());
  std::string out;
  bool lossy = false;
  if (g.json) {
    out = absl::StrCat("{\"position\":",
                       JsonQuote(absl::StrFormat("%016x", report->position)),
                       ",\"replicas\":", report->replicas, ",\"copies\":[");
    for (size_t i = 0; i < report->copies.size(); ++i) {
      const auto& c = report->copies[i];
      std::string values, version;
      for (size_t k = 0; k < c.values.size(); ++k) {
        absl::StrAppend(&values, k ? "," : "", JsonValue(c.values[k], g, &lossy));
      }
      for (size_t k = 0; k < c.version.size(); ++k) {
        absl::StrAppend(&version, k ? "," : "",
                        JsonQuote(rumor::NodeIdToString(c.version[k].first)),
                        ":", c.version[k].second);
      }
      absl::StrAppend(
          &out, i ? "," : "", "{\"node\":", JsonQuote(rumor::NodeIdToString(c.node)),
          ",\"address\":", JsonQuote(c.address),
          ",\"status\":", JsonQuote(c.status), ",\"role\":", JsonQuote(c.role),
          ",\"hint_for\":",
          c.role == "hint" ? JsonQuote(rumor::NodeIdToString(c.hint_for))
                           : std::string("null"),
          ",\"answered\":", c.answered ? "true" : "false",
          ",\"error\":", JsonQuote(c.error),
          ",\"holds\":", c.holds ? "true" : "false", ",\"values\":[", values,
          "],\"tombstones\":", c.tombstones, ",\"version\":{", version, "}}");
    }
    out += "]}\n";
  } else {
    out = absl::StrFormat("key %s at ring position %016x, N=%u, %zu cop%s\n",
                          key, report->position, report->replicas,
                          report->copies.size(),
                          report->copies.size() == 1 ? "y" : "ies");
    for (const auto& c : report->copies) {
      std::string role = c.role == "hint"
                             ? "hint for " + rumor::NodeIdToString(c.hint_for)
                             : c.role;
      absl::StrAppend(&out, absl::StrFormat("%s  %-22s %-8s %s\n",
                                            rumor::NodeIdToString(c.node),
                                            c.address, c.status, role));
      if (!c.answered) {
        absl::StrAppend(&out, "  not asked: ",
                        c.error.empty() ? "no answer" : c.error, "\n");
        continue;
      }
      if (!c.holds) {
        absl::StrAppend(&out, "  does not hold the key\n");
        continue;
      }
      absl::StrAppend(&out, "  holds the key: ", c.values.size(), " value",
                      c.values.size() == 1 ? "" : "s", ", ", c.tombstones,
                      " tombstone", c.tombstones == 1 ? "" : "s", "\n");
      for (size_t k = 0; k < c.values.size(); ++k) {
        absl::StrAppend(&out, "    [", k + 1, "] ", ValueText(c.values[k], g),
                        "\n");
      }
      std::string version;
      for (const auto& [actor, counter] : c.version) {
        absl::StrAppend(&version, version.empty() ? "" : " ",
                        rumor::NodeIdToString(actor), ":", counter);
      }
      absl::StrAppend(&out, "  version: ", version.empty() ? "(empty)" : version,
                      "\n");
      if (!c.error.empty()) absl::StrAppend(&out, "  error: ", c.error, "\n");
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (lossy) {
    std::fprintf(stderr,
                 "kvcli: warning: a value is not valid UTF-8 and was shown "
                 "with replacement characters; use --base64\n");
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  // gRPC logs a failed TLS handshake to stderr itself; kvcli reports every
  // failure in one line of its own (GRPC_VERBOSITY brings them back).
  if (std::getenv("GRPC_VERBOSITY") == nullptr) {
    gpr_set_log_function([](gpr_log_func_args*) {});
  }
  Globals g;
  CLI::App app{
      "kvcli: talk to a rumor cluster.\n\n"
      "Every key holds one value or, after concurrent writes, several\n"
      "siblings. get prints them with a causal context; pass it to put or\n"
      "delete (--context) to replace exactly what you read. A put without\n"
      "--context adds a sibling.\n\n"
      "--routing=ring (default): get, put and delete fetch the ring from\n"
      "--server first and go straight to a replica of the key (to --server\n"
      "when the ring cannot be fetched, or when no replica can be connected\n"
      "to, e.g. node names of a container network seen from the host).\n"
      "--routing=any: everything goes to --server. Other commands always go\n"
      "to --server.\n\n"
      "Exit codes:\n"
      "  0 ok\n"
      "  1 not found (get only)\n"
      "  2 usage error: bad flags, or a request the server refused as\n"
      "    invalid (INVALID_ARGUMENT, OUT_OF_RANGE; for get/put/delete also\n"
      "    FAILED_PRECONDITION, e.g. a put over the sibling limit)\n"
      "  3 server or network error (UNAVAILABLE, DEADLINE_EXCEEDED, ...;\n"
      "    also FAILED_PRECONDITION of an admin command, e.g. remove of a\n"
      "    member that is not dead)",
      "kvcli"};
  app.set_version_flag("--version", std::string("kvcli ") + rumor::kVersion);
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--server", g.server, "host:port of any rumor node")
      ->envname("RUMOR_SERVER")
      ->capture_default_str();
  app.add_option("--tls-ca", g.tls_ca,
                 "PEM file of the CA that issued the nodes' certificates: "
                 "talk TLS (nodes started with --peer-ca)")
      ->envname("RUMOR_CLIENT_TLS_CA");
  app.add_option("--tls-cert", g.tls_cert,
                 "PEM client certificate, for nodes that require one "
                 "(--tls-client-ca); one from the cluster CA also "
                 "authorises leave and remove")
      ->envname("RUMOR_CLIENT_TLS_CERT");
  app.add_option("--tls-key", g.tls_key, "PEM private key of --tls-cert")
      ->envname("RUMOR_CLIENT_TLS_KEY");
  app.add_option("--tls-server-name", g.tls_server_name,
                 "verify the node's certificate against this name instead "
                 "of --server's host (e.g. node1 through a forwarded port)");
  app.add_option("--timeout", g.timeout,
                 "deadline per request, e.g. 500ms, 5s, 2 (seconds)")
      ->capture_default_str();
  app.add_option("--routing", g.routing,
                 "ring: send get/put/delete straight to a replica of the key; "
                 "any: send everything to --server")
      ->check(CLI::IsMember({"ring", "any"}))
      ->capture_default_str();
  app.add_flag("--json", g.json, "machine-readable output");
  app.add_flag("--base64", g.base64,
               "values are base64 (output of get and replicas, input of put) "
               "so binary data survives");

  std::string key, value, context;
  uint32_t r = 0, w = 0;
  // --r and --w on the commands that read or write a key.
  auto add_quorum = [&](CLI::App* cmd) {
    cmd->add_option("--r", r,
                    "replicas that must answer the read (1..N; 0 or absent: "
                    "the node's default)")
        ->check(CLI::Range(0u, 1000u));
    cmd->add_option("--w", w,
                    "replicas that must acknowledge the write (1..N; 0 or "
                    "absent: the node's default)")
        ->check(CLI::Range(0u, 1000u));
  };
  auto* get = app.add_subcommand("get", "print every sibling of KEY and its context");
  get->add_option("key", key, "the key")->required();
  add_quorum(get);
  auto* put = app.add_subcommand(
      "put", "write VALUE (or stdin when VALUE is -) under KEY");
  put->add_option("key", key, "the key")->required();
  put->add_option("value", value, "the value, or - to read it from stdin")
      ->required();
  put->add_option("--context", context,
                  "context from get: replace the values it covers");
  add_quorum(put);
  auto* del = app.add_subcommand("delete", "delete the values of KEY that --context covers");
  del->add_option("key", key, "the key")->required();
  del->add_option("--context", context,
                  "context from get (without it nothing existing is covered)");
  add_quorum(del);
  auto* status = app.add_subcommand("status", "describe the node");
  auto* health = app.add_subcommand(
      "health",
      "gRPC health check of the node (grpc.health.v1): exit 0 when it "
      "answers SERVING, 3 when it does not or cannot be reached (a node "
      "that has not learnt its ring yet, or is shutting down, is not "
      "serving)");
  std::string health_service;
  health->add_option("--service", health_service,
                     "ask about one service: rumor.v1.KV (clients), "
                     "rumor.v1.Admin, rumor.v1.Peer, rumor.v1.Replica; "
                     "default: the node as a whole");
  auto* members = app.add_subcommand("members", "list the cluster's members");
  auto* ring = app.add_subcommand(
      "ring", "ring ownership per node, or KEY's preference list");
  ring->add_option("key", key, "a key: print where it lives");
  auto* leave = app.add_subcommand(
      "leave", "make the node at --server leave the cluster and shut down");
  std::string node_arg;
  auto* remove = app.add_subcommand(
      "remove", "remove a dead member (by id or address) from the ring");
  remove->add_option("node", node_arg, "member id or address")->required();
  auto* replicas = app.add_subcommand(
      "replicas",
      "every replica's copy of KEY (values, tombstones, version vector) "
      "and the hints held for it");
  replicas->add_option("key", key, "the key")->required();
  auto* aae = app.add_subcommand(
      "aae",
      "anti-entropy: the hash tree, tombstone reaping, and the last "
      "exchange with each peer, range by range");
  bool all_ranges = false;
  aae->add_flag("--ranges", all_ranges,
                "list every shared range (default: the first 8 per peer)");
  bool aae_pause = false, aae_resume = false;
  auto* pause_flag = aae->add_flag(
      "--pause", aae_pause,
      "pause the node's own anti-entropy work (exchanges, repairs, tree "
      "check, tombstone reaping) until --resume or its restart");
  aae->add_flag("--resume", aae_resume, "resume paused anti-entropy work")
      ->excludes(pause_flag);
  std::string peer_arg;
  auto* repair = app.add_subcommand(
      "repair",
      "run anti-entropy now: compare the node's ranges with a peer's (or "
      "every peer's) and merge what differs; prints what was repaired");
  repair->add_option("--peer", peer_arg,
                     "member id or address (default: every peer sharing "
                     "ranges with the node)");

  // CLI11 reports an unknown command as "a subcommand is required"; name it.
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--server" || arg == "--timeout" || arg == "--routing" ||
        arg == "--tls-ca" || arg == "--tls-cert" || arg == "--tls-key" ||
        arg == "--tls-server-name") {
      ++i;  // skip the option's value
      continue;
    }
    if (arg.empty() || arg[0] == '-') continue;
    std::string names;
    bool known = false;
    for (const auto* sub : app.get_subcommands({})) {
      absl::StrAppend(&names, names.empty() ? "" : ", ", sub->get_name());
      known = known || sub->get_name() == arg;
    }
    if (!known) {
      return Fail(kExitUsage, absl::StrCat("unknown command '", arg,
                                           "' (commands: ", names, ")"));
    }
    break;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return Fail(kExitUsage, std::string(e.what()) + " (see kvcli --help)");
  }

  rumor::client::ClientOptions options;
  options.server = g.server;
  options.routing = g.routing == "any" ? rumor::client::ClientOptions::Routing::kAny
                                       : rumor::client::ClientOptions::Routing::kRing;
  if (!ParseTimeout(g.timeout, &options.timeout)) {
    return Fail(kExitUsage, "--timeout must be a positive duration like 5s or 500ms");
  }
  {
    auto tls = rumor::client::LoadClientTls(g.tls_ca, g.tls_cert, g.tls_key);
    if (!tls.ok()) return Fail(kExitUsage, std::string(tls.status().message()));
    options.tls = std::move(*tls);
    options.tls.server_name = g.tls_server_name;
  }
  auto client = Client::Connect(options);
  if (!client.ok()) return Fail(kExitUsage, std::string(client.status().message()));

  g.timeout_given = app.count("--timeout") > 0;
  bool kv = get->parsed() || put->parsed() || del->parsed();
  if (kv && options.routing == rumor::client::ClientOptions::Routing::kRing) {
    // One-shot: learn the ring first so this very request is routed. If
    // it cannot be fetched (a node without RingLayout, a refused
    // connection) the request goes to --server, which reports its own
    // error; but a server that does not answer in time would only make
    // the request wait as long again.
    absl::Status ring = (*client)->RefreshRing();
    if (ring.code() == absl::StatusCode::kDeadlineExceeded) {
      return Fail(kExitServer,
                  absl::StrCat("no answer from ", g.server,
                               " before the deadline while fetching the ring "
                               "layout; the ", get->parsed() ? "read" : "write",
                               " was not sent (", ring.message(), ")"));
    }
  }
  rumor::client::CallOptions call;
  call.r = r;
  call.w = w;
  if (get->parsed()) return RunGet(**client, g, key, call);
  if (put->parsed()) return RunPut(**client, g, key, value, context, call);
  if (del->parsed()) return RunDelete(**client, g, key, context, call);
  if (replicas->parsed()) return RunReplicas(**client, g, key);
  if (status->parsed()) return RunStatus(**client, g);
  if (health->parsed()) return RunHealth(**client, g, health_service);
  if (members->parsed()) return RunMembers(**client, g);
  if (ring->parsed()) return RunRing(**client, g, key, ring->count("key") > 0);
  if (leave->parsed()) return RunLeave(**client, g);
  if (remove->parsed()) return RunRemove(**client, g, node_arg);
  if (aae->parsed()) {
    if (aae_pause || aae_resume) {
      absl::Status s = (*client)->PauseAae(aae_pause);
      if (!s.ok()) return FailStatus(s);
    }
    return RunAae(**client, g, all_ranges);
  }
  if (repair->parsed()) return RunRepair(**client, g, peer_arg);
  return Fail(kExitUsage, "no command given (see kvcli --help)");
}
