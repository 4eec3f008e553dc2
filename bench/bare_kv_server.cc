// bare_kv_server: the baseline kvd is measured against (bench/compare.sh).
//
// It serves the same rumor.v1.KV service as kvd, with nothing of rumor
// behind it: a gRPC callback server doing one RocksDB write and one read per
// RPC, inline on gRPC's callback thread, with no versioning, no causal
// contexts and no storage thread pool. kvd's Put is a read-modify-write (read
// the object, update its DVV set, write it back), so both Put and Get here
// do one read and one write; the gap between kvd and this server is what
// rumor's layers cost on top of gRPC and RocksDB.
//
//   Put     RocksDB Put of key -> value, then Get of the key (the body, when
//           return_body is set; the context is always empty).
//   Get     RocksDB Get of the key, then a Put of what it read back (a
//           Delete when the key is absent, so a miss stays a miss).
//   Delete  RocksDB Delete, then Get of the key.
//
// Not a product: no limits, no validation, no durability beyond RocksDB's
// write-ahead log without fsync (kvd's default too). RocksDB tuning and
// process settings (abseil's defaults) are kvd's, so the comparison
// measures rumor's layers, not configuration.
//
//   bare_kv_server --listen=127.0.0.1:7390 --data-dir=/tmp/bare
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "proto/kv.grpc.pb.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"

namespace rumor::bench {
namespace {

grpc::Status ToGrpc(const rocksdb::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::INTERNAL, s.ToString());
}

// Thread-safe (RocksDB is).
class BareKvService final : public v1::KV::CallbackService {
 public:
  // `db` must outlive the service.
  explicit BareKvService(rocksdb::DB* db) : db_(db) {}

  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx,
                                const v1::GetRequest* req,
                                v1::GetResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), req->key(), &value);
    if (s.ok()) {
      s = db_->Put(write_options_, req->key(), value);
      resp->set_found(true);
      resp->add_values(std::move(value));
    } else if (s.IsNotFound()) {
      s = db_->Delete(write_options_, req->key());
    }
    reactor->Finish(ToGrpc(s));
    return reactor;
  }

  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx,
                                const v1::PutRequest* req,
                                v1::PutResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    rocksdb::Status s = db_->Put(write_options_, req->key(), req->value());
    std::string value;
    if (s.ok()) s = db_->Get(rocksdb::ReadOptions(), req->key(), &value);
    if (s.ok() && req->return_body()) resp->add_values(std::move(value));
    reactor->Finish(ToGrpc(s));
    return reactor;
  }

  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx,
                                   const v1::DeleteRequest* req,
                                   v1::DeleteResponse*) override {
    auto* reactor = ctx->DefaultReactor();
    rocksdb::Status s = db_->Delete(write_options_, req->key());
    std::string value;
    if (s.ok()) s = db_->Get(rocksdb::ReadOptions(), req->key(), &value);
    if (s.IsNotFound()) s = rocksdb::Status::OK();
    reactor->Finish(ToGrpc(s));
    return reactor;
  }

 private:
  rocksdb::DB* const db_;
  const rocksdb::WriteOptions write_options_;  // no fsync, like kvd's default
};

// The same tuning as storage/rocksdb_engine.cc, so the comparison is about
// the layers above RocksDB.
rocksdb::Options DbOptions() {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.IncreaseParallelism(2);
  o.max_background_jobs = 2;
  o.keep_log_file_num = 5;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(64 << 20);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.cache_index_and_filter_blocks = true;
  table.format_version = 5;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  o.write_buffer_size = 32 << 20;
  o.compression = rocksdb::kNoCompression;
  return o;
}

int Main(int argc, char** argv) {
  std::string listen = "127.0.0.1:7390";
  std::string data_dir;
  std::string port_file;
  CLI::App app{
      "bare_kv_server: baseline for rumor benchmarks. Serves rumor.v1.KV with\n"
      "one RocksDB write and one read per RPC and nothing else.",
      "bare_kv_server"};
  app.add_option("--listen", listen, "host:port to serve on (port 0 picks one)")
      ->capture_default_str();
  app.add_option("--data-dir", data_dir,
                 "RocksDB directory (created if needed)")
      ->required();
  app.add_option("--port-file", port_file,
                 "write the bound host:port to this file once serving");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "bare_kv_server: %s (see bare_kv_server --help)\n",
                 e.what());
    return 2;
  }

  // Block the shutdown signals before gRPC starts its threads, so all of
  // them inherit the mask and only sigwait below receives the signals.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Same setting as kvd: Debian's abseil checks for deadlock cycles on
  // every Mutex lock (gRPC's included), which costs a few percent.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  signal(SIGPIPE, SIG_IGN);

  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(DbOptions(), data_dir, &raw);
  if (!s.ok()) {
    std::fprintf(stderr, "bare_kv_server: opening %s: %s\n", data_dir.c_str(),
                 s.ToString().c_str());
    return 1;
  }
  std::unique_ptr<rocksdb::DB> db(raw);

  BareKvService service(db.get());
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  // Like kvd: a second server must not bind the same port and split traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "bare_kv_server: cannot listen on %s\n",
                 listen.c_str());
    return 1;
  }
  std::string address =
      listen.substr(0, listen.rfind(':')) + ":" + std::to_string(port);
  if (!port_file.empty()) {
    std::string tmp = port_file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << address << "\n";
    }
    if (std::rename(tmp.c_str(), port_file.c_str()) != 0) {
      std::fprintf(stderr, "bare_kv_server: cannot write --port-file %s\n",
                   port_file.c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "bare_kv_server: serving on %s, data in %s\n",
               address.c_str(), data_dir.c_str());

  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "bare_kv_server: %s, shutting down\n",
               sig == SIGINT ? "SIGINT" : "SIGTERM");
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server->Wait();
  s = db->FlushWAL(/*sync=*/true);
  if (!s.ok()) {
    std::fprintf(stderr, "bare_kv_server: flushing the WAL: %s\n",
                 s.ToString().c_str());
  }
  s = db->Close();
  if (!s.ok()) {
    std::fprintf(stderr, "bare_kv_server: closing: %s\n", s.ToString().c_str());
  }
  return 0;
}

}  // namespace
}  // namespace rumor::bench

int main(int argc, char** argv) { return rumor::bench::Main(argc, argv); }
