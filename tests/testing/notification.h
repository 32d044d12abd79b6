#ifndef JOBPOOL_TESTS_TESTING_NOTIFICATION_H_
#define JOBPOOL_TESTS_TESTING_NOTIFICATION_H_

// Notification: absl::Notification's shape on the annotated std::mutex
// wrapper, so that ThreadSanitizer sees the hand-off (Debian's Abseil is not
// built for it).
//
// Thread safety: every method may be called concurrently.

#include "core/internal/mutex.h"

namespace jobpool::testing {

class Notification {
 public:
  void Notify() {
    internal::MutexLock lock(&mu_);
    notified_ = true;
    cv_.SignalAll();
  }

  void WaitForNotification() {
    internal::MutexLock lock(&mu_);
    while (!notified_) cv_.Wait(&mu_);
  }

  bool HasBeenNotified() {
    internal::MutexLock lock(&mu_);
    return notified_;
  }

 private:
  internal::Mutex mu_;
  internal::CondVar cv_;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace jobpool::testing

#endif  // JOBPOOL_TESTS_TESTING_NOTIFICATION_H_
