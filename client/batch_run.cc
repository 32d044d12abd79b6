#include "client/batch_run.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "client/batch_run_state.h"

namespace jobpool {
namespace {

void Count(v1::JobState state, v1::BatchSummary* summary) {
  switch (state) {
    case v1::JOB_STATE_SUCCEEDED:
      summary->set_succeeded(summary->succeeded() + 1);
      break;
    case v1::JOB_STATE_FAILED:
      summary->set_failed(summary->failed() + 1);
      break;
    case v1::JOB_STATE_CANCELLED:
      summary->set_cancelled(summary->cancelled() + 1);
      break;
    case v1::JOB_STATE_TIMED_OUT:
      summary->set_timed_out(summary->timed_out() + 1);
      break;
    case v1::JOB_STATE_REJECTED:
      summary->set_rejected(summary->rejected() + 1);
      break;
    default:
      return;
  }
  summary->set_pending(summary->pending() - 1);
}

}  // namespace

BatchRun::State::State(int64_t total, BatchRunOptions options)
    : on_job(std::move(options.on_job)),
      on_progress(std::move(options.on_progress)) {
  summary.set_total(total);
  summary.set_pending(total);
}

void BatchRun::State::OnMessage(const v1::RunBatchResponse& message) {
  switch (message.event_case()) {
    case v1::RunBatchResponse::kBatchId: {
      absl::MutexLock lock(&mu);
      batch_id = message.batch_id();
      return;
    }
    case v1::RunBatchResponse::kJob: {
      {
        absl::MutexLock lock(&mu);
        Count(message.job().state(), &summary);
      }
      if (on_job) on_job(message.job());
      return;
    }
    case v1::RunBatchResponse::kProgress: {
      {
        absl::MutexLock lock(&mu);
        summary = message.progress().summary();
        if (message.progress().complete()) final_summary = message.progress();
      }
      if (on_progress) on_progress(message.progress());
      return;
    }
    case v1::RunBatchResponse::EVENT_NOT_SET:
      return;
  }
}

void BatchRun::State::OnDone(absl::Status status) {
  absl::MutexLock lock(&mu);
  if (status.ok() && !final_summary.has_value()) {
    status = absl::InternalError("the batch stream ended without a summary");
  }
  if (!status.ok() && !batch_id.empty()) {
    status = absl::Status(
        status.code(),
        absl::StrCat(status.message(), " (batch ", batch_id,
                     " carries on on the server; wait for it by id)"));
  }
  stream_status = std::move(status);
  done = true;
}

BatchRun::BatchRun(std::shared_ptr<State> state,
                   std::function<absl::Status(const std::string&)> cancel_batch,
                   std::thread reader)
    : state_(std::move(state)),
      cancel_batch_(std::move(cancel_batch)),
      reader_(std::move(reader)) {}

BatchRun::~BatchRun() {
  (void)Wait();
  reader_.join();
}

std::string BatchRun::BatchId() const {
  absl::MutexLock lock(&state_->mu);
  return state_->batch_id;
}

v1::BatchSummary BatchRun::Progress() const {
  absl::MutexLock lock(&state_->mu);
  return state_->summary;
}

bool BatchRun::Done() const {
  absl::MutexLock lock(&state_->mu);
  return state_->done;
}

bool BatchRun::WaitFor(absl::Duration timeout) const {
  absl::MutexLock lock(&state_->mu);
  state_->mu.AwaitWithTimeout(absl::Condition(&state_->done), timeout);
  return state_->done;
}

absl::StatusOr<v1::WaitBatchResponse> BatchRun::Wait() const {
  absl::MutexLock lock(&state_->mu);
  state_->mu.Await(absl::Condition(&state_->done));
  if (!state_->stream_status.ok()) return state_->stream_status;
  return *state_->final_summary;
}

absl::Status BatchRun::Cancel() {
  std::string id;
  {
    absl::MutexLock lock(&state_->mu);
    if (state_->done) return absl::OkStatus();
    id = state_->batch_id;
    if (id.empty()) {
      state_->cancel_stream();
      return absl::OkStatus();
    }
  }
  return cancel_batch_(id);
}

}  // namespace jobpool
