#include "core/multi_pool.h"

#include <atomic>
#include <latch>

#include "core/wait_group.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait_until.h"

namespace jobpool {
namespace {

using ::jobpool::testing::IsOk;
using ::jobpool::testing::StatusIs;

std::unique_ptr<MultiPool> MakeMultiPool(int count, int size,
                                         LoadBalancing strategy,
                                         PoolOptions options = {}) {
  auto mp = MultiPool::Create(count, size, strategy, std::move(options));
  EXPECT_THAT(mp, IsOk());
  return mp.ok() ? *std::move(mp) : nullptr;
}

// Holds `n` tasks on `mp` until the gate opens.
void Hold(MultiPool& mp, int n, std::latch& started, std::latch& gate) {
  for (int i = 0; i < n; ++i) {
    ASSERT_THAT(mp.Submit([&] {
      started.count_down();
      gate.wait();
    }),
                IsOk());
  }
  started.wait();
}

TEST(MultiPoolTest, CreateRejectsBadArguments) {
  EXPECT_THAT(MultiPool::Create(0, 4, LoadBalancing::kRoundRobin),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MultiPool::Create(2, 4, static_cast<LoadBalancing>(7)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  PoolOptions bad;
  bad.expiry = absl::Seconds(-1);
  EXPECT_THAT(MultiPool::Create(2, 4, LoadBalancing::kLeastTasks, bad),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(MultiPoolTest, RoundRobinSpreadsTasksOverEveryPool) {
  auto mp = MakeMultiPool(4, 2, LoadBalancing::kRoundRobin);
  std::latch started(8);
  std::latch gate(1);
  Hold(*mp, 8, started, gate);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(*mp->RunningByIndex(i), 2);
  EXPECT_EQ(mp->Running(), 8);
  EXPECT_EQ(mp->Cap(), 8);
  EXPECT_EQ(mp->Free(), 0);
  gate.count_down();
  EXPECT_THAT(mp->ReleaseTimeout(absl::Seconds(30)), IsOk());
}

TEST(MultiPoolTest, LeastTasksPicksTheLeastLoadedPool) {
  auto mp = MakeMultiPool(3, 4, LoadBalancing::kLeastTasks);
  std::latch started(6);
  std::latch gate(1);
  Hold(*mp, 6, started, gate);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*mp->RunningByIndex(i), 2);
  gate.count_down();
  EXPECT_THAT(mp->ReleaseTimeout(absl::Seconds(30)), IsOk());
}

TEST(MultiPoolTest, RoundRobinFallsBackToAFreePoolOnOverload) {
  PoolOptions options;
  options.nonblocking = true;
  auto mp = MakeMultiPool(2, 2, LoadBalancing::kRoundRobin, options);
  std::latch started(1);
  std::latch gate(1);
  Hold(*mp, 1, started, gate);  // Pool 0 holds one task.
  // Round robin now points at pool 1; fill it, then point back at pool 0.
  std::latch more(3);
  Hold(*mp, 3, more, gate);
  EXPECT_EQ(mp->Running(), 4);
  EXPECT_THAT(mp->Submit([] {}),
              StatusIs(absl::StatusCode::kResourceExhausted));
  gate.count_down();
  EXPECT_THAT(mp->ReleaseTimeout(absl::Seconds(30)), IsOk());
}

TEST(MultiPoolTest, OverloadedPoolHandsTheTaskOn) {
  PoolOptions options;
  options.nonblocking = true;
  auto mp = MakeMultiPool(2, 1, LoadBalancing::kRoundRobin, options);
  std::latch started(1);
  std::latch gate(1);
  Hold(*mp, 1, started, gate);  // Pool 0 busy.
  std::atomic<bool> ran{false};
  ASSERT_THAT(mp->Submit([&] { ran = true; }), IsOk());  // Pool 1.
  ASSERT_TRUE(testing::WaitUntil([&] { return mp->Running() == 2; }));
  gate.count_down();
  EXPECT_TRUE(testing::WaitUntil([&] { return ran.load(); }));
}

TEST(MultiPoolTest, IndexOutOfRangeIsInvalidArgument) {
  auto mp = MakeMultiPool(2, 1, LoadBalancing::kRoundRobin);
  EXPECT_THAT(mp->RunningByIndex(2),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(mp->FreeByIndex(-1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(mp->WaitingByIndex(0), IsOk());
}

TEST(MultiPoolTest, TuneReleaseAndReboot) {
  auto mp = MakeMultiPool(3, 1, LoadBalancing::kLeastTasks);
  ASSERT_THAT(mp->Tune(4), IsOk());
  EXPECT_EQ(mp->Cap(), 12);
  EXPECT_THAT(mp->Tune(0), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_THAT(mp->ReleaseTimeout(absl::Seconds(30)), IsOk());
  EXPECT_TRUE(mp->IsClosed());
  EXPECT_THAT(mp->ReleaseTimeout(absl::Seconds(1)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(mp->Submit([] {}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  mp->Reboot();
  EXPECT_FALSE(mp->IsClosed());
  WaitGroup wg;
  wg.Add(30);
  for (int i = 0; i < 30; ++i) {
    ASSERT_THAT(mp->Submit([&] { wg.Done(); }), IsOk());
  }
  wg.Wait();
}

}  // namespace
}  // namespace jobpool
