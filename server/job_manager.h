#ifndef JOBPOOL_SERVER_JOB_MANAGER_H_
#define JOBPOOL_SERVER_JOB_MANAGER_H_

// JobManager
//
// Everything the service does, without gRPC: named pools, jobs and their
// lifecycle (PENDING -> RUNNING -> SUCCEEDED | FAILED | CANCELLED |
// TIMED_OUT, or REJECTED at admission), batches (remote WaitGroups),
// idempotency keys, bounded retention, drain, and statistics. Waiting is
// callbacks, never parked threads: a caller registers what to do when a job
// is admitted or finishes, or a batch completes, and may withdraw it.
//
// Callbacks run outside the manager's lock, on a pool worker or on the
// thread whose call decided the outcome.
//
// Thread safety: every method may be called concurrently.

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/internal/mutex.h"
#include "core/pool.h"
#include "jobpool/v1/jobpool.pb.h"
#include "server/job_observer.h"
#include "server/kind_registry.h"
#include "server/latency_window.h"

namespace jobpool {

// The specs of a repeated field, as the pointers JobManager's batch calls take.
inline std::vector<const v1::JobSpec*> SpecPointers(
    const google::protobuf::RepeatedPtrField<v1::JobSpec>& jobs) {
  std::vector<const v1::JobSpec*> out;
  out.reserve(static_cast<size_t>(jobs.size()));
  for (const v1::JobSpec& spec : jobs) out.push_back(&spec);
  return out;
}

struct PoolConfig {
  std::string name;
  int size = 0;  // <= 0: unbounded
  PoolOptions options;
};

struct ManagerOptions {
  std::string replica = "jobpoold";
  int64_t max_payload_bytes = 4 << 20;
  int64_t max_output_bytes = 1 << 20;
  // Finished jobs kept for lookup: at most this many, for at most this long.
  int64_t max_retained_jobs = 200'000;
  absl::Duration retention = absl::Minutes(10);
  // Unfinished jobs beyond this are refused with RESOURCE_EXHAUSTED.
  int64_t max_live_jobs = 200'000;
  absl::Duration default_job_timeout = absl::InfiniteDuration();
  // Parameters per job, and bytes of each name plus value.
  int max_params = 64;
  int64_t max_param_bytes = 4096;
  // Jobs in one batch, over all its CreateBatch/AddToBatch/RunBatch calls.
  int64_t max_batch_jobs = 100'000;
  // Batches kept (unfinished ones included); beyond it the oldest finished
  // batches are forgotten, and new batches are refused while every batch
  // kept is unfinished.
  int64_t max_retained_batches = 10'000;
  // Idempotency keys remembered (each lives as long as its job); a keyed
  // submission beyond it is refused with RESOURCE_EXHAUSTED.
  int64_t max_idempotency_keys = 100'000;
  // Payload bytes of unfinished jobs (a job's payload is freed once it has
  // run); submissions beyond it are refused with RESOURCE_EXHAUSTED.
  int64_t max_queued_payload_bytes = int64_t{1} << 30;
  // Output bytes of finished jobs kept for lookup: beyond it the oldest
  // finished jobs and batches are forgotten early, and while that cannot
  // make room (their batches are still open) submissions are refused with
  // RESOURCE_EXHAUSTED.
  int64_t max_retained_output_bytes = int64_t{1} << 30;
  // Retry advice sent with RESOURCE_EXHAUSTED and UNAVAILABLE.
  absl::Duration retry_after = absl::Milliseconds(100);
};

class JobManager {
 public:
  // Called once when a job's admission is decided: OK with the job RUNNING,
  // or the error (the job is then REJECTED or CANCELLED).
  using AdmitFn = absl::AnyInvocable<void(absl::Status, v1::Job)>;
  using JobFn = absl::AnyInvocable<void(v1::Job)>;
  using BatchFn = absl::AnyInvocable<void(v1::WaitBatchResponse)>;

