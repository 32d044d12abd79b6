// Pool lifecycle: idle-worker purge, Release, ReleaseTimeout, Reboot and
// destruction.

#include <atomic>
#include <latch>
#include <thread>

#include "core/pool.h"
#include "core/wait_group.h"
#include "gtest/gtest.h"
#include "tests/core/pool_test_util.h"

namespace jobpool {
namespace {

using ::jobpool::testing::Blocker;
using ::jobpool::testing::IsOk;
using ::jobpool::testing::MakePool;
using ::jobpool::testing::ParkedSubmitters;
using ::jobpool::testing::StatusIs;
using ::jobpool::testing::WaitUntil;

PoolOptions ShortExpiry() {
  PoolOptions options;
  options.expiry = absl::Milliseconds(20);
  return options;
}

TEST(PoolLifecycleTest, IdleWorkersArePurgedAfterTheExpiry) {
  auto pool = MakePool(4, ShortExpiry());
  { Blocker blocker(*pool, 4); }
  EXPECT_TRUE(WaitUntil([&] { return pool->Running() == 0; }));
  const PoolStats stats = pool->Stats();
  EXPECT_EQ(stats.purged, 4);
  EXPECT_EQ(stats.idle, 0);
  // A purged pool starts workers again on demand.
  Blocker again(*pool, 4);
  EXPECT_EQ(pool->Running(), 4);
}

TEST(PoolLifecycleTest, PurgeNeverRemovesABusyWorker) {
  auto pool = MakePool(4, ShortExpiry());
  {
    Blocker idle_soon(*pool, 2);
    Blocker busy(*pool, 2);
    idle_soon.Open();
    // Two workers go idle and expire; the two busy ones outlive many expiries.
    ASSERT_TRUE(WaitUntil([&] { return pool->Stats().purged == 2; }));
    EXPECT_EQ(pool->Running(), 2);
    EXPECT_EQ(pool->Stats().busy, 2);
  }
  EXPECT_TRUE(WaitUntil([&] { return pool->Running() == 0; }));
  EXPECT_EQ(pool->Stats().purged, 4);
}

TEST(PoolLifecycleTest, DisablePurgeKeepsIdleWorkers) {
  PoolOptions kept = ShortExpiry();
  kept.disable_purge = true;
  auto keeping = MakePool(3, kept);
  auto purging = MakePool(3, ShortExpiry());
  { Blocker blocker(*keeping, 3); }
  { Blocker blocker(*purging, 3); }
  // The purging pool's workers went idle no earlier than the keeping pool's:
  // once they are gone, the keeping pool's have outlived the expiry too.
  ASSERT_TRUE(WaitUntil([&] { return purging->Running() == 0; }));
  EXPECT_EQ(keeping->Running(), 3);
  EXPECT_EQ(keeping->Stats().purged, 0);
}

TEST(PoolLifecycleTest, ReleaseWakesWaitersWithTheClosedStatus) {
  auto pool = MakePool(1);
  Blocker blocker(*pool, 1);
  std::atomic<int> ran{0};
  ParkedSubmitters parked(*pool, 3, [&] { return [&] { ran.fetch_add(1); }; });

  pool->Release();
  for (const absl::Status& s : parked.Join()) {
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_TRUE(IsPoolClosed(s));
  }
  EXPECT_TRUE(pool->IsClosed());
  EXPECT_EQ(pool->Waiting(), 0);
  EXPECT_THAT(pool->Submit([] {}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  blocker.Open();
  EXPECT_EQ(ran.load(), 0);
}

TEST(PoolLifecycleTest, ReleaseLetsTheAdmittedTaskFinish) {
  auto pool = MakePool(1);
  std::atomic<bool> finished{false};
  std::latch started(1);
  std::latch gate(1);
  WaitGroup wg;
  wg.Add(1);
  ASSERT_THAT(pool->Submit([&] {
    started.count_down();
    gate.wait();
    finished = true;
    wg.Done();
  }),
              IsOk());
  started.wait();
  pool->Release();
  gate.count_down();
  wg.Wait();
  EXPECT_TRUE(finished.load());
  EXPECT_TRUE(WaitUntil([&] { return pool->Running() == 0; }));
}

TEST(PoolLifecycleTest, ReleaseTimeoutReportsATimeoutWhenATaskIsStuck) {
  auto pool = MakePool(2);
  Blocker blocker(*pool, 1);
  const absl::Status status = pool->ReleaseTimeout(absl::Milliseconds(30));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(pool->IsClosed());
  EXPECT_THAT(pool->ReleaseTimeout(absl::Seconds(1)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(PoolLifecycleTest, ReleaseTimeoutSucceedsOnceWorkersExit) {
  auto pool = MakePool(4);
  { Blocker blocker(*pool, 4); }
  EXPECT_THAT(pool->ReleaseTimeout(absl::Seconds(30)), IsOk());
  EXPECT_EQ(pool->Running(), 0);
}

TEST(PoolLifecycleTest, RebootAfterReleaseRunsTasksAgainManyTimes) {
  constexpr int kCycles = 50;
  constexpr int kTasks = 20;
  auto pool = MakePool(4, ShortExpiry());
  std::atomic<int> ran{0};
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    WaitGroup wg;
    wg.Add(kTasks);
    for (int i = 0; i < kTasks; ++i) {
      ASSERT_THAT(pool->Submit([&] {
        ran.fetch_add(1);
        wg.Done();
      }),
                  IsOk());
    }
    wg.Wait();
    if (cycle % 2 == 0) {
      ASSERT_THAT(pool->ReleaseTimeout(absl::Seconds(30)), IsOk());
    } else {
      pool->Release();
    }
    EXPECT_THAT(pool->Submit([] {}),
                StatusIs(absl::StatusCode::kFailedPrecondition));
    pool->Reboot();
    EXPECT_FALSE(pool->IsClosed());
  }
  EXPECT_EQ(ran.load(), kCycles * kTasks);
}

TEST(PoolLifecycleTest, RebootOfAnOpenPoolDoesNothing) {
  auto pool = MakePool(2);
  pool->Reboot();
  EXPECT_FALSE(pool->IsClosed());
  EXPECT_THAT(pool->Submit([] {}), IsOk());
}

TEST(PoolLifecycleTest, DestructionWaitsForTheRunningTask) {
  std::atomic<bool> finished{false};
  std::latch started(1);
  std::latch gate(1);
  std::thread opener;
  {
    auto pool = MakePool(1);
    ASSERT_THAT(pool->Submit([&] {
      started.count_down();
      gate.wait();
      finished = true;
    }),
                IsOk());
    started.wait();
    opener = std::thread([&] { gate.count_down(); });
  }  // ~Pool returns only after the task.
  EXPECT_TRUE(finished.load());
  opener.join();
}

}  // namespace
}  // namespace jobpool
