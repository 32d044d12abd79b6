#ifndef JOBPOOL_TESTS_CORE_POOL_TEST_UTIL_H_
#define JOBPOOL_TESTS_CORE_POOL_TEST_UTIL_H_

// Helpers shared by the Pool test files.

#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "core/pool.h"
#include "core/wait_group.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait_until.h"

namespace jobpool::testing {

inline std::unique_ptr<Pool> MakePool(int size, PoolOptions options = {}) {
  auto pool = Pool::Create(size, std::move(options));
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? *std::move(pool) : nullptr;
}

// Occupies `n` workers of `pool` with tasks that hold until Open().
class Blocker {
 public:
  Blocker(Pool& pool, int n) : started_(n) {
    finished_.Add(n);
    for (int i = 0; i < n; ++i) {
      EXPECT_THAT(pool.Submit([this] {
        started_.count_down();
        gate_.wait();
        finished_.Done();
      }),
                  IsOk());
    }
    started_.wait();
  }
  // Opens the gate and waits until every blocked task has returned.
  ~Blocker() {
    Open();
    finished_.Wait();
  }

  void Open() {
    if (!opened_) {
      opened_ = true;
      gate_.count_down();
    }
  }

 private:
  WaitGroup finished_;
  std::latch started_;
  std::latch gate_{1};
  bool opened_ = false;
};

// Submitters parked in a blocking Submit(), each on its own thread.
class ParkedSubmitters {
 public:
  // Starts `n` Submit() calls of `task` and waits until all are parked.
  template <typename MakeTask>
  ParkedSubmitters(Pool& pool, int n, MakeTask make_task)
      : statuses_(static_cast<size_t>(n)) {
    const int before = pool.Waiting();
    for (size_t i = 0; i < statuses_.size(); ++i) {
      threads_.emplace_back([&pool, this, i, task = make_task()]() mutable {
        statuses_[i] = pool.Submit(std::move(task));
      });
    }
    EXPECT_TRUE(WaitUntil([&] { return pool.Waiting() == before + n; }));
  }
  ~ParkedSubmitters() { Join(); }

  // Joins the threads and returns what each Submit() returned.
  const std::vector<absl::Status>& Join() {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    return statuses_;
  }

 private:
  std::vector<absl::Status> statuses_;
  std::vector<std::thread> threads_;
};

}  // namespace jobpool::testing

#endif  // JOBPOOL_TESTS_CORE_POOL_TEST_UTIL_H_