  static absl::StatusOr<std::unique_ptr<JobManager>> Create(
      ManagerOptions options, std::vector<PoolConfig> pools,
      const KindRegistry* kinds);
  ~JobManager();

  // What Submit() created: the job id, and the handle of its `on_finish`
  // waiter (0 if none) for Abandon().
  struct Submission {
    std::string id;
    uint64_t waiter = 0;
  };

  // Submits one job; `on_admit` is called as AdmitFn says, unless the job
  // is refused at once, which is returned instead. `on_finish`, if given,
  // is called when the job ends (registered before it can end).
  absl::StatusOr<Submission> Submit(absl::string_view pool,
                                    const v1::JobSpec& spec, AdmitFn on_admit,
                                    JobFn on_finish = nullptr);
  absl::StatusOr<v1::Job> GetJob(absl::string_view id);
  // Calls `done` when the job has finished (at once if it has). Returns a
  // handle for RemoveJobWaiter().
  absl::StatusOr<uint64_t> WaitJob(absl::string_view id, JobFn done);
  void RemoveJobWaiter(absl::string_view id, uint64_t waiter);
  absl::StatusOr<v1::Job> CancelJob(absl::string_view id);
  // The submitter of `id` went away: drops `waiter` and withdraws the job if
  // it is still waiting for a worker (a running job carries on).
  void Abandon(absl::string_view id, uint64_t waiter);

  absl::StatusOr<v1::CreateBatchResponse> CreateBatch(
      absl::string_view pool, const std::vector<const v1::JobSpec*>& jobs,
      const v1::BatchOptions& options);
  absl::StatusOr<std::vector<std::string>> AddToBatch(
      absl::string_view batch_id, const std::vector<const v1::JobSpec*>& jobs);
  absl::Status SealBatch(absl::string_view batch_id);
  // Seals the batch and cancels every job of it that has not ended.
  absl::StatusOr<v1::WaitBatchResponse> CancelBatch(absl::string_view batch_id);
  absl::StatusOr<v1::WaitBatchResponse> GetBatch(absl::string_view batch_id,
                                                 bool include_jobs);
  // Calls `done` once the batch is complete (at once if it is).
  absl::StatusOr<uint64_t> WaitBatch(absl::string_view batch_id,
                                     bool include_jobs, BatchFn done);
  void RemoveBatchWaiter(absl::string_view batch_id, uint64_t waiter);
  // Calls `each` for every job of the batch as it finishes, from now on.
  absl::StatusOr<uint64_t> WatchBatchJobs(absl::string_view batch_id,
                                          JobFn each);
  void RemoveBatchWatcher(absl::string_view batch_id, uint64_t watcher);

  absl::StatusOr<v1::PoolStats> Tune(absl::string_view pool, int size);
  absl::StatusOr<v1::PoolStats> Reboot(absl::string_view pool);
  // Releases the pool and waits up to `timeout` for its workers to exit:
  // blocks, so call it off the RPC threads.
  absl::StatusOr<v1::ReleaseResponse> Release(absl::string_view pool,
                                              absl::Duration timeout);

  v1::StatsResponse Stats();

  // Tells `observer` about every job from now on (nullptr: nobody). Set it
  // before serving; it must outlive the manager.
  void SetObserver(JobObserver* observer) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<const Kind*> Kinds() const { return kinds_->List(); }

  // Refuses new jobs with UNAVAILABLE from now on.
  void Drain();
  bool IsDraining() const;
  // Waits until no job is pending or running, or until `deadline`; then
  // cancels whatever still runs. Returns true if everything had finished.
  bool AwaitIdle(absl::Time deadline);

 private:
  struct JobRecord;
  struct BatchRecord;
  struct PoolEntry;
  using JobPtr = std::shared_ptr<JobRecord>;

  JobManager(ManagerOptions options, const KindRegistry* kinds);

