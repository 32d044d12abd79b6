#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/pool_errors.h"
#include "core/status_macros.h"
#include "proto/status_convert.h"
#include "server/job_manager.h"
#include "server/job_manager_internal.h"

namespace jobpool {

using internal::Count;
using internal::EraseId;
using internal::IsFinal;

// Batches: remote WaitGroups over jobs.

v1::WaitBatchResponse JobManager::BatchToProtoLocked(const BatchRecord& batch,
                                                     bool include_jobs) const {
  v1::WaitBatchResponse out;
  out.set_batch_id(batch.id);
  out.set_sealed(batch.sealed);
  out.set_complete(batch.IsComplete());
  *out.mutable_summary() = batch.summary;
  const v1::BatchSummary& s = batch.summary;
  out.set_success(batch.IsComplete() && s.succeeded() == s.total());
  int64_t pending = 0;
  int64_t running = 0;
  for (const JobPtr& job : batch.jobs) {
    if (job->state == v1::JOB_STATE_PENDING) ++pending;
    if (job->state == v1::JOB_STATE_RUNNING) ++running;
    if (include_jobs) *out.add_jobs() = ToProtoLocked(*job);
  }
  out.mutable_summary()->set_pending(pending);
  out.mutable_summary()->set_running(running);
  return out;
}

absl::Status JobManager::AdmitBatchJobsLocked(
    PoolEntry& pool, BatchRecord& batch,
    const std::vector<const v1::JobSpec*>& specs, std::vector<JobPtr>* jobs) {
  // Everything that could refuse a job is checked before any is recorded,
  // so a batch takes all of its jobs or none.
  if (draining_) {
    return WithRetryDelay(absl::UnavailableError("server is draining"),
                          options_.retry_after);
  }
  if (static_cast<int64_t>(batch.jobs.size() + specs.size()) >
      options_.max_batch_jobs) {
    return absl::InvalidArgumentError(
        absl::StrCat("a batch of ", batch.jobs.size() + specs.size(),
                     " jobs is over the limit of ", options_.max_batch_jobs,
                     " (--max_batch_jobs)"));
  }
  int64_t payload_bytes = 0;
  for (const v1::JobSpec* spec : specs) {
    payload_bytes += static_cast<int64_t>(spec->payload().size());
  }
  if (absl::Status room =
          RoomLocked(pool, static_cast<int64_t>(specs.size()), payload_bytes);
      !room.ok()) {
    return room;
  }
  if (live_jobs_ + static_cast<int64_t>(specs.size()) >
      options_.max_live_jobs) {
    return WithRetryDelay(
        absl::ResourceExhaustedError(
            "retention full: batch too large now (--max_retained_jobs)"),
        options_.retry_after);
  }
  if (absl::Status valid = CheckBatchSpecs(specs); !valid.ok()) return valid;
  for (const v1::JobSpec* spec : specs) {
    bool reused = false;
    auto job = NewJobLocked(pool, *spec, &batch, &reused);
    // Unreachable after the checks above; if it happens, the caller rejects
    // the jobs recorded so far rather than leaving them pending.
    if (!job.ok()) return job.status();
    jobs->push_back(*std::move(job));
  }
  return absl::OkStatus();
}

absl::Status JobManager::DispatchBatchJobs(const std::vector<JobPtr>& jobs,
                                           const absl::Status& recorded) {
  for (const JobPtr& job : jobs) {
    if (recorded.ok()) {
      (void)Dispatch(job, nullptr);  // A refusal is recorded on the job.
    } else {
      Finish(job, v1::JOB_STATE_REJECTED, "", std::string(recorded.message()));
    }
  }
  return recorded;
}

absl::StatusOr<v1::CreateBatchResponse> JobManager::CreateBatch(
    absl::string_view pool_name, const std::vector<const v1::JobSpec*>& specs,
    const v1::BatchOptions& options) {
  v1::CreateBatchResponse response;
  std::vector<JobPtr> jobs;
  absl::Status recorded;
  {
    internal::MutexLock lock(&mu_);
    auto pool = FindPool(pool_name);
    if (!pool.ok()) return pool.status();
    EvictLocked(absl::Now(), /*new_batches=*/1);
    if (static_cast<int64_t>(batches_.size()) >=
        options_.max_retained_batches) {
      return WithRetryDelay(
          absl::ResourceExhaustedError(absl::StrCat(
              "batches full: ", batches_.size(),
              " unfinished batches retained (--max_retained_batches)")),
          options_.retry_after);
    }
    auto batch = std::make_unique<BatchRecord>();
    batch->id = absl::StrCat(options_.replica, "/batch/", next_id_++);
    batch->pool = (*pool)->name;
    batch->fail_fast = options.fail_fast();
    batch->sealed = options.seal();
    recorded = AdmitBatchJobsLocked(**pool, *batch, specs, &jobs);
    if (!recorded.ok() && jobs.empty()) return recorded;
    response.set_batch_id(batch->id);
    for (const JobPtr& job : jobs) response.add_job_ids(job->id);
    batches_.emplace(batch->id, std::move(batch));
  }
  JOBPOOL_RETURN_IF_ERROR(DispatchBatchJobs(jobs, recorded));
  return response;
}

absl::StatusOr<std::vector<std::string>> JobManager::AddToBatch(
    absl::string_view batch_id, const std::vector<const v1::JobSpec*>& specs) {
  std::vector<JobPtr> jobs;
  absl::Status recorded;
  {
    internal::MutexLock lock(&mu_);
    auto batch = FindBatchLocked(batch_id);
    if (!batch.ok()) return batch.status();
    if ((*batch)->sealed) {
      return absl::FailedPreconditionError(
          absl::StrCat("batch \"", batch_id, "\" is sealed"));
    }
    auto pool = FindPool((*batch)->pool);
    if (!pool.ok()) return pool.status();
    recorded = AdmitBatchJobsLocked(**pool, **batch, specs, &jobs);
  }
  JOBPOOL_RETURN_IF_ERROR(DispatchBatchJobs(jobs, recorded));
  std::vector<std::string> ids;
  ids.reserve(jobs.size());
  for (const JobPtr& job : jobs) ids.push_back(job->id);
  return ids;
}

absl::Status JobManager::SealBatch(absl::string_view batch_id) {
  std::vector<std::pair<bool, BatchFn>> waiters;
  v1::WaitBatchResponse full;
  v1::WaitBatchResponse summary;
  {
    internal::MutexLock lock(&mu_);
    auto batch = FindBatchLocked(batch_id);
    if (!batch.ok()) return batch.status();
    BatchRecord& b = **batch;
    if (b.sealed) return absl::OkStatus();
    b.sealed = true;
    if (!b.IsComplete()) return absl::OkStatus();
    b.finished_at = absl::Now();
    finished_batches_.push_back(b.id);
    for (auto& [id, w] : b.waiters) waiters.push_back(std::move(w));
    b.waiters.clear();
    full = BatchToProtoLocked(b, true);
    summary = BatchToProtoLocked(b, false);
  }
  for (auto& [include, fn] : waiters) fn(include ? full : summary);
  return absl::OkStatus();
}

absl::StatusOr<v1::WaitBatchResponse> JobManager::CancelBatch(
    absl::string_view batch_id) {
  // Sealing first means no job can join while the others are cancelled,
  // and the batch completes once the cancelled jobs have ended.
  JOBPOOL_RETURN_IF_ERROR(SealBatch(batch_id));
  std::vector<Ticket> tickets;
  Pool* pool = nullptr;
  {
    internal::MutexLock lock(&mu_);
    auto batch = FindBatchLocked(batch_id);
    if (!batch.ok()) return batch.status();
    pool = pools_.find((*batch)->pool)->second->pool.get();
    for (const JobPtr& job : (*batch)->jobs) {
      (void)CancelLocked(job, "cancelled by request (whole batch)", &tickets);
    }
  }
  // Queued jobs are withdrawn here; their admission callbacks finish them.
  for (Ticket ticket : tickets) pool->Cancel(ticket);
  return GetBatch(batch_id, false);
}

absl::StatusOr<v1::WaitBatchResponse> JobManager::GetBatch(
    absl::string_view batch_id, bool include_jobs) {
  internal::MutexLock lock(&mu_);
  auto batch = FindBatchLocked(batch_id);
  if (!batch.ok()) return batch.status();
  return BatchToProtoLocked(**batch, include_jobs);
}

absl::StatusOr<uint64_t> JobManager::WaitBatch(absl::string_view batch_id,
                                               bool include_jobs,
                                               BatchFn done) {
  v1::WaitBatchResponse now;
  {
    internal::MutexLock lock(&mu_);
    auto batch = FindBatchLocked(batch_id);
    if (!batch.ok()) return batch.status();
    if (!(*batch)->IsComplete()) {
      const uint64_t id = (*batch)->next_waiter++;
      (*batch)->waiters.emplace_back(
          id, std::make_pair(include_jobs, std::move(done)));
      return id;
    }
    now = BatchToProtoLocked(**batch, include_jobs);
  }
  done(std::move(now));
  return 0;
}

void JobManager::RemoveBatchWaiter(absl::string_view batch_id,
                                   uint64_t waiter) {
  internal::MutexLock lock(&mu_);
  auto batch = FindBatchLocked(batch_id);
  if (!batch.ok()) return;
  EraseId((*batch)->waiters, waiter);
}

absl::StatusOr<uint64_t> JobManager::WatchBatchJobs(absl::string_view batch_id,
                                                    JobFn each) {
  internal::MutexLock lock(&mu_);
  auto batch = FindBatchLocked(batch_id);
  if (!batch.ok()) return batch.status();
  const uint64_t id = (*batch)->next_waiter++;
  (*batch)->watchers.emplace_back(id, std::make_shared<JobFn>(std::move(each)));
  return id;
}

void JobManager::RemoveBatchWatcher(absl::string_view batch_id,
                                    uint64_t watcher) {
  internal::MutexLock lock(&mu_);
  auto batch = FindBatchLocked(batch_id);
  if (!batch.ok()) return;
  EraseId((*batch)->watchers, watcher);
}

}  // namespace jobpool
