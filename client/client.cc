#include "client/client.h"

#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "client/batch_run_state.h"
#include "client/endpoints.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "jobpool/v1/jobpool.grpc.pb.h"
#include "proto/proto_time.h"
#include "proto/status_convert.h"

namespace jobpool {
namespace {

using Stub = v1::JobPool::Stub;

// Calls to a replica discovering which replica owns an id are quick.
constexpr absl::Duration kDiscoveryTimeout = absl::Seconds(5);

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", what, " \"", path, "\""));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string JsonSeconds(absl::Duration d) {
  return absl::StrFormat("%.3fs", absl::ToDoubleSeconds(d));
}

// Round-robin over the resolved addresses, and retries of UNAVAILABLE and
// RESOURCE_EXHAUSTED, which gRPC spaces by the server's
// grpc-retry-pushback-ms when it sends one.
std::string ServiceConfig(const ClientOptions& options) {
  std::string retry;
  if (options.max_attempts > 1) {
    retry = absl::StrFormat(
        R"(,"retryPolicy":{"maxAttempts":%d,"initialBackoff":"%s",)"
        R"("maxBackoff":"%s","backoffMultiplier":2,)"
        R"("retryableStatusCodes":["UNAVAILABLE","RESOURCE_EXHAUSTED"]})",
        options.max_attempts, JsonSeconds(options.initial_backoff),
        JsonSeconds(options.max_backoff));
  }
  return absl::StrCat(
      R"({"loadBalancingConfig":[{"round_robin":{}}],"methodConfig":[{)",
      R"("name":[{"service":"jobpool.v1.JobPool"},)",
      R"({"service":"grpc.health.v1.Health"}])", retry, "}]}");
}

// The replica name that starts a job or batch id.
absl::string_view ReplicaOf(absl::string_view id) {
  return id.substr(0, id.find('/'));
}

// Reads a RunBatch stream to its end on its own thread, feeding `state`.
// (A thread per batch in flight, on the client: the callback API's
// completion-queue threads showed a reference-count race in this gRPC
// version when channels come and go.)
void ReadBatch(
    const std::shared_ptr<BatchRun::State>& state,
    const std::shared_ptr<grpc::ClientContext>& context,
    std::unique_ptr<Stub> stub, const v1::RunBatchRequest& request,
    const std::function<void(const std::string&, std::string)>& learn) {
  std::unique_ptr<grpc::ClientReader<v1::RunBatchResponse>> reader =
      stub->RunBatch(context.get(), request);
  v1::RunBatchResponse message;
  while (reader->Read(&message)) {
    if (message.has_batch_id()) learn(message.batch_id(), context->peer());
    state->OnMessage(message);
  }
  state->OnDone(FromGrpcStatus(reader->Finish()));
}

}  // namespace

struct Client::Impl {
  ClientOptions options;
  ResolvedServers endpoints;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::shared_ptr<grpc::Channel> balanced;

  absl::Mutex mu;
  // Replica name -> the endpoint that answered for it.
  absl::flat_hash_map<std::string, std::string> owners ABSL_GUARDED_BY(mu);
  // Endpoint -> its own channel.
  absl::flat_hash_map<std::string, std::shared_ptr<grpc::Channel>> channels
      ABSL_GUARDED_BY(mu);

  bool IsDns() const {
    return absl::StartsWith(endpoints.balanced_target, "dns:");
  }
  // Whether ids may live on different replicas behind the balanced channel.
  bool Routes() const { return IsDns() || endpoints.each.size() > 1; }

