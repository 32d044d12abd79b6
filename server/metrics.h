#ifndef JOBPOOL_SERVER_METRICS_H_
#define JOBPOOL_SERVER_METRICS_H_

// Metrics
//
// jobpoold's Prometheus metrics (prometheus-cpp for the types and the text
// format), fed by JobManager (as its JobObserver) and by the gRPC
// interceptor; pool gauges are read from Stats at each scrape.
//
//   jobpool_jobs_submitted_total{pool,kind}
//   jobpool_jobs_finished_total{pool,kind,state}     state: succeeded, failed,
//                                                     cancelled, timed_out,
//                                                     rejected
//   jobpool_jobs_rejected_total{pool,reason}         reason: overloaded,
//   released,
//                                                     draining, retention_full
//   jobpool_queue_wait_seconds{pool,kind}            histogram
//   jobpool_run_seconds{pool,kind}                   histogram
//   jobpool_pool_capacity / _running / _busy / _waiting / _overdue {pool}
//   jobpool_grpc_server_started_total{method},
//   jobpool_grpc_server_in_flight{method},
//   jobpool_grpc_server_handled_total{method,code}
//   jobpool_process_resident_memory_bytes, jobpool_process_threads,
//   jobpool_stream_queued_messages
//
// Thread safety: every method may be called concurrently.

#include <array>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/internal/mutex.h"
#include "jobpool/v1/jobpool.pb.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/job_observer.h"

namespace jobpool {

class Metrics final : public JobObserver {
 public:
  // `stats` is read at each scrape for the gauges.
  explicit Metrics(std::function<v1::StatsResponse()> stats);

  void JobSubmitted(absl::string_view pool, absl::string_view kind) override;
  void JobRefused(absl::string_view pool, absl::string_view reason) override;
  void JobStarted(absl::string_view pool, absl::string_view kind,
                  absl::Duration queue_wait) override;
  void JobFinished(absl::string_view pool, absl::string_view kind,
                   v1::JobState state, absl::Duration run_time,
                   absl::string_view reject_reason) override;

  // A finished RPC: its full method name ("/jobpool.v1.JobPool/Submit") and
  // status code name ("OK", "RESOURCE_EXHAUSTED", ...).
  // A call began / ended (however it ended): the in-flight gauge.
  void RpcStarted(absl::string_view method);
  void RpcEnded(absl::string_view method);
  void RpcHandled(absl::string_view method, absl::string_view code);

  // The Prometheus text exposition format (version 0.0.4).
  std::string Scrape();

 private:
  // The series of one (pool, kind), found once: Family::Add builds and
  // hashes a label map on every call, which the per-job path avoids.
  struct KindSeries {
    prometheus::Counter* submitted = nullptr;
    prometheus::Histogram* queue_wait = nullptr;
    prometheus::Histogram* run_time = nullptr;
    std::array<prometheus::Counter*, v1::JobState_ARRAYSIZE> finished{};
  };
  KindSeries& Series(absl::string_view pool, absl::string_view kind)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::function<v1::StatsResponse()> stats_;
  prometheus::Registry registry_;
  prometheus::Family<prometheus::Counter>& submitted_;
  prometheus::Family<prometheus::Counter>& finished_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Family<prometheus::Histogram>& queue_wait_;
  prometheus::Family<prometheus::Histogram>& run_time_;
  prometheus::Family<prometheus::Gauge>& capacity_;
  prometheus::Family<prometheus::Gauge>& running_;
  prometheus::Family<prometheus::Gauge>& busy_;
  prometheus::Family<prometheus::Gauge>& waiting_;
  prometheus::Family<prometheus::Gauge>& overdue_;
  prometheus::Family<prometheus::Counter>& rpcs_started_;
  prometheus::Family<prometheus::Gauge>& rpcs_in_flight_;
  prometheus::Family<prometheus::Counter>& rpcs_;
  prometheus::Gauge& resident_memory_;
  prometheus::Gauge& threads_;
  prometheus::Gauge& stream_queued_;

  internal::Mutex mu_;
  // "pool\nkind" -> its series.
  absl::flat_hash_map<std::string, std::unique_ptr<KindSeries>> series_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_METRICS_H_
