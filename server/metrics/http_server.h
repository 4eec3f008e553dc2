// A minimal HTTP/1.1 server for Prometheus scrapes: GET /metrics answers
// with what the handler renders, GET / with a pointer to it, anything else
// with an error status. One thread multiplexes every connection with
// poll(); each request is answered and its connection closed.
//
// Nothing a client sends can hurt the node: a request head over 8 KiB is
// answered 431, a connection is dropped 5 s after it was accepted whatever
// it is doing, and at 64 open connections a new one replaces the oldest
// that has not sent a whole request (so idle connections cannot lock
// scrapes out; 64 that sent requests and do not read the answers can, for
// up to 5 s each). Out of file descriptors, it stops accepting for 100 ms
// rather than spin. Prometheus needs nothing more, and prometheus-cpp (not
// packaged in Debian 12) would bring an embedded web server with it.
#ifndef RUMOR_SERVER_METRICS_HTTP_SERVER_H_
#define RUMOR_SERVER_METRICS_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace rumor::server {

struct MetricsHttpOptions {
  std::string host = "127.0.0.1";  // numeric address or a resolvable name
  int port = 0;                    // 0: any free port (see port())
  size_t max_connections = 64;
  size_t max_request_bytes = 8192;
  absl::Duration request_timeout = absl::Seconds(5);
};

class MetricsHttpServer {
 public:
  // Renders the body of GET /metrics; called on the server's thread.
  using Handler = std::function<std::string()>;

  // Binds the address without serving yet (a node binds before it opens
  // anything, so a busy port changes nothing). UNAVAILABLE (naming the
  // address) when it cannot be bound, INVALID_ARGUMENT when the host does
  // not resolve.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Bind(
      const MetricsHttpOptions& options);
  // Starts answering, with `handler` rendering /metrics. Once.
  void Serve(Handler handler);
  // Bind, then Serve.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const MetricsHttpOptions& options, Handler handler);
  ~MetricsHttpServer();  // Stop()
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }
  // Closes the listener and every connection and joins the thread.
  // Idempotent.
  void Stop();

 private:
  MetricsHttpServer(MetricsHttpOptions options, int listen_fd, int wake_fd,
                    int port);
  void Loop();

  const MetricsHttpOptions options_;
  Handler handler_;  // set once by Serve, before the thread starts
  bool stopped_ = false;
  int listen_fd_;
  int wake_fd_;  // an eventfd that ends Loop
  const int port_;
  std::thread thread_;
};

// The response to one request head (everything up to the blank line):
// status line, headers and body. Exposed for tests.
std::string AnswerHttpRequest(absl::string_view head,
                              const MetricsHttpServer::Handler& handler);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_METRICS_HTTP_SERVER_H_
