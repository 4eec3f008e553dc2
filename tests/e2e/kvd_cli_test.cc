// End-to-end: the built kvd and kvcli binaries, run as a user runs them.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace rumor {
namespace {

using namespace std::chrono_literals;
using testing::ReadFile;
using testing::RunResult;
using testing::Subprocess;

// The JSON kvcli prints for get: {"found":B,"values":[...],"context":"..."}.
struct GetJson {
  bool found = false;
  std::vector<std::string> values;
  std::string context;
};

bool ParseGetJson(const std::string& text, GetJson* out) {
  static const std::regex kShape(
      R"re(^\{"found":(true|false),"values":\[(.*)\],"context":"([A-Za-z0-9_-]*)"\}\n$)re");
  std::smatch m;
  if (!std::regex_match(text, m, kShape)) return false;
  out->found = m[1] == "true";
  out->context = m[3];
  std::string values = m[2];
  static const std::regex kString(R"re("((?:[^"\\]|\\.)*)")re");
  out->values.clear();
  for (auto it = std::sregex_iterator(values.begin(), values.end(), kString);
       it != std::sregex_iterator(); ++it) {
    out->values.push_back((*it)[1]);
  }
  return true;
}

class KvdTest : public ::testing::Test {
 protected:
  // Starts kvd on a free port; returns its address ("" on failure).
  std::string StartKvd(const std::string& data_dir,
                       std::vector<std::string> extra = {}) {
    std::string port_file = dir_.Sub("port" + std::to_string(starts_));
    std::vector<std::string> argv = {KVD_BIN, "--listen=127.0.0.1:0",
                                     "--data-dir=" + data_dir,
                                     "--port-file=" + port_file};
    argv.insert(argv.end(), extra.begin(), extra.end());
    log_ = dir_.Sub("kvd" + std::to_string(starts_++) + ".log");
    kvd_ = Subprocess::Start(argv, log_, log_);
    bool up = testing::WaitUntil(
        [&] { return std::filesystem::exists(port_file) || !kvd_->running(); },
        20s);
    if (!up || !kvd_->running()) {
      ADD_FAILURE() << "kvd did not start; log:\n" << ReadFile(log_);
      return "";
    }
    address_ = std::string(absl::StripTrailingAsciiWhitespace(ReadFile(port_file)));
    return address_;
  }

  RunResult Kvcli(std::vector<std::string> args, const std::string& stdin_data = "") {
    std::vector<std::string> argv = {KVCLI_BIN, "--server=" + address_};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::Run(argv, dir_.path(), stdin_data, 30s);
  }

  GetJson GetJsonOrDie(const std::string& key, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"get", key, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = Kvcli(args);
    GetJson j;
    EXPECT_TRUE(ParseGetJson(r.out, &j)) << "not get JSON: " << r.out << r.err;
    EXPECT_EQ(r.exit_code, j.found ? 0 : 1) << r.err;
    return j;
  }

  testing::TempDir dir_;
  std::unique_ptr<Subprocess> kvd_;
  std::string log_;
  std::string address_;
  int starts_ = 0;
};

TEST_F(KvdTest, TheReadmeSession) {
  ASSERT_NE(StartKvd(dir_.Sub("data")), "");
  RunResult r = Kvcli({"put", "greeting", "hello"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  r = Kvcli({"get", "greeting"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.out, "hello\ncontext: ")) << r.out;

  GetJson j = GetJsonOrDie("greeting");
  EXPECT_TRUE(j.found);
  EXPECT_EQ(j.values, std::vector<std::string>{"hello"});
  ASSERT_FALSE(j.context.empty());

  r = Kvcli({"put", "greeting", "hi", "--context=" + j.context});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(GetJsonOrDie("greeting").values, std::vector<std::string>{"hi"});

  r = Kvcli({"put", "greeting", "hey"});  // no context: a sibling
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = GetJsonOrDie("greeting");
  EXPECT_EQ(std::set<std::string>(j.values.begin(), j.values.end()),
            (std::set<std::string>{"hi", "hey"}));
  r = Kvcli({"get", "greeting"});
  EXPECT_NE(r.out.find("2 siblings"), std::string::npos) << r.out;

  r = Kvcli({"delete", "greeting", "--context=" + j.context});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Kvcli({"get", "greeting"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not found"), std::string::npos);
  j = GetJsonOrDie("greeting");
  EXPECT_FALSE(j.found);
  EXPECT_TRUE(j.values.empty());
}

TEST_F(KvdTest, BinaryValuesFromStdinSurviveWithBase64) {
  ASSERT_NE(StartKvd(dir_.Sub("data")), "");
  std::string binary("\x00\xff\xfe\n\x01 end", 9);
  RunResult r = Kvcli({"put", "bin", "-"}, binary);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  GetJson j = GetJsonOrDie("bin", {"--base64"});
  ASSERT_EQ(j.values.size(), 1u);
  std::string decoded;
  ASSERT_TRUE(absl::Base64Unescape(j.values[0], &decoded));
  EXPECT_EQ(decoded, binary);
  // And --base64 on put decodes the argument.
  r = Kvcli({"put", "b64", "--base64", absl::Base64Escape(binary)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = GetJsonOrDie("b64", {"--base64"});
  ASSERT_EQ(j.values.size(), 1u);
  ASSERT_TRUE(absl::Base64Unescape(j.values[0], &decoded));
  EXPECT_EQ(decoded, binary);
}

TEST_F(KvdTest, ExitCodesAndOneLineErrors) {
  ASSERT_NE(StartKvd(dir_.Sub("data")), "");
  auto one_line = [](const std::string& err) {
    return !err.empty() && err.find('\n') == err.size() - 1;
  };
  RunResult r = Kvcli({"get", "k", "--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  r = Kvcli({"frobnicate", "k"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos) << r.err;
  r = Kvcli({"put", std::string(2049, 'k'), "v"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("limit is 2048"), std::string::npos) << r.err;
  EXPECT_TRUE(one_line(r.err)) << r.err;
  r = Kvcli({"put", "k", "-"}, std::string((1 << 20) + 1, 'v'));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("limit is 1048576"), std::string::npos) << r.err;
  r = Kvcli({"put", "k", "v", "--context=AAAAAAAAAAAA"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("context"), std::string::npos) << r.err;
  r = Kvcli({"put", "k", "v", "--context=***"});
  EXPECT_EQ(r.exit_code, 2);
  r = Kvcli({"get", "never-written"});
  EXPECT_EQ(r.exit_code, 1);
  // None of the rejected writes changed anything.
  EXPECT_FALSE(GetJsonOrDie("k").found);

  RunResult down = testing::Run(
      {KVCLI_BIN, "--server=127.0.0.1:1", "--timeout=3s", "get", "k"},
      dir_.path());
  EXPECT_EQ(down.exit_code, 3);
  EXPECT_NE(down.err.find("cannot reach 127.0.0.1:1"), std::string::npos)
      << down.err;
  EXPECT_TRUE(one_line(down.err)) << down.err;
}

TEST_F(KvdTest, KvcliHealthIsServingAndAPortWithoutANodeIsAClearError) {
  ASSERT_NE(StartKvd(dir_.Sub("data")), "");
  RunResult r = Kvcli({"health"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "status: SERVING\n");
  EXPECT_EQ(r.err, "");
  r = Kvcli({"health", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"status\":\"SERVING\"}\n");

  // Nothing listens on port 1: one line naming the address, exit 3.
  RunResult down = testing::Run(
      {KVCLI_BIN, "--server=127.0.0.1:1", "--timeout=3s", "health"},
      dir_.path());
  EXPECT_EQ(down.exit_code, 3);
  EXPECT_EQ(down.out, "");
  EXPECT_TRUE(absl::StartsWith(down.err, "kvcli: cannot reach 127.0.0.1:1"))
      << down.err;
  EXPECT_EQ(down.err.find('\n'), down.err.size() - 1) << down.err;
}

TEST_F(KvdTest, SecondKvdOnSameDataDirRefusesToStart) {
  ASSERT_NE(StartKvd(dir_.Sub("data")), "");
  RunResult r = testing::Run({KVD_BIN, "--listen=127.0.0.1:0",
                              "--data-dir=" + dir_.Sub("data")},
                             dir_.path(), "", 20s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("in use by another kvd (pid " +
                       std::to_string(kvd_->pid()) + ")"),
            std::string::npos)
      << r.err;
  // The first node is unharmed.
  EXPECT_EQ(Kvcli({"put", "still", "works"}).exit_code, 0);
}

TEST_F(KvdTest, UnusableDataDirAndBadFlagsAreClearErrors) {
  std::string file = dir_.Sub("a-file");
  std::ofstream(file) << "x";
  RunResult r = testing::Run(
      {KVD_BIN, "--listen=127.0.0.1:0", "--data-dir=" + file + "/data"},
      dir_.path(), "", 20s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot create data dir"), std::string::npos) << r.err;

  r = testing::Run({KVD_BIN, "--no-such-flag"}, dir_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.err;

  r = testing::Run({KVD_BIN, "--listen=127.0.0.1:0", "--max-key-bytes=0",
                    "--data-dir=" + dir_.Sub("d2")},
                   dir_.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("max key size"), std::string::npos) << r.err;

  r = testing::Run({KVD_BIN, "--help"}, dir_.path());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--data-dir"), std::string::npos);
}

// A user's view of tombstone reaping on one node: a delete with the
// context leaves a tombstone, which is gone from disk after the grace;
// kvcli aae and status say so; a bad grace is refused at start.
TEST_F(KvdTest, KvcliAaeShowsTombstonesReapedAfterTheirGrace) {
  RunResult bad = testing::Run(
      {KVD_BIN, "--listen=127.0.0.1:0", "--data-dir=" + dir_.Sub("bad"),
       "--tombstone-grace=-1s"},
      dir_.path(), "", 20s);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--tombstone-grace"), std::string::npos) << bad.err;

  ASSERT_NE(StartKvd(dir_.Sub("data"), {"--tombstone-grace=300ms"}), "");
  ASSERT_EQ(Kvcli({"put", "doomed", "v"}).exit_code, 0);
  GetJson j = GetJsonOrDie("doomed");
  ASSERT_EQ(Kvcli({"delete", "doomed", "--context=" + j.context}).exit_code, 0);
  RunResult r;
  bool reaped = testing::WaitUntil(
      [&] {
        r = Kvcli({"status", "--json"});
        return r.out.find("\"tombstones_reaped\":1") != std::string::npos;
      },
      30s);
  ASSERT_TRUE(reaped) << r.out << r.err;
  r = Kvcli({"aae"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("tombstones: reaped after 300ms"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("0 pending, 1 reaped"), std::string::npos) << r.out;
  r = Kvcli({"aae", "--json"});
  EXPECT_NE(r.out.find("\"tombstones_reaped\":1"), std::string::npos) << r.out;
  EXPECT_FALSE(GetJsonOrDie("doomed").found);
}

// kvcli aae --pause holds anti-entropy's own work (here: reaping a
// tombstone past its grace) and refuses kvcli repair until --resume.
TEST_F(KvdTest, KvcliAaePauseHoldsReapingAndRepairUntilResume) {
  ASSERT_NE(StartKvd(dir_.Sub("data"), {"--tombstone-grace=200ms"}), "");
  RunResult r;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        r = Kvcli({"status", "--json"});
        return r.out.find("\"aae_tree_ready\":1") != std::string::npos;
      },
      30s))
      << r.out << r.err;
  r = Kvcli({"aae", "--pause", "--resume"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;  // one or the other
  r = Kvcli({"aae", "--pause"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("PAUSED by an operator"), std::string::npos) << r.out;
  r = Kvcli({"repair"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("paused"), std::string::npos) << r.err;

  ASSERT_EQ(Kvcli({"put", "doomed", "v"}).exit_code, 0);
  GetJson j = GetJsonOrDie("doomed");
  ASSERT_EQ(Kvcli({"delete", "doomed", "--context=" + j.context}).exit_code, 0);
  // Ten graces and more: nothing is reaped while paused.
  absl::SleepFor(absl::Seconds(3));
  r = Kvcli({"status", "--json"});
  EXPECT_NE(r.out.find("\"tombstones_reaped\":0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"tombstones_pending\":1"), std::string::npos) << r.out;

  r = Kvcli({"aae", "--resume", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"paused\":false"), std::string::npos) << r.out;
  bool reaped = testing::WaitUntil(
      [&] {
        r = Kvcli({"status", "--json"});
        return r.out.find("\"tombstones_reaped\":1") != std::string::npos;
      },
      30s);
  EXPECT_TRUE(reaped) << r.out << r.err;
  EXPECT_EQ(Kvcli({"repair"}).exit_code, 0);
}

// Writes `n` keys through the client library; every write acknowledged.
void WriteKeys(const std::string& address, int n) {
  client::ClientOptions o;
  o.server = address;
  auto c = client::Client::Connect(o);
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE((*c)->Put("k" + std::to_string(i), "v" + std::to_string(i), "").ok());
  }
}

void CheckKeys(const std::string& address, int n) {
  client::ClientOptions o;
  o.server = address;
  auto c = client::Client::Connect(o);
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < n; ++i) {
    auto obj = (*c)->Get("k" + std::to_string(i));
    ASSERT_TRUE(obj.ok()) << obj.status();
    ASSERT_EQ(obj->values, std::vector<std::string>{"v" + std::to_string(i)})
        << "acknowledged write k" << i << " lost";
  }
}

TEST_F(KvdTest, SigtermShutsDownCleanlyAndKeepsAcknowledgedWrites) {
  ASSERT_NE(StartKvd(dir_.Sub("data")), "");
  WriteKeys(address_, 300);
  kvd_->Signal(SIGTERM);
  auto code = kvd_->Wait(20s);
  ASSERT_TRUE(code.has_value()) << "kvd did not exit on SIGTERM";
  EXPECT_EQ(*code, 0) << ReadFile(log_);
  EXPECT_NE(ReadFile(log_).find("shut down cleanly"), std::string::npos);
  ASSERT_NE(StartKvd(dir_.Sub("data")), "");
  CheckKeys(address_, 300);
}

// An idle client connection must not hold a shutdown for its whole grace
// period: only requests in flight may.
TEST_F(KvdTest, SigtermWithIdleClientsIsPrompt) {
  ASSERT_NE(StartKvd(dir_.Sub("data")), "");
  client::ClientOptions o;
  o.server = address_;
  auto c = client::Client::Connect(o);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Status().ok());
  ASSERT_TRUE((*c)->Members().ok());
  auto t0 = std::chrono::steady_clock::now();
  kvd_->Signal(SIGTERM);
  ASSERT_TRUE(kvd_->Wait(20s).has_value());
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 2s) << ReadFile(log_);
}

// SIGTERM in the middle of a write load: every write the node acknowledged
// is there after a restart; a write it refused because it was shutting down
// was never applied; and a write whose outcome is unknown (cut off in
// flight) is either absent or whole, never half-applied.
TEST_F(KvdTest, SigtermUnderLoadKeepsEveryAcknowledgedWrite) {
  ASSERT_NE(StartKvd(dir_.Sub("data")), "");
  client::ClientOptions o;
  o.server = address_;
  auto c = client::Client::Connect(o);
  ASSERT_TRUE(c.ok());
  constexpr int kWrites = 3000;
  absl::Mutex mu;
  std::vector<int> acked, refused, unknown;
  int failed = 0, pending = kWrites;
  for (int i = 0; i < kWrites; ++i) {
    (*c)->PutAsync("load" + std::to_string(i), "v" + std::to_string(i), "",
                   {}, false, [&, i](absl::StatusOr<client::Object> r) {
                     absl::MutexLock lock(&mu);
                     if (r.ok()) {
                       acked.push_back(i);
                     } else {
                       ++failed;
                       bool refusal =
                           absl::IsUnavailable(r.status()) &&
                           absl::StrContains(r.status().message(),
                                             "node is shutting down; retry");
                       (refusal ? refused : unknown).push_back(i);
                     }
                     --pending;
                   });
  }
  {
    // Stop the node once a good share is acknowledged, the rest in flight.
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(
        absl::Condition(
            +[](std::vector<int>* a) { return a->size() >= 500; }, &acked),
        absl::Seconds(60)));
  }
  kvd_->Signal(SIGTERM);
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(
        absl::Condition(+[](int* p) { return *p == 0; }, &pending),
        absl::Seconds(60)));
  }
  ASSERT_TRUE(kvd_->Wait(20s).has_value());
  c->reset();
  ASSERT_NE(StartKvd(dir_.Sub("data")), "");
  o.server = address_;
  auto check = client::Client::Connect(o);
  ASSERT_TRUE(check.ok());
  for (int i : acked) {
    auto obj = (*check)->Get("load" + std::to_string(i));
    ASSERT_TRUE(obj.ok()) << obj.status();
    ASSERT_EQ(obj->values, std::vector<std::string>{"v" + std::to_string(i)})
        << "acknowledged write " << i << " lost";
  }
  for (int i : refused) {
    auto obj = (*check)->Get("load" + std::to_string(i));
    ASSERT_TRUE(obj.ok()) << obj.status();
    EXPECT_FALSE(obj->found)
        << "write " << i << " was refused as shutting down, yet applied";
  }
  for (int i : unknown) {
    auto obj = (*check)->Get("load" + std::to_string(i));
    ASSERT_TRUE(obj.ok()) << obj.status();
    if (obj->found) {
      EXPECT_EQ(obj->values, std::vector<std::string>{"v" + std::to_string(i)})
          << "write " << i << " half-applied";
    }
  }
  std::printf("%zu acknowledged, %d failed during shutdown (%zu refused, "
              "%zu unknown)\n",
              acked.size(), failed, refused.size(), unknown.size());
  EXPECT_GT(acked.size(), 0u);
}

TEST_F(KvdTest, SigkillLosesNoAcknowledgedWrite) {
  ASSERT_NE(StartKvd(dir_.Sub("data")), "");
  WriteKeys(address_, 300);
  kvd_->Signal(SIGKILL);
  ASSERT_TRUE(kvd_->Wait(20s).has_value());
  ASSERT_NE(StartKvd(dir_.Sub("data")), "");
  CheckKeys(address_, 300);
}

// --sync fsyncs the write-ahead log before each write is acknowledged
// (the node's own count of WAL syncs says so); without it, writes are not
// synced one by one. Either way a SIGKILL loses nothing acknowledged.
TEST_F(KvdTest, SyncFlagFsyncsEveryWriteAndBothModesSurviveSigkill) {
  auto wal_syncs = [&]() -> int64_t {
    RunResult r = Kvcli({"status", "--json"});
    std::smatch m;
    static const std::regex kSyncs(R"re("storage_wal_syncs":([0-9]+))re");
    if (!std::regex_search(r.out, m, kSyncs)) {
      ADD_FAILURE() << "no storage_wal_syncs in: " << r.out << r.err;
      return -1;
    }
    return std::stoll(m[1]);
  };
  constexpr int kWrites = 50;
  for (bool sync : {false, true}) {
    SCOPED_TRACE(sync ? "--sync" : "no --sync");
    std::string data = dir_.Sub(sync ? "sync" : "nosync");
    std::vector<std::string> flags;
    if (sync) flags.push_back("--sync");
    ASSERT_NE(StartKvd(data, flags), "");
    int64_t before = wal_syncs();
    WriteKeys(address_, kWrites);
    int64_t synced = wal_syncs() - before;
    if (sync) {
      EXPECT_GE(synced, kWrites) << "acknowledged writes were not fsynced";
    } else {
      EXPECT_LT(synced, kWrites / 2) << "writes were fsynced without --sync";
    }
    kvd_->Signal(SIGKILL);
    ASSERT_TRUE(kvd_->Wait(20s).has_value());
    ASSERT_NE(StartKvd(data, flags), "");
    CheckKeys(address_, kWrites);
    RunResult r = Kvcli({"status", "--json"});
    EXPECT_NE(r.out.find(sync ? "\"sync_writes\":true" : "\"sync_writes\":false"),
              std::string::npos)
        << r.out;
    kvd_->Signal(SIGKILL);
    ASSERT_TRUE(kvd_->Wait(20s).has_value());
  }
}


}  // namespace
}  // namespace rumor