  std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target) const {
    grpc::ChannelArguments args;
    args.SetServiceConfigJSON(ServiceConfig(options));
    args.SetInt(GRPC_ARG_SERVICE_CONFIG_DISABLE_RESOLUTION, 1);
    args.SetMaxReceiveMessageSize(options.max_message_bytes);
    args.SetMaxSendMessageSize(options.max_message_bytes);
    if (options.tls.enabled && !options.tls.server_name.empty()) {
      args.SetSslTargetNameOverride(options.tls.server_name);
    }
    return grpc::CreateCustomChannel(target, credentials, args);
  }

  std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout) const {
    auto context = std::make_unique<grpc::ClientContext>();
    if (timeout != absl::InfiniteDuration()) {
      context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    }
    if (!options.token.empty()) {
      context->AddMetadata("authorization",
                           absl::StrCat("Bearer ", options.token));
    }
    return context;
  }

  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& endpoint) {
    absl::MutexLock lock(&mu);
    std::shared_ptr<grpc::Channel>& channel = channels[endpoint];
    if (channel == nullptr) channel = MakeChannel(endpoint);
    return channel;
  }

  std::shared_ptr<grpc::Channel> ChannelFor(const Target& target) {
    return target.endpoint.empty() ? balanced : ChannelTo(target.endpoint);
  }

  // Remembers that the replica owning `id` answered from `peer`.
  void Learn(absl::string_view id, absl::string_view peer) {
    if (!Routes() || peer.empty()) return;
    absl::MutexLock lock(&mu);
    owners[ReplicaOf(id)] = NormalizePeer(peer);
  }

  // Asks every endpoint its replica name.
  void Discover() {
    for (const std::string& endpoint : EndpointList()) {
      auto context = Context(std::min(options.timeout, kDiscoveryTimeout));
      v1::StatsResponse stats;
      if (v1::JobPool::NewStub(ChannelTo(endpoint))
              ->Stats(context.get(), v1::StatsRequest(), &stats)
              .ok()) {
        absl::MutexLock lock(&mu);
        owners[stats.replica()] = endpoint;
      }
    }
  }

  // The channel to the replica that owns `id`; the balanced one when there
  // is only one replica, or the owner cannot be found (the call then
  // reports NOT_FOUND).
  std::shared_ptr<grpc::Channel> ChannelForId(absl::string_view id) {
    if (!Routes()) return balanced;
    std::string owner = OwnerOf(id);
    if (owner.empty()) {
      Discover();
      owner = OwnerOf(id);
    }
    return owner.empty() ? balanced : ChannelTo(owner);
  }

  std::string OwnerOf(absl::string_view id) {
    absl::MutexLock lock(&mu);
    auto it = owners.find(ReplicaOf(id));
    return it == owners.end() ? "" : it->second;
  }

  std::vector<std::string> EndpointList() const {
    if (IsDns()) {
      auto resolved = ResolveDns(endpoints.balanced_target);
      if (resolved.ok()) return *std::move(resolved);
    }
    return endpoints.each;
  }

  // One unary call on `channel`.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(
      const std::shared_ptr<grpc::Channel>& channel,
      grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                   Response*),
      const Request& request, absl::Duration timeout,
      std::string* peer = nullptr) {
    auto context = Context(timeout);
    Response response;
    auto stub = v1::JobPool::NewStub(channel);
    const grpc::Status status =
        ((*stub).*method)(context.get(), request, &response);
    if (peer != nullptr) *peer = context->peer();
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }
};

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(ClientOptions options) {
  if (options.max_attempts < 1 || options.max_attempts > 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_attempts must be 1..5, not ", options.max_attempts));
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeout must be positive");
  }
  auto impl = std::make_unique<Impl>();
  auto endpoints = ResolveServers(options.servers);
  if (!endpoints.ok()) return endpoints.status();
  impl->endpoints = *std::move(endpoints);
  const TlsOptions& tls = options.tls;
  if (tls.enabled) {
    grpc::SslCredentialsOptions ssl;
    if (!tls.ca_file.empty()) {
      auto roots = ReadFile(tls.ca_file, "CA file");
      if (!roots.ok()) return roots.status();
      ssl.pem_root_certs = *std::move(roots);
    }
    if (tls.cert_file.empty() != tls.key_file.empty()) {
      return absl::InvalidArgumentError(
          "a client certificate needs both a cert file and a key file");
    }
    if (!tls.cert_file.empty()) {
      auto cert = ReadFile(tls.cert_file, "certificate file");
      if (!cert.ok()) return cert.status();
      auto key = ReadFile(tls.key_file, "key file");
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    impl->credentials = grpc::SslCredentials(ssl);
  } else {
    impl->credentials = grpc::InsecureChannelCredentials();
  }
  impl->options = std::move(options);
  impl->balanced = impl->MakeChannel(impl->endpoints.balanced_target);
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

absl::StatusOr<v1::Job> Client::Submit(const v1::JobSpec& spec,
                                       const std::string& pool) {
  v1::SubmitRequest request;
  request.set_pool(pool);
  *request.mutable_job() = spec;
  std::string peer;
  auto response = impl_->Call(impl_->balanced, &Stub::Submit, request,
                              impl_->options.timeout, &peer);
  if (!response.ok()) return response.status();
  impl_->Learn(response->job().id(), peer);
  return std::move(*response->mutable_job());
}

absl::StatusOr<v1::Job> Client::Run(const v1::JobSpec& spec,
                                    const std::string& pool,
                                    absl::Duration wait) {
  v1::SubmitRequest request;
  request.set_pool(pool);
  *request.mutable_job() = spec;
  request.set_wait_for_result(true);
  std::string peer;
  auto response =
      impl_->Call(impl_->balanced, &Stub::Submit, request, wait, &peer);
  if (!response.ok()) return response.status();
  impl_->Learn(response->job().id(), peer);
  return std::move(*response->mutable_job());
}

absl::StatusOr<v1::Job> Client::GetJob(const std::string& id) {
  v1::GetJobRequest request;
  request.set_id(id);
  auto response = impl_->Call(impl_->ChannelForId(id), &Stub::GetJob, request,
                              impl_->options.timeout);
  if (!response.ok()) return response.status();
  return std::move(*response->mutable_job());
}

absl::StatusOr<v1::Job> Client::WaitJob(const std::string& id,
                                        absl::Duration wait) {
  v1::WaitJobRequest request;
  request.set_id(id);
  auto response =
      impl_->Call(impl_->ChannelForId(id), &Stub::WaitJob, request, wait);
  if (!response.ok()) return response.status();
  return std::move(*response->mutable_job());
}

absl::StatusOr<v1::Job> Client::CancelJob(const std::string& id) {
  v1::CancelJobRequest request;
  request.set_id(id);
  auto response = impl_->Call(impl_->ChannelForId(id), &Stub::CancelJob,
                              request, impl_->options.timeout);
  if (!response.ok()) return response.status();
  return std::move(*response->mutable_job());
}

absl::StatusOr<v1::CreateBatchResponse> Client::CreateBatch(
    const std::vector<v1::JobSpec>& jobs, const v1::BatchOptions& options,
    const std::string& pool) {
  v1::CreateBatchRequest request;
  request.set_pool(pool);
  request.mutable_jobs()->Add(jobs.begin(), jobs.end());
  *request.mutable_options() = options;
  std::string peer;
  auto response = impl_->Call(impl_->balanced, &Stub::CreateBatch, request,
                              impl_->options.timeout, &peer);
  if (response.ok()) impl_->Learn(response->batch_id(), peer);
  return response;
}

absl::StatusOr<std::vector<std::string>> Client::AddToBatch(
    const std::string& batch_id, const std::vector<v1::JobSpec>& jobs) {
  v1::AddToBatchRequest request;
  request.set_batch_id(batch_id);
  request.mutable_jobs()->Add(jobs.begin(), jobs.end());
  auto response = impl_->Call(impl_->ChannelForId(batch_id), &Stub::AddToBatch,
                              request, impl_->options.timeout);
  if (!response.ok()) return response.status();
  return std::vector<std::string>(response->job_ids().begin(),
                                  response->job_ids().end());
}

absl::Status Client::SealBatch(const std::string& batch_id) {
  v1::SealBatchRequest request;
  request.set_batch_id(batch_id);
  return impl_
      ->Call(impl_->ChannelForId(batch_id), &Stub::SealBatch, request,
             impl_->options.timeout)
      .status();
}

absl::StatusOr<v1::WaitBatchResponse> Client::GetBatch(
    const std::string& batch_id, bool include_jobs) {
  v1::GetBatchRequest request;
  request.set_batch_id(batch_id);
  request.set_include_jobs(include_jobs);
  return impl_->Call(impl_->ChannelForId(batch_id), &Stub::GetBatch, request,
                     impl_->options.timeout);
}

absl::StatusOr<v1::WaitBatchResponse> Client::WaitBatch(
    const std::string& batch_id, bool include_jobs, absl::Duration wait) {
  v1::WaitBatchRequest request;
  request.set_batch_id(batch_id);
  request.set_include_jobs(include_jobs);
  return impl_->Call(impl_->ChannelForId(batch_id), &Stub::WaitBatch, request,
                     wait);
}

absl::StatusOr<v1::WaitBatchResponse> Client::CancelBatch(
    const std::string& batch_id) {
  v1::CancelBatchRequest request;
  request.set_batch_id(batch_id);
  return impl_->Call(impl_->ChannelForId(batch_id), &Stub::CancelBatch, request,
                     impl_->options.timeout);
}

std::unique_ptr<BatchRun> Client::StartBatch(std::vector<v1::JobSpec> jobs,
                                             BatchRunOptions options) {
  v1::RunBatchRequest request;
  request.set_pool(options.pool);
  request.set_fail_fast(options.fail_fast);
  if (options.progress_interval > absl::ZeroDuration()) {
    ToProto(options.progress_interval, request.mutable_progress_interval());
  }
  const auto total = static_cast<int64_t>(jobs.size());
  request.mutable_jobs()->Add(std::make_move_iterator(jobs.begin()),
                              std::make_move_iterator(jobs.end()));
  const std::string endpoint = options.endpoint;
  auto state = std::make_shared<BatchRun::State>(total, std::move(options));
  std::shared_ptr<grpc::ClientContext> context =
      impl_->Context(absl::InfiniteDuration());
  // Called under the state's lock while the stream runs, so `context`
  // (owned by the reader thread until then) is alive.
  state->cancel_stream = [raw = context.get()] { raw->TryCancel(); };
  Impl* impl = impl_.get();
  std::thread reader(
      [state, context,
       stub = v1::JobPool::NewStub(impl->ChannelFor(Target{endpoint})),
       request = std::move(request), impl]() mutable {
        ReadBatch(state, context, std::move(stub), request,
                  [impl](const std::string& id, const std::string& peer) {
                    impl->Learn(id, peer);
                  });
      });
  return std::make_unique<BatchRun>(
      std::move(state),
      [this](const std::string& id) { return CancelBatch(id).status(); },
      std::move(reader));
}

absl::StatusOr<v1::WaitBatchResponse> Client::RunBatch(
    std::vector<v1::JobSpec> jobs, BatchRunOptions options) {
  return StartBatch(std::move(jobs), std::move(options))->Wait();
}

absl::StatusOr<v1::PoolStats> Client::Tune(const std::string& pool, int size,
                                           const Target& target) {
  v1::TuneRequest request;
  request.set_pool(pool);
  request.set_size(size);
  auto response = impl_->Call(impl_->ChannelFor(target), &Stub::Tune, request,
                              impl_->options.timeout);
  if (!response.ok()) return response.status();
  return std::move(*response->mutable_pool());
}

absl::StatusOr<v1::PoolStats> Client::Reboot(const std::string& pool,
                                             const Target& target) {
  v1::RebootRequest request;
  request.set_pool(pool);
  auto response = impl_->Call(impl_->ChannelFor(target), &Stub::Reboot, request,
                              impl_->options.timeout);
  if (!response.ok()) return response.status();
  return std::move(*response->mutable_pool());
}

absl::StatusOr<v1::ReleaseResponse> Client::Release(const std::string& pool,
                                                    absl::Duration drain,
                                                    const Target& target) {
  v1::ReleaseRequest request;
  request.set_pool(pool);
  if (drain > absl::ZeroDuration()) ToProto(drain, request.mutable_timeout());
  return impl_->Call(impl_->ChannelFor(target), &Stub::Release, request,
                     impl_->options.timeout + drain);
}

absl::StatusOr<v1::StatsResponse> Client::Stats(const Target& target) {
  std::string peer;
  auto response =
      impl_->Call(impl_->ChannelFor(target), &Stub::Stats, v1::StatsRequest(),
                  impl_->options.timeout, &peer);
  if (response.ok() && target.endpoint.empty()) {
    impl_->Learn(response->replica(), peer);
  }
  return response;
}

absl::Status Client::WatchStats(
    absl::Duration interval,
    const std::function<bool(const v1::StatsResponse&)>& each,
    const Target& target) {
  v1::WatchStatsRequest request;
  ToProto(interval, request.mutable_interval());
  auto context = impl_->Context(absl::InfiniteDuration());
  auto stub = v1::JobPool::NewStub(impl_->ChannelFor(target));
  auto reader = stub->WatchStats(context.get(), request);
  v1::StatsResponse stats;
  bool stopped = false;
  while (reader->Read(&stats)) {
    if (!each(stats)) {
      stopped = true;
      context->TryCancel();
      break;
    }
  }
  const grpc::Status status = reader->Finish();
  return stopped ? absl::OkStatus() : FromGrpcStatus(status);
}

absl::StatusOr<std::vector<v1::KindInfo>> Client::ListKinds(
    const Target& target) {
  auto response = impl_->Call(impl_->ChannelFor(target), &Stub::ListKinds,
                              v1::ListKindsRequest(), impl_->options.timeout);
  if (!response.ok()) return response.status();
  return std::vector<v1::KindInfo>(response->kinds().begin(),
                                   response->kinds().end());
}

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus>
Client::Health(const Target& target, const std::string& service) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  auto context = impl_->Context(impl_->options.timeout);
  const grpc::Status status =
      grpc::health::v1::Health::NewStub(impl_->ChannelFor(target))
          ->Check(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.status();
}

std::vector<std::string> Client::Endpoints() const {
  return impl_->EndpointList();
}

}  // namespace jobpool
