#include "server/node/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace rumor::server {
namespace {

absl::Status OsError(int err, const std::string& what) {
  std::string msg = absl::StrCat(what, ": ", std::strerror(err));
  if (err == EACCES || err == EPERM || err == EROFS) {
    return absl::PermissionDeniedError(msg);
  }
  return absl::UnavailableError(msg);
}

std::string ReadSmallFile(int fd) {
  char buf[64];
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "";
  return std::string(absl::StripAsciiWhitespace(absl::string_view(buf, n)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<DataDir>> DataDir::Open(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return OsError(ec.value(), absl::StrCat("cannot create data dir ", path));
  }
  std::string lock_path = path + "/LOCK";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return OsError(errno, absl::StrCat("cannot write to data dir ", path));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    std::string owner = ReadSmallFile(fd);
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir ", path, " is in use by another kvd",
          owner.empty() ? "" : absl::StrCat(" (pid ", owner, ")"),
          "; stop it or choose another --data-dir"));
    }
    return OsError(err, absl::StrCat("cannot lock data dir ", path));
  }
  std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) !=
          static_cast<ssize_t>(pid.size())) {
    int err = errno;
    ::close(fd);
    return OsError(err, absl::StrCat("cannot write to data dir ", path));
  }
  return std::unique_ptr<DataDir>(new DataDir(path, fd));
}

DataDir::~DataDir() {
  // Closing the descriptor releases the flock. The pid stays in the file:
  // harmless, the lock is what counts.
  ::close(lock_fd_);
}

}  // namespace rumor::server
