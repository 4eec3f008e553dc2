// A node's data directory: an exclusive lock file and the RocksDB database.
//
//   <dir>/LOCK   flock(2)-held for the node's lifetime; holds the owner's pid
//   <dir>/db/    RocksDB (column families data, hints, meta)
//
// Not thread-safe; owned by the node's main thread.
#ifndef RUMOR_SERVER_NODE_DATA_DIR_H_
#define RUMOR_SERVER_NODE_DATA_DIR_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace rumor::server {

class DataDir {
 public:
  // Creates `path` if needed and takes its lock. FAILED_PRECONDITION when
  // another process holds the lock (the message names its pid);
  // PERMISSION_DENIED or UNAVAILABLE when the directory cannot be created or
  // written, naming the path and the OS error.
  static absl::StatusOr<std::unique_ptr<DataDir>> Open(const std::string& path);
  ~DataDir();  // releases the lock
  DataDir(const DataDir&) = delete;
  DataDir& operator=(const DataDir&) = delete;

  const std::string& path() const { return path_; }
  std::string db_path() const { return path_ + "/db"; }

 private:
  DataDir(std::string path, int lock_fd) : path_(std::move(path)), lock_fd_(lock_fd) {}

  std::string path_;
  int lock_fd_;
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_NODE_DATA_DIR_H_
