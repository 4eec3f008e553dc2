// The Prometheus exposition, the request histograms and the HTTP server
// that serves them, without a node.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/metrics/exposition.h"
#include "server/metrics/http_server.h"
#include "server/metrics/request_metrics.h"
#include "tests/support/http_get.h"

namespace rumor::server {
namespace {

using rumor::testing::HttpBody;
using rumor::testing::HttpExchange;
using rumor::testing::HttpGet;

TEST(MetricsWriterTest, WritesHelpTypeAndEscapedLabels) {
  MetricsWriter w;
  w.Family("rumor_x_total", MetricType::kCounter, "Things.\nMore \\ text.");
  w.Sample("rumor_x_total", {{"a", "plain"}, {"b", "q\"uo\\te\nnl"}},
           uint64_t{7});
  w.Gauge("rumor_g", "A gauge.", 3);
  w.Family("rumor_d", MetricType::kGauge, "Doubles.");
  w.Sample("rumor_d", {}, 0.5);
  EXPECT_EQ(w.text(),
            "# HELP rumor_x_total Things.\\nMore \\\\ text.\n"
            "# TYPE rumor_x_total counter\n"
            "rumor_x_total{a=\"plain\",b=\"q\\\"uo\\\\te\\nnl\"} 7\n"
            "# HELP rumor_g A gauge.\n# TYPE rumor_g gauge\nrumor_g 3\n"
            "# HELP rumor_d Doubles.\n# TYPE rumor_d gauge\nrumor_d 0.5\n");
}

TEST(MetricsWriterTest, NamesAreChecked) {
  EXPECT_TRUE(IsValidMetricName("rumor_requests_total"));
  EXPECT_TRUE(IsValidMetricName("a:b_9"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("9lives"));
  EXPECT_FALSE(IsValidMetricName("has-dash"));
}

// The value of one sample line `series` ("name{labels}") in `text`, or -1.
double SampleValue(const std::string& text, const std::string& series) {
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

TEST(RequestMetricsTest, HistogramsAreCumulativePerOperationAndOutcome) {
  RequestMetrics m;
  m.Record(RequestOp::kPut, absl::StatusCode::kOk, false, 100);     // <=250us
  m.Record(RequestOp::kPut, absl::StatusCode::kOk, false, 2000);    // <=2.5ms
  m.Record(RequestOp::kPut, absl::StatusCode::kOk, false, 90000000);  // +Inf
  m.Record(RequestOp::kGet, absl::StatusCode::kOk, true, 300);  // not found
  m.Record(RequestOp::kDelete, absl::StatusCode::kUnavailable, false, 10);
  m.Record(RequestOp::kGet, absl::StatusCode::kOk, false, -5);  // clock step
  EXPECT_EQ(m.Count(RequestOp::kPut, absl::StatusCode::kOk), 3u);
  EXPECT_EQ(m.Count(RequestOp::kGet, absl::StatusCode::kNotFound), 1u);
  EXPECT_EQ(m.Count(RequestOp::kGet, absl::StatusCode::kOk), 1u);
  MetricsWriter w;
  m.Write(&w);
  const std::string& t = w.text();
  const std::string put = "op=\"put\",outcome=\"ok\"";
  EXPECT_EQ(SampleValue(t, absl::StrCat("rumor_request_duration_seconds_bucket{",
                                        put, ",le=\"0.00025\"}")),
            1);
  EXPECT_EQ(SampleValue(t, absl::StrCat("rumor_request_duration_seconds_bucket{",
                                        put, ",le=\"0.0025\"}")),
            2);
  EXPECT_EQ(SampleValue(t, absl::StrCat("rumor_request_duration_seconds_bucket{",
                                        put, ",le=\"30\"}")),
            2);
  EXPECT_EQ(SampleValue(t, absl::StrCat("rumor_request_duration_seconds_bucket{",
                                        put, ",le=\"+Inf\"}")),
            3);
  EXPECT_EQ(
      SampleValue(t, absl::StrCat("rumor_request_duration_seconds_count{", put,
                                  "}")),
      3);
  EXPECT_DOUBLE_EQ(
      SampleValue(t, absl::StrCat("rumor_request_duration_seconds_sum{", put,
                                  "}")),
      90.0021);
  EXPECT_EQ(SampleValue(t, "rumor_request_duration_seconds_count{op=\"get\","
                           "outcome=\"not_found\"}"),
            1);
  EXPECT_EQ(SampleValue(t, "rumor_request_duration_seconds_count{op=\"delete\","
                           "outcome=\"unavailable\"}"),
            1);
  // ok is always there; outcomes that never happened are not.
  EXPECT_EQ(SampleValue(t, "rumor_request_duration_seconds_count{op=\"delete\","
                           "outcome=\"ok\"}"),
            0);
  EXPECT_EQ(SampleValue(t, "rumor_request_duration_seconds_count{op=\"put\","
                           "outcome=\"unavailable\"}"),
            -1);
  EXPECT_EQ(t.find("# TYPE rumor_request_duration_seconds histogram"),
            t.find("# TYPE"));
}

TEST(HttpAnswerTest, RoutesAndRefusals) {
  auto handler = [] { return std::string("rumor_up 1\n"); };
  std::string ok = AnswerHttpRequest("GET /metrics HTTP/1.1\r\nHost: x", handler);
  EXPECT_TRUE(absl::StartsWith(ok, "HTTP/1.1 200 OK\r\n")) << ok;
  EXPECT_TRUE(absl::StrContains(
      ok, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  EXPECT_TRUE(absl::StrContains(ok, "Content-Length: 11\r\n"));
  EXPECT_TRUE(absl::EndsWith(ok, "\r\n\r\nrumor_up 1\n"));
  EXPECT_TRUE(absl::StartsWith(
      AnswerHttpRequest("GET /metrics?x=1 HTTP/1.0", handler),
      "HTTP/1.1 200 OK"));
  std::string head = AnswerHttpRequest("HEAD /metrics HTTP/1.1", handler);
  EXPECT_TRUE(absl::EndsWith(head, "\r\n\r\n")) << head;
  EXPECT_TRUE(absl::StartsWith(AnswerHttpRequest("GET /nope HTTP/1.1", handler),
                               "HTTP/1.1 404 "));
  std::string post = AnswerHttpRequest("POST /metrics HTTP/1.1", handler);
  EXPECT_TRUE(absl::StartsWith(post, "HTTP/1.1 405 ")) << post;
  EXPECT_TRUE(absl::StrContains(post, "Allow: GET, HEAD\r\n"));
  for (const char* bad : {"", "GET", "GET /metrics", "GET /metrics SPDY/3",
                          "\x01\x02\x03 garbage here", "GET  HTTP/1.1"}) {
    EXPECT_TRUE(absl::StartsWith(AnswerHttpRequest(bad, handler),
                                 "HTTP/1.1 400 "))
        << bad;
  }
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MetricsHttpOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.max_connections = 8;
    o.request_timeout = absl::Milliseconds(500);
    auto s = MetricsHttpServer::Start(o, [this] {
      return absl::StrCat("rumor_scrapes ", ++scrapes_, "\n");
    });
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    ASSERT_GT(server_->port(), 0);
  }
  int Connect() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
              0);
    return fd;
  }
  int scrapes_ = 0;
  std::unique_ptr<MetricsHttpServer> server_;
};

TEST_F(HttpServerTest, ServesScrapesOneAfterAnother) {
  EXPECT_EQ(HttpBody(HttpGet(server_->port(), "/metrics")), "rumor_scrapes 1\n");
  EXPECT_EQ(HttpBody(HttpGet(server_->port(), "/metrics")), "rumor_scrapes 2\n");
  EXPECT_TRUE(absl::StartsWith(HttpGet(server_->port(), "/"), "HTTP/1.1 200"));
}

TEST_F(HttpServerTest, AnOversizedHeadIsRefusedAndTheServerGoesOn) {
  std::string huge = "GET /metrics HTTP/1.1\r\nX-Pad: " +
                     std::string(20000, 'a') + "\r\n\r\n";
  std::string r = HttpExchange(server_->port(), huge);
  EXPECT_TRUE(absl::StartsWith(r, "HTTP/1.1 431 ")) << r.substr(0, 80);
  EXPECT_EQ(HttpBody(HttpGet(server_->port(), "/metrics")), "rumor_scrapes 1\n");
}

TEST_F(HttpServerTest, SilentAndExcessConnectionsDoNotBlockScrapes) {
  // More idle connections than the server keeps (8 here), one of them
  // with half a request: each new connection replaces the oldest silent
  // one, so a scrape gets through at once, well before any times out.
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) idle.push_back(Connect());
  ASSERT_EQ(send(idle[19], "GET /metr", 9, MSG_NOSIGNAL), 9);
  EXPECT_EQ(HttpBody(HttpGet(server_->port(), "/metrics")),
            "rumor_scrapes 1\n");
  // Every silent one is closed (replaced, or dropped at its deadline):
  // read sees end of file, not a timeout.
  for (int fd : idle) {
    char c;
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    EXPECT_EQ(read(fd, &c, 1), 0);
    close(fd);
  }
}

TEST(HttpServerBindTest, BindDoesNotAnswerUntilServe) {
  auto s = MetricsHttpServer::Bind({});
  ASSERT_TRUE(s.ok()) << s.status();
  int port = (*s)->port();
  // Bound: connections queue in the kernel, nothing answers yet.
  EXPECT_EQ(HttpExchange(port, "GET /metrics HTTP/1.1\r\n\r\n",
                         std::chrono::milliseconds(200)),
            "");
  (*s)->Serve([] { return std::string("x 1\n"); });
  EXPECT_EQ(HttpBody(HttpGet(port, "/metrics")), "x 1\n");
}

TEST_F(HttpServerTest, AClientThatVanishesMidRequestChangesNothing) {
  int fd = Connect();
  ASSERT_EQ(send(fd, "GET /metrics HTTP/1.1\r\n", 23, MSG_NOSIGNAL), 23);
  close(fd);
  fd = Connect();
  ASSERT_EQ(send(fd, "GET /metrics HTTP/1.1\r\n\r\n", 25, MSG_NOSIGNAL), 25);
  close(fd);  // before reading the answer
  EXPECT_TRUE(absl::StartsWith(HttpGet(server_->port(), "/metrics"),
                               "HTTP/1.1 200"));
  server_->Stop();
  server_->Stop();  // idempotent
  EXPECT_EQ(HttpGet(server_->port(), "/metrics"), "");
}

TEST(HttpServerStartTest, ABusyPortIsAClearError) {
  auto first = MetricsHttpServer::Start({}, [] { return std::string(); });
  ASSERT_TRUE(first.ok()) << first.status();
  MetricsHttpOptions o;
  o.port = (*first)->port();
  auto second = MetricsHttpServer::Start(o, [] { return std::string(); });
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(absl::StrContains(second.status().message(),
                                absl::StrCat("cannot serve metrics on 127.0.0.1:",
                                             o.port)))
      << second.status();
  o.host = "no-such-host.invalid";
  o.port = 0;
  EXPECT_FALSE(MetricsHttpServer::Start(o, [] { return std::string(); }).ok());
}

}  // namespace
}  // namespace rumor::server
