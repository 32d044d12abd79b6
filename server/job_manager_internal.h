#ifndef JOBPOOL_SERVER_JOB_MANAGER_INTERNAL_H_
#define JOBPOOL_SERVER_JOB_MANAGER_INTERNAL_H_

// JobManager's records and helpers, shared by its .cc files (jobs,
// batches, administration). Not part of its interface.

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "proto/proto_time.h"
#include "server/cancel_token.h"
#include "server/job_manager.h"
#include "server/kind_registry.h"
#include "server/latency_window.h"

namespace jobpool {
namespace internal {

// Removes the entry registered under `id` from a list of (id, callback).
template <typename Entries>
void EraseId(Entries& entries, uint64_t id) {
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [id](const auto& e) { return e.first == id; }),
                entries.end());
}

inline bool IsFinal(v1::JobState state) {
  return state != v1::JOB_STATE_PENDING && state != v1::JOB_STATE_RUNNING;
}

// Counts a finished job in JobTotals or BatchSummary (same field names).
template <typename Totals>
void Count(v1::JobState state, Totals* totals) {
  switch (state) {
    case v1::JOB_STATE_SUCCEEDED:
      totals->set_succeeded(totals->succeeded() + 1);
      break;
    case v1::JOB_STATE_FAILED:
      totals->set_failed(totals->failed() + 1);
      break;
    case v1::JOB_STATE_CANCELLED:
      totals->set_cancelled(totals->cancelled() + 1);
      break;
    case v1::JOB_STATE_TIMED_OUT:
      totals->set_timed_out(totals->timed_out() + 1);
      break;
    case v1::JOB_STATE_REJECTED:
      totals->set_rejected(totals->rejected() + 1);
      break;
    default:
      break;
  }
}

}  // namespace internal

struct JobManager::JobRecord {
  std::string id;
  std::string pool;
  const Kind* kind = nullptr;
  std::string payload;  // Until the job runs (or ends without running).
  int64_t payload_bytes = 0;
  std::map<std::string, std::string> params;
  absl::Duration timeout = absl::InfiniteDuration();
  std::string key;
  std::string fingerprint;  // SHA-256 of the request, for idempotency checks
  BatchRecord* batch = nullptr;
  std::string batch_id;

  v1::JobState state = v1::JOB_STATE_PENDING;
  std::string output;
  std::string error;
  absl::Time queued_at;
  absl::Time started_at;
  absl::Time finished_at;
  std::optional<Ticket> ticket;  // while queued in the pool
  bool admitted = false;
  std::shared_ptr<CancelToken> token;
  // Why it was REJECTED, for metrics: "overloaded" or "released".
  std::string reject_reason;
  // Progress and process result, written by the handler as it runs.
  std::shared_ptr<JobReport> report = std::make_shared<JobReport>();
  AdmitFn on_admit;
  std::vector<std::pair<uint64_t, JobFn>> waiters;
};

struct JobManager::BatchRecord {
  std::string id;
  std::string pool;
  bool fail_fast = false;
  bool sealed = false;
  bool failed_fast = false;
  std::vector<JobPtr> jobs;
  int64_t unfinished = 0;
  v1::BatchSummary summary;
  absl::Time finished_at = absl::InfinitePast();
  std::vector<std::pair<uint64_t, std::pair<bool, BatchFn>>> waiters;
  std::vector<std::pair<uint64_t, std::shared_ptr<JobFn>>> watchers;
  uint64_t next_waiter = 1;

  bool IsComplete() const { return sealed && unfinished == 0; }
};

struct JobManager::PoolEntry {
  std::string name;
  std::unique_ptr<Pool> pool;
  v1::JobTotals totals;
  std::map<std::string, v1::JobTotals> kinds;
  LatencyWindow queue_wait;
  LatencyWindow run_time;
  // Jobs a worker is running now.
  absl::flat_hash_set<const JobRecord*> running;
};

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_JOB_MANAGER_INTERNAL_H_
