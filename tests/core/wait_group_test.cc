#include "core/wait_group.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace jobpool {
namespace {

using ::jobpool::testing::IsOk;
using ::jobpool::testing::StatusIs;

TEST(WaitGroupTest, WaitOnZeroReturnsAtOnce) {
  WaitGroup wg;
  wg.Wait();
  EXPECT_THAT(wg.WaitFor(absl::ZeroDuration()), IsOk());
  EXPECT_EQ(wg.Count(), 0);
}

TEST(WaitGroupTest, WaitReturnsWhenEveryTaskIsDone) {
  constexpr int kThreads = 16;
  WaitGroup wg;
  std::atomic<int> done{0};
  wg.Add(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      done.fetch_add(1);
      wg.Done();
    });
  }
  wg.Wait();
  EXPECT_EQ(done.load(), kThreads);
  for (auto& t : threads) t.join();
}

TEST(WaitGroupTest, WaitForTimesOutWithDeadlineExceeded) {
  WaitGroup wg;
  wg.Add(1);
  EXPECT_THAT(wg.WaitFor(absl::Milliseconds(10)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  wg.Done();
  EXPECT_THAT(wg.WaitFor(absl::Seconds(30)), IsOk());
}

TEST(WaitGroupTest, AddRunsConcurrentlyWithWait) {
  constexpr int kWorkers = 8;
  constexpr int kRounds = 500;
  WaitGroup wg;
  std::atomic<int> done{0};
  wg.Add(kWorkers);  // Keeps the count above zero until the workers finish.
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&] {
      for (int r = 0; r < kRounds; ++r) {
        wg.Add(2);
        wg.Done();
        wg.Done();
      }
      done.fetch_add(1);
      wg.Done();
    });
  }
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i) waiters.emplace_back([&] { wg.Wait(); });
  for (auto& t : waiters) t.join();
  EXPECT_EQ(done.load(), kWorkers);
  EXPECT_EQ(wg.Count(), 0);
  for (auto& t : threads) t.join();
}

TEST(WaitGroupDeathTest, NegativeCountAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  WaitGroup wg;
  EXPECT_DEATH(wg.Done(), "negative count");
}

}  // namespace
}  // namespace jobpool
