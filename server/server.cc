#include "server/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "server/interceptors.h"
#include "server/streams.h"

namespace jobpool {
namespace {

constexpr char kServiceName[] = "jobpool.v1.JobPool";
constexpr absl::Duration kLinger = absl::Milliseconds(500);

int Millis(absl::Duration d) {
  return static_cast<int>(absl::ToInt64Milliseconds(d));
}

std::shared_ptr<grpc::ServerCredentials> Credentials(
    const ServerOptions& options) {
  if (options.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          options.tls_key_file, options.tls_cert_file,
          options.tls_client_ca_file,
          static_cast<unsigned>(std::max<int64_t>(
              1, absl::ToInt64Seconds(options.tls_reload_interval))));
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (!options.tls_client_ca_file.empty()) {
    tls.watch_root_certs();
    tls.set_cert_request_type(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(tls);
}

absl::Status CheckTlsFiles(const ServerOptions& options) {
  if (options.tls_cert_file.empty() && options.tls_key_file.empty() &&
      options.tls_client_ca_file.empty()) {
    return absl::OkStatus();
  }
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both --tls_cert_file and --tls_key_file");
  }
  for (const std::string* file : {&options.tls_cert_file, &options.tls_key_file,
                                  &options.tls_client_ca_file}) {
    if (!file->empty() && access(file->c_str(), R_OK) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read the TLS file ", *file));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsLoopbackAddress(absl::string_view listen) {
  const size_t colon = listen.rfind(':');
  absl::string_view host =
      colon == absl::string_view::npos ? listen : listen.substr(0, colon);
  if (absl::ConsumePrefix(&host, "[")) absl::ConsumeSuffix(&host, "]");
  if (host == "localhost" || host == "::1" || host == "ip6-localhost") {
    return true;
  }
  in_addr v4{};
  const std::string text(host);
  return inet_pton(AF_INET, text.c_str(), &v4) == 1 &&
         (ntohl(v4.s_addr) >> 24) == 127;
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const ServerOptions& options, JobManager* manager) {
  if (!options.auth.Enabled() && !options.allow_unauthenticated_remote &&
      !IsLoopbackAddress(options.listen)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "refusing to listen on ", options.listen,
        " without authentication: anyone who can reach it could run jobs "
        "and stop pools. Give tokens (--auth_token_file or "
        "JOBPOOL_ADMIN_TOKEN/JOBPOOL_SUBMIT_TOKEN), listen on a loopback "
        "address, or accept the risk with "
        "--insecure_allow_unauthenticated_remote"));
  }
  if (absl::Status tls = CheckTlsFiles(options); !tls.ok()) return tls;
  // Debian's Abseil is built with the mutex deadlock-cycle detector on,
  // which updates a global graph on every absl::Mutex lock -- gRPC's own
  // (ours are std::mutex). Profiles showed it as the largest single cost of
  // a call.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::unique_ptr<Server> server(new Server(manager, options.auth));
  if (!options.metrics_listen.empty()) {
    server->metrics_ = std::make_unique<Metrics>([manager] {
      v1::StatsResponse stats = manager->Stats();
      stats.set_stream_queued_messages(StreamQueuedMessages());
      return stats;
    });
    auto http =
        HttpServer::Start(options.metrics_listen, server->metrics_.get());
    if (!http.ok()) return http.status();
    server->http_ = *std::move(http);
    manager->SetObserver(server->metrics_.get());
  }

  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, Credentials(options),
                           &server->port_);
  grpc::ResourceQuota quota("jobpoold");
  quota.Resize(static_cast<size_t>(options.max_grpc_memory_bytes));
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             options.max_concurrent_streams);
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
  const absl::Time deadline = absl::Now() + grace;
  const bool clean = manager_->AwaitIdle(deadline);
  // Keep answering UNAVAILABLE a moment longer, so that callers still
  // connected learn to go elsewhere before the connections close (a call
  // caught by the close itself sees CANCELLED, and was not admitted).
  absl::SleepFor(std::min(
      kLinger, std::max(absl::ZeroDuration(), deadline - absl::Now())));
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
