#ifndef JOBPOOL_CORE_WAIT_GROUP_H_
#define JOBPOOL_CORE_WAIT_GROUP_H_

// WaitGroup
//
// Waits for a collection of tasks to finish, as Go's sync.WaitGroup: Add()
// the number of tasks, have each call Done() when it ends, and Wait() (or
// WaitFor() with a timeout) until the count is zero.
//
// Example:
//   jobpool::WaitGroup wg;
//   for (int i = 0; i < n; ++i) {
//     wg.Add(1);
//     (void)pool->Submit([&wg] { DoWork(); wg.Done(); });
//   }
//   wg.Wait();
//
// Thread safety: every method may be called concurrently, including Add()
// with Wait(): a waiter returns the first time it observes a zero count.
// A count below zero is a programming error and aborts, as in Go.

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/internal/mutex.h"

namespace jobpool {

class WaitGroup {
 public:
  WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  // Adds `delta` (which may be negative) to the count.
  void Add(int delta);
  // Add(-1).
  void Done();
  // Blocks until the count is zero.
  void Wait();
  // As Wait(), but gives up after `timeout` with kDeadlineExceeded.
  absl::Status WaitFor(absl::Duration timeout);
  // The current count.
  int Count() const;

 private:
  mutable internal::Mutex mu_;
  internal::CondVar zero_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace jobpool

#endif  // JOBPOOL_CORE_WAIT_GROUP_H_
