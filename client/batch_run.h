#ifndef JOBPOOL_CLIENT_BATCH_RUN_H_
#define JOBPOOL_CLIENT_BATCH_RUN_H_

// BatchRun
//
// A batch in flight over one RunBatch stream: a future-like handle. The
// server creates the batch, admits its jobs as workers free up, and streams
// each finished job (or throttled progress); the handle counts them, calls
// the caller's callbacks, and holds the final summary.
//
// Example:
//   BatchRunOptions options;
//   options.on_job = [](const v1::Job& job) { Record(job); };
//   std::unique_ptr<BatchRun> run = client->StartBatch(jobs, options);
//   while (!run->WaitFor(absl::Milliseconds(100))) Draw(run->Progress());
//   absl::StatusOr<v1::WaitBatchResponse> done = run->Wait();
//
// Callbacks run on the batch's reader thread, one at a time, in the order
// the server sent the results: keep them short. The handle may be destroyed
// at any time; its destructor waits for the stream to end (Cancel() first
// to end it sooner). It must not outlive the Client that started it.
//
// Thread safety: every method may be called concurrently.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "jobpool/v1/jobpool.pb.h"

namespace jobpool {

struct BatchRunOptions {
  // "" = "default".
  std::string pool;
  // The replica to run on: one of Client::Endpoints(); "" = any (the
  // balanced channel picks).
  std::string endpoint;
  // On the first job that does not succeed, the server cancels the rest.
  bool fail_fast = false;
  // Called for every job as it ends (unless `progress_interval` is set).
  std::function<void(const v1::Job&)> on_job;
  // Set: the server sends only progress, at most once per interval, which
  // is much less traffic for large batches; `on_job` is then not called.
  absl::Duration progress_interval = absl::ZeroDuration();
  // Called with every progress snapshot, and with the final summary.
  std::function<void(const v1::WaitBatchResponse&)> on_progress;
};

class BatchRun {
 public:
  struct State;
  // Used by Client::StartBatch().
  BatchRun(std::shared_ptr<State> state,
           std::function<absl::Status(const std::string&)> cancel_batch,
           std::thread reader);
  ~BatchRun();
  BatchRun(const BatchRun&) = delete;
  BatchRun& operator=(const BatchRun&) = delete;

  // "<replica>/batch/<n>" once the server has created the batch, else "".
  std::string BatchId() const;
  // Jobs in the batch, and counts by state so far (pending = not yet
  // heard of).
  v1::BatchSummary Progress() const;
  // The stream has ended (Wait() would not block).
  bool Done() const;
  // Waits up to `timeout`; returns Done().
  bool WaitFor(absl::Duration timeout) const;
  // Waits for the end: the final summary, or the stream's error (its
  // message names the batch, if created, so it can be waited for again:
  // the jobs run on whether or not this client hears of them).
  absl::StatusOr<v1::WaitBatchResponse> Wait() const;
  // Cancels every job that has not ended (CancelBatch on the replica that
  // owns the batch); the stream then ends with the final summary. Before
  // the batch exists, cancels the stream instead.
  absl::Status Cancel();

 private:
  std::shared_ptr<State> state_;
  std::function<absl::Status(const std::string&)> cancel_batch_;
  std::thread reader_;  // Reads the stream into state_.
};

}  // namespace jobpool

#endif  // JOBPOOL_CLIENT_BATCH_RUN_H_
