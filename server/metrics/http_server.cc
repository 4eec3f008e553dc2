#include "server/metrics/http_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/log.h"

namespace rumor::server {
namespace {

std::string Response(int code, absl::string_view reason,
                     absl::string_view content_type, absl::string_view body,
                     absl::string_view extra_headers = "") {
  return absl::StrCat("HTTP/1.1 ", code, " ", reason,
                      "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(),
                      "\r\nConnection: close\r\n", extra_headers, "\r\n",
                      body);
}

std::string Plain(int code, absl::string_view reason, absl::string_view text) {
  return Response(code, reason, "text/plain; charset=utf-8",
                  absl::StrCat(text, "\n"));
}

struct Conn {
  int fd = -1;
  std::string in;
  std::string out;
  size_t sent = 0;
  absl::Time deadline;
  bool answered = false;
};

// The request head's end, or npos while it is incomplete.
size_t HeadEnd(const std::string& in) {
  size_t crlf = in.find("\r\n\r\n");
  size_t lf = in.find("\n\n");
  return std::min(crlf, lf);
}

}  // namespace

std::string AnswerHttpRequest(absl::string_view head,
                              const MetricsHttpServer::Handler& handler) {
  absl::string_view line = head.substr(0, head.find_first_of("\r\n"));
  std::vector<absl::string_view> parts =
      absl::StrSplit(line, ' ', absl::SkipEmpty());
  if (parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/1.")) {
    return Plain(400, "Bad Request", "malformed request line");
  }
  absl::string_view method = parts[0], target = parts[1];
  if (method != "GET" && method != "HEAD") {
    return Response(405, "Method Not Allowed", "text/plain; charset=utf-8",
                    "only GET and HEAD are served\n", "Allow: GET, HEAD\r\n");
  }
  absl::string_view path = target.substr(0, target.find('?'));
  std::string answer;
  if (path == "/metrics") {
    answer = Response(200, "OK", "text/plain; version=0.0.4; charset=utf-8",
                      handler());
  } else if (path == "/") {
    answer = Response(200, "OK", "text/plain; charset=utf-8",
                      "rumor node: metrics are at /metrics\n");
  } else {
    answer = Plain(404, "Not Found",
                   absl::StrCat("no such page: ", path.substr(0, 200),
                                " (metrics are at /metrics)"));
  }
  if (method == "HEAD") answer.resize(answer.find("\r\n\r\n") + 4);
  return answer;
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const MetricsHttpOptions& options, Handler handler) {
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server = Bind(options);
  if (server.ok()) (*server)->Serve(std::move(handler));
  return server;
}

void MetricsHttpServer::Serve(Handler handler) {
  if (thread_.joinable() || stopped_) return;
  handler_ = std::move(handler);
  thread_ = std::thread([this] { Loop(); });
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Bind(
    const MetricsHttpOptions& options) {
  std::string where = absl::StrCat(options.host, ":", options.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  std::string host = options.host;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(),
                       std::to_string(options.port).c_str(), &hints, &res);
  if (rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics address ", where, ": ", gai_strerror(rc)));
  }
  int fd = -1;
  std::string error = "no address";
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                a->ai_protocol);
    if (fd < 0) {
      error = strerror(errno);
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 64) == 0) break;
    error = strerror(errno);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", where, ": ", error));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  int port = bound.ss_family == AF_INET6
                 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                 : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("eventfd: ", strerror(errno)));
  }
  return std::unique_ptr<MetricsHttpServer>(
      new MetricsHttpServer(options, fd, wake, port));
}

MetricsHttpServer::MetricsHttpServer(MetricsHttpOptions options,
                                     int listen_fd, int wake_fd, int port)
    : options_(std::move(options)),
      listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      port_(port) {}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

void MetricsHttpServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (thread_.joinable()) {
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof(one));
    (void)ignored;
    thread_.join();
  }
  close(listen_fd_);
  close(wake_fd_);
}

