#include "server/server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/interceptors.h"

namespace jobpool {
namespace {

constexpr char kServiceName[] = "jobpool.v1.JobPool";

int Millis(absl::Duration d) {
  return static_cast<int>(absl::ToInt64Milliseconds(d));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const ServerOptions& options, JobManager* manager) {
  // Debian's Abseil is built with the mutex deadlock-cycle detector on,
  // which updates a global graph on every absl::Mutex lock -- ours and
  // gRPC's own. Profiles showed it as the largest single cost of a call.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::unique_ptr<Server> server(
      new Server(manager, std::make_unique<JobPoolService>(manager)));
  if (!options.metrics_listen.empty()) {
    server->metrics_ =
        std::make_unique<Metrics>([manager] { return manager->Stats(); });
    auto http =
        HttpServer::Start(options.metrics_listen, server->metrics_.get());
    if (!http.ok()) return http.status();
    server->http_ = *std::move(http);
    manager->SetObserver(server->metrics_.get());
  }

  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(),
                           &server->port_);
  builder.RegisterService(server->service_.get());
  // gRPC sets SO_REUSEPORT by default, so a second jobpoold on a busy port
  // would silently share its connections. Refuse the port instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             Millis(options.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             Millis(options.keepalive_timeout));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      Millis(absl::Seconds(10)));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             Millis(options.max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             Millis(options.max_connection_age_grace));
  builder.experimental().SetInterceptorCreators(
      MakeServerInterceptors(server->metrics_.get()));
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen));
  }
  grpc::HealthCheckServiceInterface* health =
      server->server_->GetHealthCheckService();
  health->SetServingStatus("", true);
  health->SetServingStatus(kServiceName, true);
  health->SetServingStatus(kLivenessService, true);
  return server;
}

Server::~Server() { Shutdown(); }

bool Server::Drain(absl::Duration grace) {
  // Not ready for new work; still alive (see kLivenessService).
  server_->GetHealthCheckService()->SetServingStatus("", false);
  server_->GetHealthCheckService()->SetServingStatus(kServiceName, false);
  manager_->Drain();
  const bool clean = manager_->AwaitIdle(absl::Now() + grace);
  // Waiters were answered as their jobs finished; give the last answers a
  // moment to flush, then stop. (gRPC also waits out this deadline while an
  // idle client connection stays open, so keep it short.)
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  server_->Wait();
  return clean;
}

void Server::Shutdown() {
  if (server_ != nullptr) {
    server_->Shutdown(absl::ToChronoTime(absl::Now()));
    server_->Wait();
    server_.reset();
  }
  http_.reset();
  if (metrics_ != nullptr) {
    manager_->SetObserver(nullptr);
    metrics_.reset();
  }
}

}  // namespace jobpool
