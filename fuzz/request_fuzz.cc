// libFuzzer: request validation and dispatch of every RPC. The first byte
// picks the RPC, the rest is its request message (protobuf wire format),
// sent through an in-process channel to a real JobPoolService with bearer
// tokens on, so authentication, validation, the manager and the pools all
// see it. Jobs are short-lived (a 20 ms default timeout) and few are kept.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "jobpool/v1/jobpool.grpc.pb.h"
#include "server/job_manager.h"
#include "server/kind_registry.h"
#include "server/server.h"

namespace {

using jobpool::v1::JobPool;

struct Service {
  Service() : kinds(jobpool::KindRegistry::WithBuiltins()) {
    jobpool::ManagerOptions options;
    options.replica = "fuzz";
    options.max_retained_jobs = 500;
    options.max_live_jobs = 500;
    options.max_retained_batches = 50;
    options.max_batch_jobs = 100;
    options.retention = absl::Seconds(1);
    options.default_job_timeout = absl::Milliseconds(20);
    jobpool::PoolConfig pool;
    pool.name = "default";
    pool.size = 4;
    jobpool::PoolConfig other;
    other.name = "other";
    other.size = 2;
    other.options.nonblocking = true;
    manager = *jobpool::JobManager::Create(options, {pool, other}, &kinds);
    jobpool::ServerOptions server_options;
    server_options.listen = "127.0.0.1:0";
    server_options.auth.Add(jobpool::Role::kAdmin, "admin-token");
    server_options.auth.Add(jobpool::Role::kSubmit, "submit-token");
    server = *jobpool::Server::Start(server_options, manager.get());
    stub = JobPool::NewStub(server->InProcessChannel());
  }

  jobpool::KindRegistry kinds;
  std::unique_ptr<jobpool::JobManager> manager;
  std::unique_ptr<jobpool::Server> server;
  std::unique_ptr<JobPool::Stub> stub;
};

// Parses `bytes` as a Request and makes the unary call `method`.
template <typename Request, typename Response, typename Method>
void Unary(Service& service, Method method, const std::string& bytes,
           uint8_t flags) {
  Request request;
  if (!request.ParseFromString(bytes)) return;
  Response response;
  grpc::ClientContext context;
  context.set_deadline(
      absl::ToChronoTime(absl::Now() + absl::Milliseconds(50)));
  if ((flags & 1) != 0) {
    context.AddMetadata("authorization", (flags & 2) != 0
                                             ? "Bearer admin-token"
                                             : "Bearer submit-token");
  }
  (void)((*service.stub).*method)(&context, request, &response);
}

template <typename Request, typename Response, typename Method>
void Stream(Service& service, Method method, const std::string& bytes,
            uint8_t flags) {
  Request request;
  if (!request.ParseFromString(bytes)) return;
  grpc::ClientContext context;
  context.set_deadline(
      absl::ToChronoTime(absl::Now() + absl::Milliseconds(50)));
  if ((flags & 1) != 0) {
    context.AddMetadata("authorization", "Bearer admin-token");
  }
  auto reader = ((*service.stub).*method)(&context, request);
  Response response;
  for (int i = 0; i < 100 && reader->Read(&response); ++i) {
  }
  context.TryCancel();
  (void)reader->Finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Service* service = new Service;
  if (size < 2) return 0;
  const uint8_t rpc = data[0];
  const uint8_t flags = data[1];
  const std::string bytes(reinterpret_cast<const char*>(data + 2), size - 2);
  namespace v1 = jobpool::v1;
  using Stub = JobPool::Stub;
  Service& s = *service;
  switch (rpc % 17) {
    case 0:
      Unary<v1::SubmitRequest, v1::SubmitResponse>(s, &Stub::Submit, bytes,
                                                   flags);
      break;
    case 1:
      Unary<v1::GetJobRequest, v1::GetJobResponse>(s, &Stub::GetJob, bytes,
                                                   flags);
      break;
    case 2:
      Unary<v1::WaitJobRequest, v1::WaitJobResponse>(s, &Stub::WaitJob, bytes,
                                                     flags);
      break;
    case 3:
      Unary<v1::CancelJobRequest, v1::CancelJobResponse>(s, &Stub::CancelJob,
                                                         bytes, flags);
      break;
    case 4:
      Unary<v1::CreateBatchRequest, v1::CreateBatchResponse>(
          s, &Stub::CreateBatch, bytes, flags);
      break;
    case 5:
      Unary<v1::AddToBatchRequest, v1::AddToBatchResponse>(s, &Stub::AddToBatch,
                                                           bytes, flags);
      break;
    case 6:
      Unary<v1::SealBatchRequest, v1::SealBatchResponse>(s, &Stub::SealBatch,
                                                         bytes, flags);
      break;
    case 7:
      Unary<v1::CancelBatchRequest, v1::WaitBatchResponse>(
          s, &Stub::CancelBatch, bytes, flags);
      break;
    case 8:
      Unary<v1::GetBatchRequest, v1::WaitBatchResponse>(s, &Stub::GetBatch,
                                                        bytes, flags);
      break;
    case 9:
      Unary<v1::WaitBatchRequest, v1::WaitBatchResponse>(s, &Stub::WaitBatch,
                                                         bytes, flags);
      break;
    case 10:
      Stream<v1::RunBatchRequest, v1::RunBatchResponse>(s, &Stub::RunBatch,
                                                        bytes, flags);
      break;
    case 11: {
      // Tune within reason: a fuzzer asking for a billion workers would
      // only measure the machine.
      v1::TuneRequest request;
      if (!request.ParseFromString(bytes)) break;
      request.set_size(request.size() % 64);
      Unary<v1::TuneRequest, v1::TuneResponse>(
          s, &Stub::Tune, request.SerializeAsString(), flags);
      break;
    }
    case 12:
      Unary<v1::RebootRequest, v1::RebootResponse>(s, &Stub::Reboot, bytes,
                                                   flags);
      break;
    case 13: {
      v1::ReleaseRequest request;
      if (!request.ParseFromString(bytes)) break;
      request.clear_timeout();
      Unary<v1::ReleaseRequest, v1::ReleaseResponse>(
          s, &Stub::Release, request.SerializeAsString(), flags);
      // Keep the pools usable for the inputs that follow.
      Unary<v1::RebootRequest, v1::RebootResponse>(
          s, &Stub::Reboot, v1::RebootRequest().SerializeAsString(), 3);
      break;
    }
    case 14:
      Unary<v1::StatsRequest, v1::StatsResponse>(s, &Stub::Stats, bytes, flags);
      break;
    case 15:
      Stream<v1::WatchStatsRequest, v1::StatsResponse>(s, &Stub::WatchStats,
                                                       bytes, flags);
      break;
    case 16:
      Unary<v1::ListKindsRequest, v1::ListKindsResponse>(s, &Stub::ListKinds,
                                                         bytes, flags);
      break;
  }
  return 0;
}
