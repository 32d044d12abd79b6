#ifndef JOBPOOL_SERVER_CANCEL_TOKEN_H_
#define JOBPOOL_SERVER_CANCEL_TOKEN_H_

// CancelToken
//
// How a running job learns that it should stop: CancelJob, a fail-fast
// batch, the job's timeout or the server's drain deadline call Cancel();
// the handler polls IsCancelled() between steps, or sleeps with
// WaitFor(), which returns early on cancellation.
//
// Thread safety: every method may be called concurrently.

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/internal/mutex.h"

namespace jobpool {

class CancelToken {
 public:
  // A token that also cancels itself, as timed out, at `deadline`.
  explicit CancelToken(absl::Time deadline = absl::InfiniteFuture())
      : deadline_(deadline) {}

  // Cancels with `reason`; the first reason wins. Returns false if the token
  // was already cancelled.
  bool Cancel(std::string reason) ABSL_LOCKS_EXCLUDED(mu_) {
    std::vector<std::pair<uint64_t, absl::AnyInvocable<void()>>> callbacks;
    {
      internal::MutexLock lock(&mu_);
      if (cancelled_) return false;
      cancelled_ = true;
      reason_ = std::move(reason);
      callbacks.swap(callbacks_);
      cancelled_cv_.SignalAll();
    }
    for (auto& [id, fn] : callbacks) fn();
    return true;
  }

  // The time at which the token cancels itself (InfiniteFuture: never).
  absl::Time Deadline() const { return deadline_; }

  // Calls `fn` once, from Cancel() (at once if already cancelled): a wake-
  // up for a handler blocked outside WaitFor(). Not called when the
  // deadline passes; wait until Deadline() for that. `fn` must be quick
  // and may run after RemoveCallback() if Cancel() is running concurrently,
  // so it must own what it touches. Returns a handle for RemoveCallback().
  uint64_t AddCallback(absl::AnyInvocable<void()> fn) const
      ABSL_LOCKS_EXCLUDED(mu_) {
    {
      internal::MutexLock lock(&mu_);
      if (!cancelled_) {
        callbacks_.emplace_back(next_callback_, std::move(fn));
        return next_callback_++;
      }
    }
    fn();
    return 0;
  }

  void RemoveCallback(uint64_t id) const ABSL_LOCKS_EXCLUDED(mu_) {
    internal::MutexLock lock(&mu_);
    std::erase_if(callbacks_, [id](const auto& c) { return c.first == id; });
  }

  bool IsCancelled() const ABSL_LOCKS_EXCLUDED(mu_) {
    internal::MutexLock lock(&mu_);
    return CheckDeadlineLocked();
  }

  // Whether the cancellation came from the deadline.
  bool TimedOut() const ABSL_LOCKS_EXCLUDED(mu_) {
    internal::MutexLock lock(&mu_);
    CheckDeadlineLocked();
    return timed_out_;
  }

  std::string Reason() const ABSL_LOCKS_EXCLUDED(mu_) {
    internal::MutexLock lock(&mu_);
    return reason_;
  }

  // Sleeps for `duration` unless cancelled first. Returns true if the full
  // duration passed, false on cancellation.
  bool WaitFor(absl::Duration duration) const ABSL_LOCKS_EXCLUDED(mu_) {
    internal::MutexLock lock(&mu_);
    const absl::Time until = std::min(absl::Now() + duration, deadline_);
    while (!cancelled_ && absl::Now() < until) {
      cancelled_cv_.WaitWithDeadline(&mu_, until);
    }
    return !CheckDeadlineLocked() && absl::Now() >= until;
  }

 private:
  bool CheckDeadlineLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!cancelled_ && absl::Now() >= deadline_) {
      cancelled_ = true;
      timed_out_ = true;
      reason_ = "timed out";
    }
    return cancelled_;
  }

  const absl::Time deadline_;
  mutable internal::Mutex mu_;
  mutable internal::CondVar cancelled_cv_;
  mutable bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  mutable bool timed_out_ ABSL_GUARDED_BY(mu_) = false;
  mutable std::string reason_ ABSL_GUARDED_BY(mu_);
  mutable std::vector<std::pair<uint64_t, absl::AnyInvocable<void()>>>
      callbacks_ ABSL_GUARDED_BY(mu_);
  mutable uint64_t next_callback_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_CANCEL_TOKEN_H_
