#include "server/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <exception>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CivetServer.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace jobpool {
namespace {

void Reply(mg_connection* connection, const std::string& content_type,
           const std::string& body) {
  mg_printf(connection,
            "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            content_type.c_str(), body.size());
  mg_write(connection, body.data(), body.size());
}

}  // namespace

class HttpServer::Handler final : public CivetHandler {
 public:
  using Render = std::function<std::pair<std::string, std::string>()>;
  explicit Handler(Render render) : render_(std::move(render)) {}

  bool handleGet(CivetServer* /*server*/, mg_connection* connection) override {
    auto [content_type, body] = render_();
    Reply(connection, content_type, body);
    return true;
  }

 private:
  Render render_;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& listen, Metrics* metrics) {
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->metrics_handler_ = std::make_unique<Handler>([metrics] {
    return std::make_pair(std::string("text/plain; version=0.0.4"),
                          metrics->Scrape());
  });
  server->index_handler_ = std::make_unique<Handler>([] {
    return std::make_pair(
        std::string("text/plain"),
        std::string("jobpoold\n/metrics  Prometheus metrics\n"));
  });
  const std::vector<std::string> options = {
      "listening_ports",    listen,  "num_threads",       "2",
      "request_timeout_ms", "10000", "enable_keep_alive", "no"};
  try {
    server->server_ = std::make_unique<CivetServer>(options);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
  }
  server->server_->addHandler("/metrics", server->metrics_handler_.get());
  server->server_->addHandler("/", server->index_handler_.get());
  const std::vector<int> ports = server->server_->getListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", listen));
  }
  server->port_ = ports[0];
  return server;
}

HttpServer::~HttpServer() {
  if (server_ == nullptr) return;
  // CivetWeb's accept loop only notices the stop request when its poll()
  // wakes, every 2 s: knock on the port until it has, so that a drain or a
  // test does not wait that out.
  std::atomic<bool> closed{false};
  std::thread knocker([this, &closed] {
    while (!closed.load()) {
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(static_cast<uint16_t>(port_));
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      (void)connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
      close(fd);
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  server_->close();
  closed = true;
  knocker.join();
}

}  // namespace jobpool
