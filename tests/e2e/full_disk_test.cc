// End-to-end: a node whose disk fills up. Writes are refused with
// RESOURCE_EXHAUSTED and change nothing, every acknowledged write stays
// readable, and once space is freed the node takes writes again, without a
// restart; after one, everything acknowledged is still there. A restart
// while the disk is full works too. kvd's
// free-space margin (--min-free-disk-mb) does the refusing: with it off,
// RocksDB 7.8 itself meets the full disk, and a write-ahead-log append that
// fails there aborts kvd at the next one (storage/rocksdb_engine.h), which
// is why the margin exists and is on by default.
//
// The data directory is on a tmpfs of its own, with a filler file taking
// most of it: mounting needs root (CAP_SYS_ADMIN), so elsewhere the test is
// reported as skipped.
#include <sys/mount.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "gtest/gtest.h"
#include "tests/support/kvd_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace rumor {
namespace {

using namespace std::chrono_literals;
using testing::KvdProcess;

// The margin in MiB (0: off), and the free space above it once kvd has
// started: a filler, written then, takes the rest of the 160 MiB tmpfs.
// The log is preallocated, so the free space stays put until the memtable
// (32 MiB) is switched for a new one and a new log preallocated: that is
// what takes the disk below the margin, after some 500 writes of 60 KB.
struct Case {
  const char* name;
  int margin_mb;
  int headroom_mb;
};

class FullDisk : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    fs_ = dir_.Sub("fs");
    std::filesystem::create_directories(fs_);
    if (mount("tmpfs", fs_.c_str(), "tmpfs", 0, "size=160m") != 0) {
      // CI (.ci/run sets RUMOR_CI=1) runs as root: there it must run.
      const char* ci = std::getenv("RUMOR_CI");
      if (ci != nullptr && std::string(ci) == "1") {
        FAIL() << "cannot mount a tmpfs (" << std::strerror(errno) << ")";
      }
      GTEST_SKIP() << "cannot mount a tmpfs (" << std::strerror(errno)
                   << "): this test needs root";
    }
    mounted_ = true;
  }
  void TearDown() override {
    kvd_.reset();  // SIGKILLs it: the mount must not be busy
    if (mounted_ && umount2(fs_.c_str(), MNT_DETACH) != 0) {
      ADD_FAILURE() << "umount " << fs_ << ": " << std::strerror(errno);
    }
  }

  void StartKvd() {
    std::string error;
    kvd_ = KvdProcess::Start(
        KVD_BIN, fs_ + "/node", dir_.Sub("kvd.log"),
        {"--replicas=1", "--r=1", "--w=1",
         absl::StrCat("--min-free-disk-mb=", GetParam().margin_mb)},
        port_, &error);
    ASSERT_NE(kvd_, nullptr) << error;
    port_ = kvd_->port();
  }

  testing::TempDir dir_;
  std::string fs_;
  bool mounted_ = false;
  int port_ = 0;
  std::unique_ptr<KvdProcess> kvd_;
};

