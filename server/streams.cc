#include "server/streams.h"

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/internal/mutex.h"
#include "grpcpp/alarm.h"
#include "proto/proto_time.h"
#include "proto/status_convert.h"

namespace jobpool {
namespace {

std::atomic<int64_t> queued_messages{0};

// A server stream that queues messages and writes them one at a time, then
// finishes once the queue is empty. Owns itself until OnDone().
template <typename Message>
class QueuedWriter : public grpc::ServerWriteReactor<Message> {
 public:
  ~QueuedWriter() override {
    queued_messages.fetch_sub(static_cast<int64_t>(queue_.size()));
  }

  void Send(Message message) {
    internal::MutexLock lock(&mu_);
    if (finishing_) return;
    queue_.push_back(std::move(message));
    queued_messages.fetch_add(1);
    if (!writing_) {
      writing_ = true;
      this->StartWrite(&queue_.front());
    }
  }

  // As Send() if fewer than `limit` messages are queued; false otherwise.
  bool TrySend(Message& message, int limit) {
    internal::MutexLock lock(&mu_);
    if (finishing_) return true;
    if (static_cast<int>(queue_.size()) >= limit) return false;
    queue_.push_back(std::move(message));
    queued_messages.fetch_add(1);
    if (!writing_) {
      writing_ = true;
      this->StartWrite(&queue_.front());
    }
    return true;
  }

  // As Send(), but replaces the message still waiting behind the one being
  // written: for snapshots, where only the latest matters.
  void SendLatest(Message message) {
    {
      internal::MutexLock lock(&mu_);
      if (finishing_) return;
      if (queue_.size() >= 2) {
        queue_.back() = std::move(message);
        return;
      }
    }
    Send(std::move(message));
  }

  // Messages queued and not yet written.
  int Queued() {
    internal::MutexLock lock(&mu_);
    return static_cast<int>(queue_.size());
  }

  // Finishes with `status` once everything queued so far is written.
  void FinishAfterWrites(absl::Status status) {
    internal::MutexLock lock(&mu_);
    if (finishing_) return;
    finishing_ = true;
    status_ = std::move(status);
    if (!writing_) this->Finish(ToGrpcStatus(status_));
  }

  void OnWriteDone(bool ok) override {
    bool room = false;
    {
      internal::MutexLock lock(&mu_);
      room = WriteDoneLocked(ok);
    }
    if (room) OnRoom();
  }

  void OnDone() override {
    OnFinished();
    std::shared_ptr<QueuedWriter> last = std::move(self_);
  }

 protected:
  // Called once, when gRPC is done with the stream.
  virtual void OnFinished() {}
  // Called when the queue has drained to half of kMaxQueuedMessages.
  virtual void OnRoom() {}
  std::shared_ptr<QueuedWriter> self_;

 private:
  // Returns whether the queue just drained to the low-water mark.
  bool WriteDoneLocked(bool ok) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    queue_.pop_front();
    queued_messages.fetch_sub(1);
    if (!ok) {  // The caller went away; OnCancel() cleans up.
      queued_messages.fetch_sub(static_cast<int64_t>(queue_.size()));
      queue_.clear();
      writing_ = false;
      if (!finishing_) {
        finishing_ = true;
        this->Finish(grpc::Status::CANCELLED);
      } else {
        this->Finish(ToGrpcStatus(status_));
      }
      return false;
    }
    const bool room = !finishing_ && queue_.size() == kMaxQueuedMessages / 2;
    if (!queue_.empty()) {
      this->StartWrite(&queue_.front());
      return room;
    }
    writing_ = false;
    if (finishing_) this->Finish(ToGrpcStatus(status_));
    return !finishing_;
  }

  internal::Mutex mu_;
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
      internal::MutexLock lock(&mu_);
      watcher_ = watcher.value_or(0);
      waiter_ = waiter.value_or(0);
    }
    auto added = manager_->AddToBatch(batch_id_, SpecPointers(request.jobs()));
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
      // A reader that is behind gets its results from the manager when it
      // catches up, rather than from a queue that grows with the batch.
      bool deferred = false;
      {
        internal::MutexLock lock(&mu_);
        deferred = !deferred_.empty();
        if (deferred) deferred_.push_back(job.id());
      }
      if (!deferred) {
        std::string id = job.id();
        v1::RunBatchResponse message;
        *message.mutable_job() = std::move(job);
        if (!TrySend(message, kMaxQueuedMessages)) {
          internal::MutexLock lock(&mu_);
          deferred_.push_back(std::move(id));
        }
      }
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
      internal::MutexLock lock(&mu_);
      ++seen_;
    }
    MaybeFinish();
  }

  bool ProgressDue() {
    internal::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    if (now - last_progress_ < interval_) return false;
    last_progress_ = now;
    return true;
  }

  void OnComplete(v1::WaitBatchResponse summary) {
    {
      internal::MutexLock lock(&mu_);
      final_ = std::move(summary);
      complete_ = true;
    }
    MaybeFinish();
  }

  // Queues deferred results until the queue is full again.
  void OnRoom() override {
    while (true) {
      std::string id;
      {
        internal::MutexLock lock(&mu_);
        if (deferred_.empty()) break;
        id = std::move(deferred_.front());
        deferred_.pop_front();
        ++refilling_;  // Not done until queued: MaybeFinish waits for it.
      }
      v1::RunBatchResponse message;
      auto job = manager_->GetJob(id);
      if (job.ok()) {
        *message.mutable_job() = *std::move(job);
      } else {  // Forgotten already (retention): say so rather than skip it.
        message.mutable_job()->set_id(id);
        message.mutable_job()->set_error(std::string(job.status().message()));
      }
      const bool sent = TrySend(message, kMaxQueuedMessages);
      internal::MutexLock lock(&mu_);
      --refilling_;
      if (!sent) {  // Full again: the next drain picks it up.
        deferred_.push_front(std::move(id));
        break;
      }
    }
    MaybeFinish();
  }

  // Finishes once the batch is complete and every result has been queued.
  void MaybeFinish() {
    v1::RunBatchResponse last;
    {
      internal::MutexLock lock(&mu_);
      if (!complete_ || sent_final_ || seen_ < final_.summary().total() ||
          !deferred_.empty() || refilling_ > 0) {
        return;
      }
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
      internal::MutexLock lock(&mu_);
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
  internal::Mutex mu_;
  uint64_t watcher_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t waiter_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t seen_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<std::string> deferred_ ABSL_GUARDED_BY(mu_);
  int refilling_ ABSL_GUARDED_BY(mu_) = 0;
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
    v1::StatsResponse stats = manager_->Stats();
    stats.set_stream_queued_messages(StreamQueuedMessages());
    SendLatest(std::move(stats));
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

int64_t StreamQueuedMessages() { return queued_messages.load(); }

grpc::ServerWriteReactor<v1::RunBatchResponse>* StartRunBatch(
    JobManager* manager, const v1::RunBatchRequest& request) {
  return RunBatchStream::Start(manager, request);
}

grpc::ServerWriteReactor<v1::StatsResponse>* StartWatchStats(
    JobManager* manager, absl::Duration interval) {
  return StatsStream::Start(manager, interval);
}

}  // namespace jobpool
