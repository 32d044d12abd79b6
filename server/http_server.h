#ifndef JOBPOOL_SERVER_HTTP_SERVER_H_
#define JOBPOOL_SERVER_HTTP_SERVER_H_

// HttpServer
//
// jobpoold's HTTP side port (CivetWeb): GET /metrics is the Prometheus text
// exposition of Metrics; GET / lists what is served. Off unless
// --metrics_listen names an address.
//
// Thread safety: Start() and the destructor from one thread; requests are
// served on CivetWeb's own threads.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/metrics.h"

class CivetServer;

namespace jobpool {

class HttpServer {
 public:
  // Serves `metrics` (which must outlive the server) on `listen`
  // ("HOST:PORT"; port 0: any free port). UNAVAILABLE if it cannot bind.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& listen, Metrics* metrics);
  ~HttpServer();

  // The port actually bound.
  int Port() const { return port_; }

 private:
  class Handler;
  HttpServer() = default;

  std::unique_ptr<Handler> metrics_handler_;
  std::unique_ptr<Handler> index_handler_;
  std::unique_ptr<CivetServer> server_;
  int port_ = 0;
};

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_HTTP_SERVER_H_
