#ifndef JOBPOOL_CORE_INTERNAL_HANDOFF_H_
#define JOBPOOL_CORE_INTERNAL_HANDOFF_H_

// Handoff
//
// Delivers one absl::Status to one thread parked in Await(): how a blocking
// Pool::Submit() learns that a worker took its task, or that the pool was
// released. The waiter polls briefly (a hand-over usually comes within
// microseconds), then sleeps on a condition variable.
//
// The waiter may destroy the Handoff as soon as Await() returns: Deliver()
// touches it only while holding its mutex, and Await() returns only after
// taking that mutex.

#include <atomic>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "core/internal/mutex.h"

namespace jobpool::internal {

class Handoff {
 public:
  void Deliver(absl::Status status) {
    MutexLock lock(&mu_);
    status_ = std::move(status);
    done_.store(true, std::memory_order_release);
    cv_.Signal();
  }

  absl::Status Await() {
    for (int i = 0; i < kPolls && !done_.load(std::memory_order_acquire); ++i) {
      std::this_thread::yield();
    }
    MutexLock lock(&mu_);
    while (!done_.load(std::memory_order_relaxed)) cv_.Wait(&mu_);
    return std::move(status_);
  }

 private:
  static constexpr int kPolls = 64;

  Mutex mu_;
  CondVar cv_;
  std::atomic<bool> done_{false};
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace jobpool::internal

#endif  // JOBPOOL_CORE_INTERNAL_HANDOFF_H_
