// kvcli: command-line client for rumor. See `kvcli --help`.
//
// Exit codes: 0 success, 1 key not found (get), 2 usage error (bad flags or
// input the server rejected as invalid), 3 server or network error.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/escaping.h"
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
  bool json = false;
  bool base64 = false;
};

int Fail(int code, const std::string& msg) {
  std::fprintf(stderr, "kvcli: %s\n", msg.c_str());
  return code;
}

int FailStatus(const absl::Status& s) {
  int code = s.code() == absl::StatusCode::kInvalidArgument ? kExitUsage
                                                            : kExitServer;
  return Fail(code, std::string(s.message()));
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

int RunGet(Client& client, const Globals& g, const std::string& key) {
  auto obj = client.Get(key);
  if (!obj.ok()) return FailStatus(obj.status());
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
           std::string value, const std::string& context_text) {
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
  auto obj = client.Put(key, value, ctx, {}, /*return_body=*/true);
  if (!obj.ok()) return FailStatus(obj.status());
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
              const std::string& context_text) {
  std::string ctx;
  if (!DecodeContext(context_text, &ctx)) {
    return Fail(kExitUsage,
                "--context is not a context printed by kvcli get (bad base64)");
  }
  absl::Status s = client.Delete(key, ctx);
  if (!s.ok()) return FailStatus(s);
  std::printf(g.json ? "{\"ok\":true}\n" : "ok\n");
  return kExitOk;
}

int RunStatus(Client& client, const Globals& g) {
  auto st = client.Status();
  if (!st.ok()) return FailStatus(st.status());
  std::string id = rumor::NodeIdToString(st->node_id);
  if (g.json) {
    std::printf(
        "{\"node_id\":%s,\"address\":%s,\"version\":%s,\"uptime_seconds\":%llu,"
        "\"data_dir\":%s,\"sync_writes\":%s,\"max_key_bytes\":%u,"
        "\"max_value_bytes\":%u}\n",
        JsonQuote(id).c_str(), JsonQuote(st->address).c_str(),
        JsonQuote(st->version).c_str(),
        static_cast<unsigned long long>(st->uptime_seconds),
        JsonQuote(st->data_dir).c_str(), st->sync_writes ? "true" : "false",
        st->max_key_bytes, st->max_value_bytes);
  } else {
    std::printf(
        "node       %s\naddress    %s\nversion    %s\nuptime     %llus\n"
        "data dir   %s\nsync       %s\nmax key    %u bytes\nmax value  %u "
        "bytes\n",
        id.c_str(), st->address.c_str(), st->version.c_str(),
        static_cast<unsigned long long>(st->uptime_seconds),
        st->data_dir.c_str(), st->sync_writes ? "on" : "off",
        st->max_key_bytes, st->max_value_bytes);
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  Globals g;
  CLI::App app{
      "kvcli: talk to a rumor cluster.\n\n"
      "Every key holds one value or, after concurrent writes, several\n"
      "siblings. get prints them with a causal context; pass it to put or\n"
      "delete (--context) to replace exactly what you read. A put without\n"
      "--context adds a sibling.\n\n"
      "Exit codes: 0 ok, 1 not found, 2 usage error, 3 server/network error.",
      "kvcli"};
  app.set_version_flag("--version", std::string("kvcli ") + rumor::kVersion);
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--server", g.server, "host:port of any rumor node")
      ->envname("RUMOR_SERVER")
      ->capture_default_str();
  app.add_option("--timeout", g.timeout,
                 "deadline per request, e.g. 500ms, 5s, 2 (seconds)")
      ->capture_default_str();
  app.add_flag("--json", g.json, "machine-readable output");
  app.add_flag("--base64", g.base64,
               "values are base64 (output of get, input of put) so binary "
               "data survives");

  std::string key, value, context;
  auto* get = app.add_subcommand("get", "print every sibling of KEY and its context");
  get->add_option("key", key, "the key")->required();
  auto* put = app.add_subcommand(
      "put", "write VALUE (or stdin when VALUE is -) under KEY");
  put->add_option("key", key, "the key")->required();
  put->add_option("value", value, "the value, or - to read it from stdin")
      ->required();
  put->add_option("--context", context,
                  "context from get: replace the values it covers");
  auto* del = app.add_subcommand("delete", "delete the values of KEY that --context covers");
  del->add_option("key", key, "the key")->required();
  del->add_option("--context", context,
                  "context from get (without it nothing existing is covered)");
  auto* status = app.add_subcommand("status", "describe the node");

  // CLI11 reports an unknown command as "a subcommand is required"; name it.
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--server" || arg == "--timeout") {
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
  if (!ParseTimeout(g.timeout, &options.timeout)) {
    return Fail(kExitUsage, "--timeout must be a positive duration like 5s or 500ms");
  }
  auto client = Client::Connect(options);
  if (!client.ok()) return Fail(kExitUsage, std::string(client.status().message()));

  if (get->parsed()) return RunGet(**client, g, key);
  if (put->parsed()) return RunPut(**client, g, key, value, context);
  if (del->parsed()) return RunDelete(**client, g, key, context);
  if (status->parsed()) return RunStatus(**client, g);
  return Fail(kExitUsage, "no command given (see kvcli --help)");
}
