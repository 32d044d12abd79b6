#include "server/service.h"

#include <chrono>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "grpcpp/alarm.h"
#include "server/latency_window.h"
#include "server/pending_call.h"
#include "server/status_convert.h"

namespace jobpool {
namespace {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

ServerUnaryReactor* Done(CallbackServerContext* context,
                         const absl::Status& status) {
  ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

std::vector<const v1::JobSpec*> Specs(
    const google::protobuf::RepeatedPtrField<v1::JobSpec>& jobs) {
  std::vector<const v1::JobSpec*> out;
  out.reserve(static_cast<size_t>(jobs.size()));
  for (const v1::JobSpec& spec : jobs) out.push_back(&spec);
  return out;
}

// A server stream that queues messages and writes them one at a time, then
// finishes once the queue is empty. Owns itself until OnDone().
template <typename Message>
class QueuedWriter : public grpc::ServerWriteReactor<Message> {
 public:
  void Send(Message message) {
    absl::MutexLock lock(&mu_);
    if (finishing_) return;
    queue_.push_back(std::move(message));
    if (!writing_) {
      writing_ = true;
      this->StartWrite(&queue_.front());
    }
  }

  // Finishes with `status` once everything queued so far is written.
  void FinishAfterWrites(absl::Status status) {
    absl::MutexLock lock(&mu_);
    if (finishing_) return;
    finishing_ = true;
    status_ = std::move(status);
    if (!writing_) this->Finish(ToGrpcStatus(status_));
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    queue_.pop_front();
    if (!ok) {  // The caller went away; OnCancel() cleans up.
      queue_.clear();
      writing_ = false;
      if (!finishing_) {
        finishing_ = true;
        this->Finish(grpc::Status::CANCELLED);
      } else {
        this->Finish(ToGrpcStatus(status_));
      }
      return;
    }
    if (!queue_.empty()) {
      this->StartWrite(&queue_.front());
      return;
    }
    writing_ = false;
    if (finishing_) this->Finish(ToGrpcStatus(status_));
  }

  void OnDone() override {
    OnFinished();
    std::shared_ptr<QueuedWriter> last = std::move(self_);
  }

 protected:
  // Called once, when gRPC is done with the stream.
  virtual void OnFinished() {}
  std::shared_ptr<QueuedWriter> self_;

 private:
  absl::Mutex mu_;
  std::deque<Message> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

// RunBatch: creates the batch, streams each result (or throttled progress)
// and a final summary, then closes.
class RunBatchStream final : public QueuedWriter<v1::RunBatchResponse> {
 public:
  static RunBatchStream* Start(JobManager* manager,
                               const v1::RunBatchRequest& request) {
    auto stream = std::shared_ptr<RunBatchStream>(new RunBatchStream(manager));
    stream->self_ = stream;
    stream->Begin(request);
    return stream.get();
  }

  void OnCancel() override { Detach(); }

 private:
  explicit RunBatchStream(JobManager* manager) : manager_(manager) {}

  void Begin(const v1::RunBatchRequest& request) {
    progress_mode_ = request.has_progress_interval();
    if (progress_mode_) interval_ = FromProto(request.progress_interval());
    v1::BatchOptions options;
    options.set_fail_fast(request.fail_fast());
    auto created = manager_->CreateBatch(request.pool(), {}, options);
    if (!created.ok()) {
      FinishAfterWrites(created.status());
      return;
    }
    batch_id_ = created->batch_id();
    v1::RunBatchResponse first;
    first.set_batch_id(batch_id_);
    Send(std::move(first));
    std::shared_ptr<RunBatchStream> self = Self();
    auto watcher = manager_->WatchBatchJobs(
        batch_id_, [self](v1::Job job) { self->OnJob(std::move(job)); });
    auto waiter = manager_->WaitBatch(batch_id_, false,
                                      [self](v1::WaitBatchResponse done) {
                                        self->OnComplete(std::move(done));
                                      });
    {
      absl::MutexLock lock(&mu_);
      watcher_ = watcher.value_or(0);
      waiter_ = waiter.value_or(0);
    }
    auto added = manager_->AddToBatch(batch_id_, Specs(request.jobs()));
    if (!added.ok()) {
      Detach();
      FinishAfterWrites(added.status());
      return;
    }
    (void)manager_->SealBatch(batch_id_);
  }

  std::shared_ptr<RunBatchStream> Self() {
    return std::static_pointer_cast<RunBatchStream>(self_);
  }

  void OnJob(v1::Job job) {
    if (!progress_mode_) {
      v1::RunBatchResponse message;
      *message.mutable_job() = std::move(job);
      Send(std::move(message));
    } else if (ProgressDue()) {
      auto now = manager_->GetBatch(batch_id_, false);
      if (now.ok()) {
        v1::RunBatchResponse message;
        *message.mutable_progress() = *std::move(now);
        Send(std::move(message));
      }
    }
    {
      // Counted only once queued, so the summary cannot overtake a result.
      absl::MutexLock lock(&mu_);
      ++seen_;
    }
    MaybeFinish();
  }

  bool ProgressDue() {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    if (now - last_progress_ < interval_) return false;
    last_progress_ = now;
    return true;
  }

  void OnComplete(v1::WaitBatchResponse summary) {
    {
      absl::MutexLock lock(&mu_);
      final_ = std::move(summary);
      complete_ = true;
    }
    MaybeFinish();
  }

  // Finishes once the batch is complete and every result has been queued.
  void MaybeFinish() {
    v1::RunBatchResponse last;
    {
      absl::MutexLock lock(&mu_);
      if (!complete_ || sent_final_ || seen_ < final_.summary().total()) return;
      sent_final_ = true;
      *last.mutable_progress() = final_;
    }
    Send(std::move(last));
    Detach();
    FinishAfterWrites(absl::OkStatus());
  }

  void Detach() {
    uint64_t watcher;
    uint64_t waiter;
    {
      absl::MutexLock lock(&mu_);
      watcher = watcher_;
      waiter = waiter_;
      watcher_ = waiter_ = 0;
    }
    if (batch_id_.empty()) return;
    if (watcher != 0) manager_->RemoveBatchWatcher(batch_id_, watcher);
    if (waiter != 0) manager_->RemoveBatchWaiter(batch_id_, waiter);
  }

  void OnFinished() override { Detach(); }

  JobManager* const manager_;
  bool progress_mode_ = false;
  absl::Duration interval_;
  std::string batch_id_;
  absl::Mutex mu_;
  uint64_t watcher_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t waiter_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t seen_ ABSL_GUARDED_BY(mu_) = 0;
  bool complete_ ABSL_GUARDED_BY(mu_) = false;
  bool sent_final_ ABSL_GUARDED_BY(mu_) = false;
  v1::WaitBatchResponse final_ ABSL_GUARDED_BY(mu_);
  absl::Time last_progress_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// WatchStats: a snapshot now and every interval, until the caller leaves.
class StatsStream final : public QueuedWriter<v1::StatsResponse> {
 public:
  static StatsStream* Start(JobManager* manager, absl::Duration interval) {
    auto stream =
        std::shared_ptr<StatsStream>(new StatsStream(manager, interval));
    stream->self_ = stream;
    stream->Tick(true);
    return stream.get();
  }

  void OnCancel() override {
    alarm_.Cancel();
    FinishAfterWrites(absl::CancelledError("caller went away"));
  }

 private:
  StatsStream(JobManager* manager, absl::Duration interval)
      : manager_(manager), interval_(interval) {}

  void Tick(bool ok) {
    if (!ok) return;  // Cancelled.
    Send(manager_->Stats());
    // A weak reference: the alarm belongs to the stream and must not keep
    // it alive.
    std::weak_ptr<StatsStream> weak =
        std::static_pointer_cast<StatsStream>(self_);
    alarm_.Set(absl::ToChronoTime(absl::Now() + interval_), [weak](bool fired) {
      if (auto self = weak.lock()) self->Tick(fired);
    });
  }

  void OnFinished() override { alarm_.Cancel(); }

  JobManager* const manager_;
  const absl::Duration interval_;
  grpc::Alarm alarm_;
};

}  // namespace

JobPoolService::JobPoolService(JobManager* manager) : manager_(manager) {
  admin_ = *Pool::Create(2);
}

JobPoolService::~JobPoolService() = default;

ServerUnaryReactor* JobPoolService::Submit(CallbackServerContext* context,
                                           const v1::SubmitRequest* request,
                                           v1::SubmitResponse* response) {
  auto call = PendingCall::Start(context);
  const bool wait_for_result = request->wait_for_result();
  auto id = manager_->Submit(
      request->pool(), request->job(),
      [call, response, wait_for_result](absl::Status status, v1::Job job) {
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
      });
  if (!id.ok()) {
    call->Complete(ToGrpcStatus(id.status()));
    return call.get();
  }
  uint64_t waiter = 0;
  if (wait_for_result) {
    auto waited = manager_->WaitJob(*id, [call, response](v1::Job job) {
      call->Complete(grpc::Status::OK,
                     [&] { *response->mutable_job() = std::move(job); });
    });
    waiter = waited.value_or(0);
  }
  call->OnCallerGone(
      [manager = manager_, id = *id, waiter] { manager->Abandon(id, waiter); });
  return call.get();
}

ServerUnaryReactor* JobPoolService::GetJob(CallbackServerContext* context,
                                           const v1::GetJobRequest* request,
                                           v1::GetJobResponse* response) {
  auto job = manager_->GetJob(request->id());
  if (job.ok()) *response->mutable_job() = *std::move(job);
  return Done(context, job.status());
}

ServerUnaryReactor* JobPoolService::WaitJob(CallbackServerContext* context,
                                            const v1::WaitJobRequest* request,
                                            v1::WaitJobResponse* response) {
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
  auto job = manager_->CancelJob(request->id());
  if (job.ok()) *response->mutable_job() = *std::move(job);
  return Done(context, job.status());
}

ServerUnaryReactor* JobPoolService::CreateBatch(
    CallbackServerContext* context, const v1::CreateBatchRequest* request,
    v1::CreateBatchResponse* response) {
  auto created = manager_->CreateBatch(request->pool(), Specs(request->jobs()),
                                       request->options());
  if (created.ok()) *response = *std::move(created);
  return Done(context, created.status());
}

ServerUnaryReactor* JobPoolService::AddToBatch(
    CallbackServerContext* context, const v1::AddToBatchRequest* request,
    v1::AddToBatchResponse* response) {
  auto ids = manager_->AddToBatch(request->batch_id(), Specs(request->jobs()));
  if (ids.ok()) {
    for (std::string& id : *ids) response->add_job_ids(std::move(id));
  }
  return Done(context, ids.status());
}

ServerUnaryReactor* JobPoolService::SealBatch(
    CallbackServerContext* context, const v1::SealBatchRequest* request,
    v1::SealBatchResponse* /*response*/) {
  return Done(context, manager_->SealBatch(request->batch_id()));
}

ServerUnaryReactor* JobPoolService::GetBatch(CallbackServerContext* context,
                                             const v1::GetBatchRequest* request,
                                             v1::WaitBatchResponse* response) {
  auto batch = manager_->GetBatch(request->batch_id(), request->include_jobs());
  if (batch.ok()) *response = *std::move(batch);
  return Done(context, batch.status());
}

ServerUnaryReactor* JobPoolService::WaitBatch(
    CallbackServerContext* context, const v1::WaitBatchRequest* request,
    v1::WaitBatchResponse* response) {
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
    CallbackServerContext* /*context*/, const v1::RunBatchRequest* request) {
  return RunBatchStream::Start(manager_, *request);
}

ServerUnaryReactor* JobPoolService::Tune(CallbackServerContext* context,
                                         const v1::TuneRequest* request,
                                         v1::TuneResponse* response) {
  auto stats = manager_->Tune(request->pool(), request->size());
  if (stats.ok()) *response->mutable_pool() = *std::move(stats);
  return Done(context, stats.status());
}

ServerUnaryReactor* JobPoolService::Reboot(CallbackServerContext* context,
                                           const v1::RebootRequest* request,
                                           v1::RebootResponse* response) {
  auto stats = manager_->Reboot(request->pool());
  if (stats.ok()) *response->mutable_pool() = *std::move(stats);
  return Done(context, stats.status());
}

ServerUnaryReactor* JobPoolService::Release(CallbackServerContext* context,
                                            const v1::ReleaseRequest* request,
                                            v1::ReleaseResponse* response) {
  auto call = PendingCall::Start(context);
  const absl::Duration timeout = FromProto(request->timeout());
  // ReleaseTimeout blocks until the workers exit: run it off the RPC threads.
  absl::Status queued = admin_->Submit(
      [manager = manager_, call, response, pool = request->pool(), timeout] {
        auto released = manager->Release(pool, timeout);
        call->Complete(ToGrpcStatus(released.status()), [&] {
          if (released.ok()) *response = *std::move(released);
        });
      });
  if (!queued.ok()) call->Complete(ToGrpcStatus(queued));
  return call.get();
}

ServerUnaryReactor* JobPoolService::Stats(CallbackServerContext* context,
                                          const v1::StatsRequest* /*request*/,
                                          v1::StatsResponse* response) {
  *response = manager_->Stats();
  return Done(context, absl::OkStatus());
}

grpc::ServerWriteReactor<v1::StatsResponse>* JobPoolService::WatchStats(
    CallbackServerContext* /*context*/, const v1::WatchStatsRequest* request) {
  absl::Duration interval = request->has_interval()
                                ? FromProto(request->interval())
                                : absl::Seconds(1);
  interval = std::max(interval, absl::Milliseconds(100));
  return StatsStream::Start(manager_, interval);
}

ServerUnaryReactor* JobPoolService::ListKinds(
    CallbackServerContext* context, const v1::ListKindsRequest* /*request*/,
    v1::ListKindsResponse* response) {
  for (const Kind* kind : manager_->Kinds()) {
    v1::KindInfo* info = response->add_kinds();
    info->set_name(kind->name);
    info->set_description(kind->description);
  }
  return Done(context, absl::OkStatus());
}

}  // namespace jobpool
