#ifndef JOBPOOL_TESTS_TESTING_WAIT_UNTIL_H_
#define JOBPOOL_TESTS_TESTING_WAIT_UNTIL_H_

// WaitUntil(condition)
//
// Polls `condition` until it holds; false if `timeout` passes first. Only
// for states that other threads reach on their own schedule and that no
// latch can announce (a submitter parked inside Submit(), a purge). The
// timeout is a hang guard, not a timing claim: keep it generous.

#include <chrono>
#include <functional>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace jobpool::testing {

inline bool WaitUntil(const std::function<bool()>& condition,
                      absl::Duration timeout = absl::Seconds(60)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace jobpool::testing

#endif  // JOBPOOL_TESTS_TESTING_WAIT_UNTIL_H_
