#include "server/metrics.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "prometheus/text_serializer.h"

namespace jobpool {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// From 100 us to 5 min: a no-op's queue wait to a long command.
const prometheus::Histogram::BucketBoundaries& SecondsBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
      0.25,   0.5,     1,      2.5,   5,      10,    30,   60,    300};
  return *buckets;
}

std::string StateLabel(v1::JobState state) {
  return absl::AsciiStrToLower(
      absl::StripPrefix(v1::JobState_Name(state), "JOB_STATE_"));
}

std::string Str(absl::string_view s) { return std::string(s); }

}  // namespace

Metrics::Metrics(std::function<v1::StatsResponse()> stats)
    : stats_(std::move(stats)),
      submitted_(BuildCounter()
                     .Name("jobpool_jobs_submitted_total")
                     .Help("Jobs accepted and recorded, by pool and kind.")
                     .Register(registry_)),
      finished_(BuildCounter()
                    .Name("jobpool_jobs_finished_total")
                    .Help("Jobs ended, by pool, kind and final state.")
                    .Register(registry_)),
      rejected_(BuildCounter()
                    .Name("jobpool_jobs_rejected_total")
                    .Help("Jobs refused, by pool and reason (overloaded, "
                          "released, draining, retention_full).")
                    .Register(registry_)),
      queue_wait_(BuildHistogram()
                      .Name("jobpool_queue_wait_seconds")
                      .Help("Time from submission to a worker taking the "
                            "job.")
                      .Register(registry_)),
      run_time_(BuildHistogram()
                    .Name("jobpool_run_seconds")
                    .Help("Time a job ran, from start to end.")
                    .Register(registry_)),
      capacity_(BuildGauge()
                    .Name("jobpool_pool_capacity")
                    .Help("Most workers of the pool; -1 when unbounded.")
                    .Register(registry_)),
      running_(BuildGauge()
                   .Name("jobpool_pool_running")
                   .Help("Workers alive, busy or idle.")
                   .Register(registry_)),
      busy_(BuildGauge()
                .Name("jobpool_pool_busy")
                .Help("Workers running a job.")
                .Register(registry_)),
      waiting_(BuildGauge()
                   .Name("jobpool_pool_waiting")
                   .Help("Jobs waiting for a worker.")
                   .Register(registry_)),
      overdue_(BuildGauge()
                   .Name("jobpool_pool_overdue")
                   .Help("Running jobs already cancelled or timed out whose "
                         "handler has not returned.")
                   .Register(registry_)),
      rpcs_started_(BuildCounter()
                        .Name("jobpool_grpc_server_started_total")
                        .Help("RPCs started, by method (started minus "
                              "handled: calls in flight).")
                        .Register(registry_)),
      rpcs_in_flight_(BuildGauge()
                          .Name("jobpool_grpc_server_in_flight")
                          .Help("RPCs in progress (waiting calls included), "
                                "by method.")
                          .Register(registry_)),
      rpcs_(BuildCounter()
                .Name("jobpool_grpc_server_handled_total")
                .Help("RPCs completed, by method and gRPC status code.")
                .Register(registry_)),
      resident_memory_(BuildGauge()
                           .Name("jobpool_process_resident_memory_bytes")
                           .Help("Resident set size of the server.")
                           .Register(registry_)
                           .Add({})),
      threads_(BuildGauge()
                   .Name("jobpool_process_threads")
                   .Help("Threads of the server.")
                   .Register(registry_)
                   .Add({})),
      stream_queued_(BuildGauge()
                         .Name("jobpool_stream_queued_messages")
                         .Help("Messages queued for streams whose readers "
                               "are behind.")
                         .Register(registry_)
                         .Add({})) {}

Metrics::KindSeries& Metrics::Series(absl::string_view pool,
                                     absl::string_view kind) {
  std::unique_ptr<KindSeries>& series = series_[absl::StrCat(pool, "\n", kind)];
  if (series == nullptr) {
    const prometheus::Labels labels = {{"pool", Str(pool)},
                                       {"kind", Str(kind)}};
    series = std::make_unique<KindSeries>();
    series->submitted = &submitted_.Add(labels);
    series->queue_wait = &queue_wait_.Add(labels, SecondsBuckets());
    series->run_time = &run_time_.Add(labels, SecondsBuckets());
  }
  return *series;
}

void Metrics::JobSubmitted(absl::string_view pool, absl::string_view kind) {
  internal::MutexLock lock(&mu_);
  Series(pool, kind).submitted->Increment();
}

void Metrics::JobRefused(absl::string_view pool, absl::string_view reason) {
  rejected_.Add({{"pool", Str(pool)}, {"reason", Str(reason)}}).Increment();
}

void Metrics::JobStarted(absl::string_view pool, absl::string_view kind,
                         absl::Duration queue_wait) {
  internal::MutexLock lock(&mu_);
  Series(pool, kind).queue_wait->Observe(absl::ToDoubleSeconds(queue_wait));
}

void Metrics::JobFinished(absl::string_view pool, absl::string_view kind,
                          v1::JobState state, absl::Duration run_time,
                          absl::string_view reject_reason) {
  {
    internal::MutexLock lock(&mu_);
    KindSeries& series = Series(pool, kind);
    prometheus::Counter*& finished =
        series.finished[static_cast<size_t>(state)];
    if (finished == nullptr) {
      finished = &finished_.Add({{"pool", Str(pool)},
                                 {"kind", Str(kind)},
                                 {"state", StateLabel(state)}});
    }
    finished->Increment();
    if (run_time > absl::ZeroDuration()) {
      series.run_time->Observe(absl::ToDoubleSeconds(run_time));
    }
  }
  if (state == v1::JOB_STATE_REJECTED) {
    JobRefused(pool, reject_reason.empty() ? "overloaded" : reject_reason);
  }
}

void Metrics::RpcStarted(absl::string_view method) {
  rpcs_started_.Add({{"method", Str(method)}}).Increment();
  rpcs_in_flight_.Add({{"method", Str(method)}}).Increment();
}

void Metrics::RpcEnded(absl::string_view method) {
  rpcs_in_flight_.Add({{"method", Str(method)}}).Decrement();
}

void Metrics::RpcHandled(absl::string_view method, absl::string_view code) {
  rpcs_.Add({{"method", Str(method)}, {"code", Str(code)}}).Increment();
}

std::string Metrics::Scrape() {
  const v1::StatsResponse stats = stats_();
  for (const v1::PoolStats& pool : stats.pools()) {
    const prometheus::Labels labels = {{"pool", pool.name()}};
    capacity_.Add(labels).Set(pool.capacity());
    running_.Add(labels).Set(pool.running());
    busy_.Add(labels).Set(pool.busy());
    waiting_.Add(labels).Set(pool.waiting());
    overdue_.Add(labels).Set(pool.overdue());
  }
  resident_memory_.Set(static_cast<double>(stats.rss_bytes()));
  threads_.Set(stats.threads());
  stream_queued_.Set(static_cast<double>(stats.stream_queued_messages()));
  return prometheus::TextSerializer().Serialize(registry_.Collect());
}

}  // namespace jobpool
