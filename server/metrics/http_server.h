// A minimal HTTP/1.1 server for Prometheus scrapes: GET /metrics answers
// with what the handler renders, GET / with a pointer to it, anything else
// with an error status. One thread multiplexes every connection with
// poll(); each request is answered and its connection closed.
//
// Nothing a client sends can hurt the node: a request head over 8 KiB is
// answered 431, one that has not arrived within 5 s is dropped, and beyond
// 64 open connections new ones are closed at once. Prometheus needs nothing
// more, and prometheus-cpp (not packaged in Debian 12) would bring an
// embedded web server with it.
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

  // Binds and starts serving. UNAVAILABLE (naming the address) when the
  // address cannot be bound.
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
  MetricsHttpServer(MetricsHttpOptions options, Handler handler, int listen_fd,
                    int wake_fd, int port);
  void Loop();

  const MetricsHttpOptions options_;
  const Handler handler_;
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
