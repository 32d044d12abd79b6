#include "core/wait_group.h"

#include "absl/base/internal/raw_logging.h"

namespace jobpool {

using internal::MutexLock;

void WaitGroup::Add(int delta) {
  MutexLock lock(&mu_);
  count_ += delta;
  ABSL_RAW_CHECK(count_ >= 0, "WaitGroup: negative count");
  if (count_ == 0) zero_.SignalAll();
}

void WaitGroup::Done() { Add(-1); }

void WaitGroup::Wait() {
  MutexLock lock(&mu_);
  while (count_ > 0) zero_.Wait(&mu_);
}

absl::Status WaitGroup::WaitFor(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  MutexLock lock(&mu_);
  while (count_ > 0) {
    if (!zero_.WaitWithDeadline(&mu_, deadline) && count_ > 0) {
      return absl::DeadlineExceededError(
          "WaitGroup: count did not reach zero in time");
    }
  }
  return absl::OkStatus();
}

int WaitGroup::Count() const {
  MutexLock lock(&mu_);
  return count_;
}

}  // namespace jobpool
