#ifndef JOBPOOL_CLIENT_JOBCTL_PROGRESS_BAR_H_
#define JOBPOOL_CLIENT_JOBCTL_PROGRESS_BAR_H_

// ProgressBar
//
// One line redrawn in place on a terminal:
//   [##########..........]  5234/10000  52%  4120 jobs/s  ETA 1.2s  failed 3
// Draw it only on a TTY (jobctl checks isatty and --json first).
//
// Thread safety: one thread at a time.

#include <cstdio>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "jobpool/v1/jobpool.pb.h"

namespace jobpool::jobctl {

class ProgressBar {
 public:
  explicit ProgressBar(std::FILE* out) : out_(out), start_(absl::Now()) {}

  // Redraws the line for `summary` (total = jobs in the batch).
  void Draw(const v1::BatchSummary& summary);
  // Leaves the last line on screen and moves below it.
  void Finish();

 private:
  std::FILE* const out_;
  const absl::Time start_;
  bool drawn_ = false;
};

}  // namespace jobpool::jobctl

#endif  // JOBPOOL_CLIENT_JOBCTL_PROGRESS_BAR_H_