  absl::StatusOr<PoolEntry*> FindPool(absl::string_view name)
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Checks a job spec against the registry and limits; returns its kind.
  absl::StatusOr<const Kind*> CheckSpec(const v1::JobSpec& spec) const;
  // CheckSpec() for every job of a batch, which may carry no keys.
  absl::Status CheckBatchSpecs(
      const std::vector<const v1::JobSpec*>& specs) const;
  // Checks and records a new job (not yet handed to the pool).
  absl::StatusOr<JobPtr> NewJobLocked(PoolEntry& pool, const v1::JobSpec& spec,
                                      BatchRecord* batch, bool* reused)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records `specs` as new jobs of `batch` (all or, after a refusal, none
  // but those in `jobs`, which the caller must then reject).
  absl::Status AdmitBatchJobsLocked(
      PoolEntry& pool, BatchRecord& batch,
      const std::vector<const v1::JobSpec*>& specs, std::vector<JobPtr>* jobs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Dispatches recorded batch jobs, or rejects them if recording failed.
  absl::Status DispatchBatchJobs(const std::vector<JobPtr>& jobs,
                                 const absl::Status& recorded)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Hands a recorded job to its pool; on an immediate refusal the job is
  // REJECTED and the refusal returned.
  // `caller_waiter` is dropped on an immediate refusal, which the caller
  // hears as the returned status instead.
  absl::Status Dispatch(const JobPtr& job, AdmitFn on_admit,
                        uint64_t caller_waiter = 0) ABSL_LOCKS_EXCLUDED(mu_);
  void Admitted(const JobPtr& job, absl::Status status)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Run(const JobPtr& job) ABSL_LOCKS_EXCLUDED(mu_);
  // Moves `job` to a final state and runs everything waiting on it.
  void Finish(const JobPtr& job, v1::JobState state, std::string output,
              std::string error) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status CancelLocked(const JobPtr& job, std::string reason,
                            std::vector<Ticket>* tickets)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets finished jobs and batches past their retention or over the
  // limits, leaving room for `new_batches` more batches.
  void EvictLocked(absl::Time now, int64_t new_batches = 0)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  using BatchMap =
      absl::flat_hash_map<std::string, std::unique_ptr<BatchRecord>>;
  void EraseBatchLocked(BatchMap::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OK when `jobs` more jobs carrying `payload_bytes` fit the payload and
  // output budgets; RESOURCE_EXHAUSTED naming the limit otherwise.
  absl::Status RoomLocked(const PoolEntry& pool, int64_t jobs,
                          int64_t payload_bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::Job ToProtoLocked(const JobRecord& job) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  v1::WaitBatchResponse BatchToProtoLocked(const BatchRecord& batch,
                                           bool include_jobs) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  v1::PoolStats PoolStatsLocked(const PoolEntry& pool) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::StatusOr<JobPtr> FindJobLocked(absl::string_view id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::StatusOr<BatchRecord*> FindBatchLocked(absl::string_view id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::Status Refusal(absl::Status status) const;

  // Constant after construction.
  const ManagerOptions options_;
  const KindRegistry* const kinds_;
  const absl::Time started_;

  mutable internal::Mutex mu_;
  // Signalled when the last unfinished job ends (AwaitIdle).
  internal::CondVar idle_cv_;
  std::map<std::string, std::unique_ptr<PoolEntry>, std::less<>> pools_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, JobPtr> jobs_ ABSL_GUARDED_BY(mu_);
  // "<pool>\n<key>" -> job id.
  absl::flat_hash_map<std::string, std::string> keys_ ABSL_GUARDED_BY(mu_);
  BatchMap batches_ ABSL_GUARDED_BY(mu_);
  // Finished jobs and batches, oldest first, for retention.
  std::deque<std::string> finished_jobs_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> finished_batches_ ABSL_GUARDED_BY(mu_);
  int64_t live_jobs_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t live_payload_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t retained_output_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_waiter_ ABSL_GUARDED_BY(mu_) = 1;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  JobObserver* observer_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_JOB_MANAGER_H_
