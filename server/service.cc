#include "server/service.h"

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "core/internal/mutex.h"
#include "proto/proto_time.h"
#include "proto/status_convert.h"
#include "server/pending_call.h"
#include "server/streams.h"

namespace jobpool {
namespace {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

ServerUnaryReactor* Done(CallbackServerContext* context,
                         const absl::Status& status) {
  ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// A write reactor that ends the call at once with `status`.
template <typename T>
class FailedWriter final : public grpc::ServerWriteReactor<T> {
 public:
  explicit FailedWriter(const absl::Status& status) {
    this->Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

}  // namespace

absl::Status JobPoolService::Authorize(const CallbackServerContext& context,
                                       Role needed) const {
  if (!auth_->Enabled()) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  const absl::string_view value =
      it == metadata.end()
          ? absl::string_view()
          : absl::string_view(it->second.data(), it->second.size());
  return auth_->Check(value, needed);
}

// Fails the call and returns from the handler when the caller lacks `role`.
#define JOBPOOL_AUTHORIZE_OR_FINISH(context, role)                       \
  if (absl::Status denied = Authorize(*(context), (role)); !denied.ok()) \
  return Done((context), denied)

JobPoolService::JobPoolService(JobManager* manager, const Authenticator* auth)
    : manager_(manager), auth_(auth) {
  admin_ = *Pool::Create(2);
}

JobPoolService::~JobPoolService() = default;

ServerUnaryReactor* JobPoolService::Submit(CallbackServerContext* context,
                                           const v1::SubmitRequest* request,
                                           v1::SubmitResponse* response) {
  JOBPOOL_AUTHORIZE_OR_FINISH(context, Role::kSubmit);
  auto call = PendingCall::Start(context);
  const bool wait_for_result = request->wait_for_result();
  JobManager::JobFn on_finish;
  if (wait_for_result) {
    on_finish = [call, response](v1::Job job) {
      call->Complete(grpc::Status::OK,
                     [&] { *response->mutable_job() = std::move(job); });
    };
  }
  auto submitted = manager_->Submit(
      request->pool(), request->job(),
      [call, response, wait_for_result](const absl::Status& status,
                                        v1::Job job) {
        if (status.code() == absl::StatusCode::kCancelled) {
          // A job withdrawn before it ran is an outcome, not an RPC error.
          if (wait_for_result) return;  // Its waiter reports it.
          job.set_state(v1::JOB_STATE_CANCELLED);
          job.set_error(std::string(status.message()));
        } else if (!status.ok()) {
          call->Complete(ToGrpcStatus(status));
          return;
        }
        if (wait_for_result && job.state() == v1::JOB_STATE_RUNNING) return;
        call->Complete(grpc::Status::OK,
                       [&] { *response->mutable_job() = std::move(job); });
      },
      std::move(on_finish));
  if (!submitted.ok()) {
    call->Complete(ToGrpcStatus(submitted.status()));
    return call.get();
  }
  call->OnCallerGone(
      [manager = manager_, id = submitted->id, waiter = submitted->waiter] {
        manager->Abandon(id, waiter);
      });
  return call.get();
}

ServerUnaryReactor* JobPoolService::GetJob(CallbackServerContext* context,
                                           const v1::GetJobRequest* request,
                                           v1::GetJobResponse* response) {
  JOBPOOL_AUTHORIZE_OR_FINISH(context, Role::kSubmit);
  auto job = manager_->GetJob(request->id());
  const absl::Status status = job.status();
  if (status.ok()) *response->mutable_job() = *std::move(job);
  return Done(context, status);
}

ServerUnaryReactor* JobPoolService::WaitJob(CallbackServerContext* context,
                                            const v1::WaitJobRequest* request,
                                            v1::WaitJobResponse* response) {
  JOBPOOL_AUTHORIZE_OR_FINISH(context, Role::kSubmit);
  auto call = PendingCall::Start(context);
  auto waiter = manager_->WaitJob(request->id(), [call, response](v1::Job job) {
    call->Complete(grpc::Status::OK,
                   [&] { *response->mutable_job() = std::move(job); });
  });
  if (!waiter.ok()) {
    call->Complete(ToGrpcStatus(waiter.status()));
    return call.get();
  }
  call->OnCallerGone([manager = manager_, id = request->id(), w = *waiter] {
    manager->RemoveJobWaiter(id, w);
  });
  return call.get();
}

ServerUnaryReactor* JobPoolService::CancelJob(
    CallbackServerContext* context, const v1::CancelJobRequest* request,
    v1::CancelJobResponse* response) {
  JOBPOOL_AUTHORIZE_OR_FINISH(context, Role::kSubmit);
  auto job = manager_->CancelJob(request->id());
  const absl::Status status = job.status();
  if (status.ok()) *response->mutable_job() = *std::move(job);
  return Done(context, status);
}

ServerUnaryReactor* JobPoolService::CreateBatch(
    CallbackServerContext* context, const v1::CreateBatchRequest* request,
    v1::CreateBatchResponse* response) {
  JOBPOOL_AUTHORIZE_OR_FINISH(context, Role::kSubmit);
  auto created = manager_->CreateBatch(
      request->pool(), SpecPointers(request->jobs()), request->options());
  const absl::Status status = created.status();
  if (status.ok()) *response = *std::move(created);
  return Done(context, status);
}

ServerUnaryReactor* JobPoolService::AddToBatch(
    CallbackServerContext* context, const v1::AddToBatchRequest* request,
    v1::AddToBatchResponse* response) {
  JOBPOOL_AUTHORIZE_OR_FINISH(context, Role::kSubmit);
  auto ids =
      manager_->AddToBatch(request->batch_id(), SpecPointers(request->jobs()));
  if (ids.ok()) {
    for (std::string& id : *ids) response->add_job_ids(std::move(id));
  }
  return Done(context, ids.status());
}

ServerUnaryReactor* JobPoolService::SealBatch(
    CallbackServerContext* context, const v1::SealBatchRequest* request,
    v1::SealBatchResponse* /*response*/) {
  JOBPOOL_AUTHORIZE_OR_FINISH(context, Role::kSubmit);
  return Done(context, manager_->SealBatch(request->batch_id()));
}

ServerUnaryReactor* JobPoolService::CancelBatch(
    CallbackServerContext* context, const v1::CancelBatchRequest* request,
    v1::WaitBatchResponse* response) {
  JOBPOOL_AUTHORIZE_OR_FINISH(context, Role::kSubmit);
  auto batch = manager_->CancelBatch(request->batch_id());
  const absl::Status status = batch.status();
  if (status.ok()) *response = *std::move(batch);
  return Done(context, status);
}

ServerUnaryReactor* JobPoolService::GetBatch(CallbackServerContext* context,
                                             const v1::GetBatchRequest* request,
                                             v1::WaitBatchResponse* response) {
  JOBPOOL_AUTHORIZE_OR_FINISH(context, Role::kSubmit);
  auto batch = manager_->GetBatch(request->batch_id(), request->include_jobs());
  const absl::Status status = batch.status();
  if (status.ok()) *response = *std::move(batch);
  return Done(context, status);
}

ServerUnaryReactor* JobPoolService::WaitBatch(
    CallbackServerContext* context, const v1::WaitBatchRequest* request,
    v1::WaitBatchResponse* response) {
  JOBPOOL_AUTHORIZE_OR_FINISH(context, Role::kSubmit);
  auto call = PendingCall::Start(context);
  auto waiter = manager_->WaitBatch(
      request->batch_id(), request->include_jobs(),
      [call, response](v1::WaitBatchResponse done) {
        call->Complete(grpc::Status::OK, [&] { *response = std::move(done); });
      });
  if (!waiter.ok()) {
    call->Complete(ToGrpcStatus(waiter.status()));
    return call.get();
  }
  call->OnCallerGone([manager = manager_, id = request->batch_id(),
                      w = *waiter] { manager->RemoveBatchWaiter(id, w); });
  return call.get();
}

grpc::ServerWriteReactor<v1::RunBatchResponse>* JobPoolService::RunBatch(
    CallbackServerContext* context, const v1::RunBatchRequest* request) {
  if (absl::Status denied = Authorize(*context, Role::kSubmit); !denied.ok()) {
    return new FailedWriter<v1::RunBatchResponse>(denied);
  }
  return StartRunBatch(manager_, *request);
}

ServerUnaryReactor* JobPoolService::Tune(CallbackServerContext* context,
                                         const v1::TuneRequest* request,
                                         v1::TuneResponse* response) {
  JOBPOOL_AUTHORIZE_OR_FINISH(context, Role::kAdmin);
  auto stats = manager_->Tune(request->pool(), request->size());
  const absl::Status status = stats.status();
  if (status.ok()) *response->mutable_pool() = *std::move(stats);
  return Done(context, status);
}

ServerUnaryReactor* JobPoolService::Reboot(CallbackServerContext* context,
                                           const v1::RebootRequest* request,
                                           v1::RebootResponse* response) {
  JOBPOOL_AUTHORIZE_OR_FINISH(context, Role::kAdmin);
  auto stats = manager_->Reboot(request->pool());
  const absl::Status status = stats.status();
  if (status.ok()) *response->mutable_pool() = *std::move(stats);
  return Done(context, status);
}

ServerUnaryReactor* JobPoolService::Release(CallbackServerContext* context,
                                            const v1::ReleaseRequest* request,
                                            v1::ReleaseResponse* response) {
  JOBPOOL_AUTHORIZE_OR_FINISH(context, Role::kAdmin);
  auto call = PendingCall::Start(context);
  const absl::Duration timeout = FromProto(request->timeout());
  // ReleaseTimeout blocks until the workers exit: run it on the admin pool,
  // queued without parking this RPC thread when both admin workers are busy.
  auto queued = admin_->SubmitAsync(
      [manager = manager_, call, response, pool = request->pool(), timeout] {
        auto released = manager->Release(pool, timeout);
        const absl::Status status = released.status();
        call->Complete(ToGrpcStatus(status), [&] {
          if (status.ok()) *response = *std::move(released);
        });
      },
      nullptr);
  if (!queued.ok()) call->Complete(ToGrpcStatus(queued.status()));
  return call.get();
}

ServerUnaryReactor* JobPoolService::Stats(CallbackServerContext* context,
                                          const v1::StatsRequest* /*request*/,
                                          v1::StatsResponse* response) {
  JOBPOOL_AUTHORIZE_OR_FINISH(context, Role::kSubmit);
  *response = manager_->Stats();
  response->set_stream_queued_messages(StreamQueuedMessages());
  return Done(context, absl::OkStatus());
}

grpc::ServerWriteReactor<v1::StatsResponse>* JobPoolService::WatchStats(
    CallbackServerContext* context, const v1::WatchStatsRequest* request) {
  if (absl::Status denied = Authorize(*context, Role::kSubmit); !denied.ok()) {
    return new FailedWriter<v1::StatsResponse>(denied);
  }
  absl::Duration interval = request->has_interval()
                                ? FromProto(request->interval())
                                : absl::Seconds(1);
  interval = std::max(interval, absl::Milliseconds(100));
  return StartWatchStats(manager_, interval);
}

ServerUnaryReactor* JobPoolService::ListKinds(
    CallbackServerContext* context, const v1::ListKindsRequest* /*request*/,
    v1::ListKindsResponse* response) {
  JOBPOOL_AUTHORIZE_OR_FINISH(context, Role::kSubmit);
  for (const Kind* kind : manager_->Kinds()) {
    v1::KindInfo* info = response->add_kinds();
    info->set_name(kind->name);
    info->set_description(kind->description);
  }
  return Done(context, absl::OkStatus());
}

#undef JOBPOOL_AUTHORIZE_OR_FINISH

}  // namespace jobpool