void MetricsHttpServer::Loop() {
  std::vector<Conn> conns;
  std::vector<pollfd> fds;
  // Out of descriptors, the listener stays readable: stop polling it for
  // a moment rather than spin.
  absl::Time accept_paused_until = absl::InfinitePast();
  for (;;) {
    fds.clear();
    absl::Time now = absl::Now();
    absl::Time next = now + absl::Seconds(1);
    bool accepting = now >= accept_paused_until;
    if (!accepting) next = std::min(next, accept_paused_until);
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, static_cast<short>(accepting ? POLLIN : 0), 0});
    for (const Conn& c : conns) {
      fds.push_back({c.fd, static_cast<short>(c.answered ? POLLOUT : POLLIN),
                     0});
      next = std::min(next, c.deadline);
    }
    int wait_ms = static_cast<int>(
        std::max<int64_t>(0, absl::ToInt64Milliseconds(next - now)) + 1);
    int n = poll(fds.data(), fds.size(), wait_ms);
    if (n < 0 && errno != EINTR) {
      RUMOR_LOG(ERROR) << "metrics server: poll: " << strerror(errno);
      break;
    }
    if (fds[0].revents != 0) break;
    now = absl::Now();
    // Existing connections first (fds[2..] match conns by index).
    for (size_t i = 0; i < conns.size(); ++i) {
      Conn& c = conns[i];
      short ev = fds[i + 2].revents;
      bool done = false;
      if (!c.answered && (ev & (POLLIN | POLLHUP | POLLERR))) {
        char buf[4096];
        ssize_t r = read(c.fd, buf, sizeof(buf));
        if (r > 0) {
          c.in.append(buf, static_cast<size_t>(r));
          size_t end = HeadEnd(c.in);
          if (end != std::string::npos) {
            c.out = AnswerHttpRequest(absl::string_view(c.in).substr(0, end),
                                      handler_);
            c.answered = true;
          } else if (c.in.size() > options_.max_request_bytes) {
            c.out = Plain(431, "Request Header Fields Too Large",
                          "request head over the limit");
            c.answered = true;
          }
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          done = true;  // closed before a whole request arrived
        }
      } else if (c.answered && (ev & (POLLOUT | POLLHUP | POLLERR))) {
        ssize_t w = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent,
                         MSG_NOSIGNAL);
        if (w > 0) {
          c.sent += static_cast<size_t>(w);
          if (c.sent == c.out.size()) done = true;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
          done = true;
        }
      }
      if (!done && now >= c.deadline) done = true;  // too slow: dropped
      if (done) {
        close(c.fd);
        c.fd = -1;
      }
    }
    conns.erase(std::remove_if(conns.begin(), conns.end(),
                               [](const Conn& c) { return c.fd < 0; }),
                conns.end());
    if (fds[1].revents & POLLIN) {
      for (;;) {
        int fd = accept4(listen_fd_, nullptr, nullptr,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          int err = errno;
          if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
              err == ENOMEM) {
            RUMOR_LOG_EVERY_SECONDS(WARNING, 60)
                << "metrics server: cannot accept: " << strerror(err);
            accept_paused_until = now + absl::Milliseconds(100);
          }
          break;
        }
        if (conns.size() >= options_.max_connections) {
          // Full: the connection that has waited longest without sending
          // a whole request makes room, so idle connections cannot lock
          // scrapes out. With every one being answered, the new one goes.
          auto oldest = conns.end();
          for (auto it = conns.begin(); it != conns.end(); ++it) {
            if (!it->answered &&
                (oldest == conns.end() || it->deadline < oldest->deadline)) {
              oldest = it;
            }
          }
          if (oldest == conns.end()) {
            close(fd);
            continue;
          }
          close(oldest->fd);
          conns.erase(oldest);
        }
        Conn c;
        c.fd = fd;
        c.deadline = now + options_.request_timeout;
        conns.push_back(std::move(c));
      }
    }
  }
  for (Conn& c : conns) close(c.fd);
}

}  // namespace rumor::server
