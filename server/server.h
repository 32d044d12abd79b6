#ifndef JOBPOOL_SERVER_SERVER_H_
#define JOBPOOL_SERVER_SERVER_H_

// Server
//
// A running jobpoold: the JobPool service on a listening port, with the
// grpc.health.v1 health service ("" and "jobpool.v1.JobPool": SERVING until
// a drain starts; "liveness": SERVING for as long as the process answers),
// server reflection, keepalive and message limits. Tests start one on
// 127.0.0.1:0 and read Port().
//
// Example:
//   auto server = Server::Start(options, manager.get());
//   if (!server.ok()) return server.status();
//   (*server)->Drain(absl::Seconds(30));   // on SIGTERM
//
// Thread safety: every method may be called concurrently.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "server/auth.h"
#include "server/http_server.h"
#include "server/job_manager.h"
#include "server/metrics.h"
#include "server/service.h"

namespace jobpool {

// The health service name that stays SERVING while draining: a liveness
// probe's, so that a draining server is not restarted.
inline constexpr char kLivenessService[] = "liveness";

struct ServerOptions {
  std::string listen = "127.0.0.1:50051";
  int max_message_bytes = 16 << 20;
  // Ping idle connections this often; drop them if a ping goes unanswered.
  absl::Duration keepalive_time = absl::Seconds(30);
  absl::Duration keepalive_timeout = absl::Seconds(10);
  // Close connections after this age (with a grace), so that clients
  // rebalance over replicas added since they connected.
  absl::Duration max_connection_age = absl::Minutes(5);
  absl::Duration max_connection_age_grace = absl::Seconds(30);
  // HOST:PORT of the HTTP port serving /metrics (Prometheus); empty: off.
  std::string metrics_listen;

  // TLS from PEM files; `tls_cert_file` empty: plaintext. With
  // `tls_client_ca_file`, clients must present a certificate it signed
  // (mTLS). The files are re-read every `tls_reload_interval`, so a rotated
  // certificate is served without a restart.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  absl::Duration tls_reload_interval = absl::Seconds(60);
  // Bearer tokens and their roles; none: every caller is admin.
  Authenticator auth;
  // Without tokens the server refuses to listen beyond loopback unless this
  // is set (--insecure_allow_unauthenticated_remote).
  bool allow_unauthenticated_remote = false;
  // Calls in flight per connection; more wait in the client's queue.
  int max_concurrent_streams = 16384;
  // Memory gRPC may use for connections and messages (its resource quota).
  int64_t max_grpc_memory_bytes = int64_t{1} << 30;
};

// Whether `listen` (HOST:PORT) only accepts connections from this host.
bool IsLoopbackAddress(absl::string_view listen);

class Server {
 public:
  // Starts serving `manager`, which must outlive the server.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const ServerOptions& options, JobManager* manager);
  ~Server();

  // The port actually bound (useful with port 0).
  int Port() const { return port_; }
  // The metrics port actually bound; 0 when metrics are off.
  int MetricsPort() const { return http_ == nullptr ? 0 : http_->Port(); }

  // SIGTERM: health says NOT_SERVING, new jobs get UNAVAILABLE, admitted
  // jobs finish within `grace` (then are cancelled) and their waiters are
  // answered; then the server stops. Returns true if nothing was cancelled.
  bool Drain(absl::Duration grace);

  // A channel to this server inside the process (no socket), e.g. for a
  // fuzzer.
  std::shared_ptr<grpc::Channel> InProcessChannel() {
    return server_->InProcessChannel(grpc::ChannelArguments());
  }

  // Stops at once, cancelling calls in flight.
  void Shutdown();

 private:
  Server(JobManager* manager, Authenticator auth)
      : manager_(manager),
        auth_(std::move(auth)),
        service_(std::make_unique<JobPoolService>(manager, &auth_)) {}

  JobManager* const manager_;
  const Authenticator auth_;
  std::unique_ptr<JobPoolService> service_;
  std::unique_ptr<Metrics> metrics_;  // Null when metrics are off.
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_SERVER_H_
