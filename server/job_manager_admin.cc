#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/status_convert.h"
#include "server/job_manager.h"
#include "server/job_manager_internal.h"
#include "server/process_stats.h"

namespace jobpool {

using internal::Count;
using internal::EraseId;
using internal::IsFinal;

// Pool administration, statistics and drain.

void JobManager::SetObserver(JobObserver* observer) {
  internal::MutexLock lock(&mu_);
  observer_ = observer;
}

v1::PoolStats JobManager::PoolStatsLocked(const PoolEntry& entry) const {
  const PoolStats s = entry.pool->Stats();
  v1::PoolStats out;
  out.set_name(entry.name);
  out.set_state(s.closed ? v1::POOL_STATE_RELEASED : v1::POOL_STATE_OPEN);
  out.set_capacity(s.capacity);
  out.set_running(s.running);
  out.set_busy(s.busy);
  out.set_free(s.free);
  out.set_waiting(s.waiting);
  *out.mutable_totals() = entry.totals;
  for (const auto& [kind, totals] : entry.kinds) {
    v1::KindStats* k = out.add_kinds();
    k->set_kind(kind);
    *k->mutable_totals() = totals;
  }
  *out.mutable_queue_wait() = entry.queue_wait.Percentiles();
  *out.mutable_run_time() = entry.run_time.Percentiles();
  out.set_workers_spawned(s.spawned);
  out.set_workers_purged(s.purged);
  int32_t overdue = 0;
  for (const JobRecord* job : entry.running) {
    if (job->token->IsCancelled()) ++overdue;
  }
  out.set_overdue(overdue);
  return out;
}

absl::StatusOr<v1::PoolStats> JobManager::Tune(absl::string_view pool_name,
                                               int size) {
  Pool* pool;
  {
    internal::MutexLock lock(&mu_);
    auto entry = FindPool(pool_name);
    if (!entry.ok()) return entry.status();
    pool = (*entry)->pool.get();
  }
  if (absl::Status s = pool->Tune(size); !s.ok()) return s;
  internal::MutexLock lock(&mu_);
  return PoolStatsLocked(**FindPool(pool_name));
}

absl::StatusOr<v1::PoolStats> JobManager::Reboot(absl::string_view pool_name) {
  Pool* pool;
  {
    internal::MutexLock lock(&mu_);
    auto entry = FindPool(pool_name);
    if (!entry.ok()) return entry.status();
    pool = (*entry)->pool.get();
  }
  pool->Reboot();
  internal::MutexLock lock(&mu_);
  return PoolStatsLocked(**FindPool(pool_name));
}

absl::StatusOr<v1::ReleaseResponse> JobManager::Release(
    absl::string_view pool_name, absl::Duration timeout) {
  Pool* pool;
  {
    internal::MutexLock lock(&mu_);
    auto entry = FindPool(pool_name);
    if (!entry.ok()) return entry.status();
    pool = (*entry)->pool.get();
  }
  const absl::Status released = pool->ReleaseTimeout(timeout);
  if (IsPoolClosed(released)) return released;
  v1::ReleaseResponse response;
  response.set_drained(released.ok());
  internal::MutexLock lock(&mu_);
  *response.mutable_pool() = PoolStatsLocked(**FindPool(pool_name));
  return response;
}

v1::StatsResponse JobManager::Stats() {
  v1::StatsResponse out;
  const ProcessStats process = ReadProcessStats();
  internal::MutexLock lock(&mu_);
  EvictLocked(absl::Now());
  out.set_replica(options_.replica);
  out.set_draining(draining_);
  ToProto(absl::Now() - started_, out.mutable_uptime());
  out.set_rss_bytes(process.rss_bytes);
  out.set_peak_rss_bytes(process.peak_rss_bytes);
  out.set_threads(process.threads);
  v1::JobTotals* totals = out.mutable_totals();
  for (const auto& [name, entry] : pools_) {
    *out.add_pools() = PoolStatsLocked(*entry);
    const v1::JobTotals& t = entry->totals;
    totals->set_submitted(totals->submitted() + t.submitted());
    totals->set_succeeded(totals->succeeded() + t.succeeded());
    totals->set_failed(totals->failed() + t.failed());
    totals->set_cancelled(totals->cancelled() + t.cancelled());
    totals->set_timed_out(totals->timed_out() + t.timed_out());
    totals->set_rejected(totals->rejected() + t.rejected());
  }
  out.set_retained_jobs(static_cast<int64_t>(jobs_.size()));
  out.set_retained_batches(static_cast<int64_t>(batches_.size()));
  return out;
}

void JobManager::Drain() {
  internal::MutexLock lock(&mu_);
  draining_ = true;
}

bool JobManager::IsDraining() const {
  internal::MutexLock lock(&mu_);
  return draining_;
}

bool JobManager::AwaitIdle(absl::Time deadline) {
  std::vector<std::pair<Pool*, Ticket>> tickets;
  {
    internal::MutexLock lock(&mu_);
    while (live_jobs_ != 0 && absl::Now() < deadline) {
      idle_cv_.WaitWithDeadline(&mu_, deadline);
    }
    if (live_jobs_ == 0) return true;
    // Past the deadline: cancel what still runs, withdraw what still waits.
    for (auto& [id, job] : jobs_) {
      std::vector<Ticket> mine;
      (void)CancelLocked(job, "cancelled: server shutting down", &mine);
      for (Ticket t : mine) {
        tickets.emplace_back(pools_.find(job->pool)->second->pool.get(), t);
      }
    }
  }
  for (auto& [pool, ticket] : tickets) pool->Cancel(ticket);
  return false;
}

}  // namespace jobpool
