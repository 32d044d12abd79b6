#ifndef JOBPOOL_SERVER_JOB_OBSERVER_H_
#define JOBPOOL_SERVER_JOB_OBSERVER_H_

// JobObserver
//
// What JobManager tells an observer (the Prometheus metrics) about jobs as
// they happen. Every recorded job is Submitted once and Finished once;
// a request refused before a job was recorded is Refused.
//
// Thread safety: called from any thread, sometimes under the manager's
// lock, so an implementation must be quick and must not call back into the
// manager.

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "jobpool/v1/jobpool.pb.h"

namespace jobpool {

class JobObserver {
 public:
  virtual ~JobObserver() = default;

  virtual void JobSubmitted(absl::string_view pool, absl::string_view kind) = 0;
  // `reason`: "draining" or "retention_full".
  virtual void JobRefused(absl::string_view pool, absl::string_view reason) = 0;
  virtual void JobStarted(absl::string_view pool, absl::string_view kind,
                          absl::Duration queue_wait) = 0;
  // `run_time` is zero for a job that never ran; `reject_reason` is set
  // for REJECTED: "overloaded" or "released".
  virtual void JobFinished(absl::string_view pool, absl::string_view kind,
                           v1::JobState state, absl::Duration run_time,
                           absl::string_view reject_reason) = 0;
};

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_JOB_OBSERVER_H_
