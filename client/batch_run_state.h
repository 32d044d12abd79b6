#ifndef JOBPOOL_CLIENT_BATCH_RUN_STATE_H_
#define JOBPOOL_CLIENT_BATCH_RUN_STATE_H_

// What a BatchRun shares with the thread that reads its stream.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "client/batch_run.h"
#include "jobpool/v1/jobpool.pb.h"

namespace jobpool {

struct BatchRun::State {
  State(int64_t total, BatchRunOptions options);

  // From the reader: one message, in stream order; then the end.
  void OnMessage(const v1::RunBatchResponse& message);
  void OnDone(absl::Status status);

  // Set before the stream starts; then only called.
  std::function<void(const v1::Job&)> on_job;
  std::function<void(const v1::WaitBatchResponse&)> on_progress;
  std::function<void()> cancel_stream;

  mutable absl::Mutex mu;
  std::string batch_id ABSL_GUARDED_BY(mu);
  v1::BatchSummary summary ABSL_GUARDED_BY(mu);
  std::optional<v1::WaitBatchResponse> final_summary ABSL_GUARDED_BY(mu);
  absl::Status stream_status ABSL_GUARDED_BY(mu);
  bool done ABSL_GUARDED_BY(mu) = false;
};

}  // namespace jobpool

#endif  // JOBPOOL_CLIENT_BATCH_RUN_STATE_H_
