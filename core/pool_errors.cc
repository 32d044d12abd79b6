#include "core/pool_errors.h"

namespace jobpool {

absl::Status PoolClosedError() {
  return absl::FailedPreconditionError("pool is closed; Reboot() reopens it");
}

absl::Status PoolOverloadError() {
  return absl::ResourceExhaustedError(
      "pool is overloaded: no free worker and the submission may not wait");
}

absl::Status ReleaseTimeoutError() {
  return absl::DeadlineExceededError(
      "pool released, but its workers did not exit within the timeout");
}

absl::Status SubmissionCancelledError() {
  return absl::CancelledError("queued submission was cancelled");
}

}  // namespace jobpool
