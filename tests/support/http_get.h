// A blocking HTTP/1.1 exchange for tests: sends `request` raw to
// 127.0.0.1:port and returns everything the server sent until it closed
// the connection ("" when it cannot connect). Waits at most `timeout`.
#ifndef RUMOR_TESTS_SUPPORT_HTTP_GET_H_
#define RUMOR_TESTS_SUPPORT_HTTP_GET_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace rumor::testing {

inline std::string HttpExchange(
    int port, const std::string& request,
    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t w = send(fd, request.data() + sent, request.size() - sent,
                     MSG_NOSIGNAL);
    if (w <= 0) break;
    sent += static_cast<size_t>(w);
  }
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[8192];
    ssize_t r = read(fd, buf, sizeof(buf));
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  close(fd);
  return out;
}

inline std::string HttpGet(int port, const std::string& path) {
  return HttpExchange(port, "GET " + path +
                                " HTTP/1.1\r\nHost: localhost\r\n\r\n");
}

// The body of an HTTP response (after the blank line).
inline std::string HttpBody(const std::string& response) {
  size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

}  // namespace rumor::testing

#endif  // RUMOR_TESTS_SUPPORT_HTTP_GET_H_
