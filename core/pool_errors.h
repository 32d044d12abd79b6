#ifndef JOBPOOL_CORE_POOL_ERRORS_H_
#define JOBPOOL_CORE_POOL_ERRORS_H_

// The statuses the pool returns, one canonical code per condition. Callers
// branch on the code (or the predicates below), never on the message:
//
//   kFailedPrecondition  the pool is closed: Release() was called and only
//                        Reboot() reopens it                  (ants:
//                        ErrPoolClosed)
//   kResourceExhausted   overload: no worker is free and the submission may
//                        not wait (non-blocking, or max_blocking_tasks
//                        submitters already wait)             (ants:
//                        ErrPoolOverload)
//   kInvalidArgument     a bad size, option or empty task     (ants:
//   ErrInvalid*) kDeadlineExceeded    ReleaseTimeout() or WaitGroup::WaitFor()
//   ran out of
//                        time                                 (ants:
//                        ErrTimeout)
//   kCancelled           a queued submission was withdrawn with Pool::Cancel()
//
// Each function builds a fresh status, so statuses handed to different
// threads never share a heap representation.

#include "absl/status/status.h"

namespace jobpool {

absl::Status PoolClosedError();
absl::Status PoolOverloadError();
absl::Status ReleaseTimeoutError();
absl::Status SubmissionCancelledError();

inline bool IsPoolClosed(const absl::Status& status) {
  return status.code() == absl::StatusCode::kFailedPrecondition;
}
inline bool IsPoolOverload(const absl::Status& status) {
  return status.code() == absl::StatusCode::kResourceExhausted;
}

}  // namespace jobpool

#endif  // JOBPOOL_CORE_POOL_ERRORS_H_