TEST_P(FullDisk, RefusesWritesWithResourceExhaustedAndRecoversWhenSpaceIsFreed) {
  // The filler is sized after kvd has started, not before: RocksDB
  // preallocates its write-ahead log (1.1 times the 32 MiB write buffer) on
  // the first write, and on a tmpfs that space is taken at once. Sized
  // beforehand, the headroom left was that of a few writes, and how many
  // varied from run to run.
  ASSERT_NO_FATAL_FAILURE(StartKvd());
  client::Client& c = kvd_->client();
  ASSERT_TRUE(c.Put("first", "write", "").ok());
  const std::string filler = fs_ + "/filler";
  {
    struct statvfs st;
    ASSERT_EQ(statvfs(fs_.c_str(), &st), 0);
    int64_t free_mib = static_cast<int64_t>(st.f_bavail) * st.f_frsize >> 20;
    int64_t filler_mib = free_mib - GetParam().margin_mb - GetParam().headroom_mb;
    ASSERT_GT(filler_mib, 0) << free_mib << " MiB free once kvd started";
    std::ofstream out(filler, std::ios::binary);
    std::string mib(1 << 20, 'x');
    for (int64_t i = 0; i < filler_mib; ++i) out.write(mib.data(), mib.size());
    ASSERT_TRUE(out.good()) << "cannot write the filler";
  }

  // Incompressible values until the disk is full (bounded: the headroom
  // cannot hold 2000 values of 60 KB).
  std::string value(60000, '\0');
  uint64_t x = 88172645463325252ull;
  std::map<std::string, std::string> acked = {{"first", "write"}};
  int next_key = 0;
  std::string refused_key;
  auto fill = [&](client::Client& client) {
    for (int i = 0; i < 2000; ++i) {
      for (auto& ch : value) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ch = static_cast<char>(x);
      }
      std::string key = absl::StrCat("k", next_key++);
      auto put = client.Put(key, value, "");
      if (!put.ok()) {
        refused_key = key;
        return put.status();
      }
      acked[key] = value;
    }
    return absl::OkStatus();
  };
  absl::Status refused = fill(c);
  ASSERT_FALSE(refused.ok()) << "2000 writes of 60 KB fit in the headroom?";
  // Not refused while the free space was still above the margin: at least
  // half the headroom's worth of writes went in first.
  ASSERT_GT(acked.size(), (GetParam().headroom_mb << 20) / 2 / value.size())
      << "refused early: " << refused;
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "space") ||
              absl::StrContains(refused.message(), "disk full"))
      << refused;
  if (GetParam().margin_mb > 0) {
    EXPECT_TRUE(absl::StrContains(refused.message(), "--min-free-disk-mb"))
        << "refused by RocksDB, not by the margin: " << refused;
  }

  // Still refused, and the refused writes left nothing behind.
  auto again = c.Put("another", "small", "");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kResourceExhausted)
      << again.status();
  for (const std::string& key : {refused_key, std::string("another")}) {
    auto got = c.Get(key);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_FALSE(got->found) << key << " was written although refused";
  }
  // Everything acknowledged is readable while the disk is full.
  for (const auto& [key, v] : acked) {
    auto got = c.Get(key);
    ASSERT_TRUE(got.ok()) << key << ": " << got.status();
    ASSERT_EQ(got->values.size(), 1u) << key;
    EXPECT_TRUE(got->values[0] == v) << key << " changed";
  }
  EXPECT_TRUE(kvd_->process().running());

  // A node restarted on the full disk starts (its metadata writes, the
  // incarnation lease among them, pass the margin), serves what it has, and
  // still refuses writes. A clean stop flushes the memtables and drops the
  // preallocated log, which frees space: a second filler takes the free
  // space down to 40 MiB, below the margin and above the 16 MiB floor.
  kvd_->Signal(SIGTERM);
  ASSERT_TRUE(kvd_->Wait(30s).has_value()) << "kvd did not stop";
  kvd_.reset();
  const std::string filler2 = fs_ + "/filler2";
  auto fill_to_40_mib = [&] {
    struct statvfs st;
    ASSERT_EQ(statvfs(fs_.c_str(), &st), 0);
    int64_t free_mib = static_cast<int64_t>(st.f_bavail) * st.f_frsize >> 20;
    std::ofstream out(filler2, std::ios::binary | std::ios::app);
    std::string mib(1 << 20, 'y');
    for (int64_t i = 0; i < free_mib - 40; ++i) out.write(mib.data(), mib.size());
    ASSERT_TRUE(out.good()) << "cannot write the second filler";
  };
  ASSERT_NO_FATAL_FAILURE(fill_to_40_mib());
  ASSERT_NO_FATAL_FAILURE(StartKvd());
  client::Client& c3 = kvd_->client();
  {
    auto got = c3.Get(acked.begin()->first);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(got->found);
    // RocksDB deletes the old log when it opens, and preallocates the new
    // one at the first write: the free space kvd read at the start may be
    // above the margin for a moment. kvd reads it again at most every
    // 100 ms, so within a few writes they are refused (2 s: slack for a
    // sanitizer build on a loaded machine).
    ASSERT_NO_FATAL_FAILURE(fill_to_40_mib());
    // A probe taken meanwhile was acknowledged, so it must survive too.
    int probe = 0;
    bool refused_again = testing::WaitUntil(
        [&] {
          std::string key = absl::StrCat("probe", probe++);
          auto put = c3.Put(key, "small", "");
          if (put.ok()) acked[key] = "small";
          return put.status().code() == absl::StatusCode::kResourceExhausted;
        },
        2s, 20ms);
    ASSERT_TRUE(refused_again)
        << "a restarted node below the margin still takes writes; log:\n"
        << kvd_->Log();
    EXPECT_EQ(c3.Put("another", "small", "").status().code(),
              absl::StatusCode::kResourceExhausted);
  }
  ASSERT_TRUE(std::filesystem::remove(filler2));

  // Space freed: writes are taken again, with no restart.
  ASSERT_TRUE(std::filesystem::remove(filler));
  bool writable = testing::WaitUntil(
      [&] { return c3.Put("after", "freed", "").ok(); }, 60s, 500ms);
  ASSERT_TRUE(writable) << "no write was taken 60 s after space was freed; log:\n"
                        << kvd_->Log();
  acked["after"] = "freed";

  // And after a restart every acknowledged write is still there.
  kvd_->Signal(SIGTERM);
  ASSERT_TRUE(kvd_->Wait(30s).has_value()) << "kvd did not stop";
  kvd_.reset();
  ASSERT_NO_FATAL_FAILURE(StartKvd());
  for (const auto& [key, v] : acked) {
    auto got = kvd_->client().Get(key);
    ASSERT_TRUE(got.ok()) << key << ": " << got.status();
    ASSERT_EQ(got->values.size(), 1u) << key;
    EXPECT_TRUE(got->values[0] == v) << key << " changed after the restart";
  }
}

// The margin: 64 MiB of the 160 MiB tmpfs, and 24 MiB to fill before
// writes are refused.
INSTANTIATE_TEST_SUITE_P(
    Ways, FullDisk, ::testing::Values(Case{"Margin", 64, 24}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

}  // namespace
}  // namespace rumor
