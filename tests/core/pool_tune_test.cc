// Pool::Tune(): growing, shrinking, and the pool kinds it applies to.

#include <atomic>
#include <latch>
#include <vector>

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

TEST(PoolTuneTest, RejectsNonPositiveSizes) {
  auto pool = MakePool(2);
  EXPECT_THAT(pool->Tune(0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(pool->Tune(-3), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(pool->Cap(), 2);
}

TEST(PoolTuneTest, GrowingAdmitsWaitersAtOnce) {
  auto pool = MakePool(1);
  Blocker blocker(*pool, 1);
  // The parked tasks can only finish if they run beside the blocked one.
  std::latch admitted(3);
  ParkedSubmitters parked(*pool, 3,
                          [&] { return [&] { admitted.count_down(); }; });

  ASSERT_THAT(pool->Tune(4), IsOk());
  admitted.wait();
  for (const absl::Status& s : parked.Join()) EXPECT_THAT(s, IsOk());
  EXPECT_EQ(pool->Cap(), 4);
  EXPECT_EQ(pool->Waiting(), 0);
  EXPECT_EQ(pool->Running(), 4);
}

TEST(PoolTuneTest, ShrinkingUnderLoadNeverInterruptsAndConverges) {
  constexpr int kBusy = 8;
  auto pool = MakePool(kBusy);
  std::atomic<int> finished{0};
  std::latch started(kBusy);
  std::latch gate(1);
  WaitGroup wg;
  wg.Add(kBusy);
  for (int i = 0; i < kBusy; ++i) {
    ASSERT_THAT(pool->Submit([&] {
      started.count_down();
      gate.wait();
      finished.fetch_add(1);
      wg.Done();
    }),
                IsOk());
  }
  started.wait();

  ASSERT_THAT(pool->Tune(2), IsOk());
  EXPECT_EQ(pool->Cap(), 2);
  EXPECT_EQ(pool->Running(), kBusy);  // Nobody was interrupted...
  EXPECT_EQ(finished.load(), 0);

  gate.count_down();
  wg.Wait();
  EXPECT_EQ(finished.load(), kBusy);  // ...every task ran to its end...
  // ...and the surplus workers retired as they finished.
  EXPECT_TRUE(WaitUntil([&] { return pool->Running() == 2; }));
  EXPECT_EQ(pool->Free(), 0);
}

TEST(PoolTuneTest, ShrinkingRetiresIdleWorkersAtOnce) {
  PoolOptions options;
  options.disable_purge = true;
  auto pool = MakePool(4, options);
  { Blocker blocker(*pool, 4); }  // Four workers, then four idle ones.
  ASSERT_TRUE(WaitUntil([&] { return pool->Stats().idle == 4; }));

  ASSERT_THAT(pool->Tune(1), IsOk());
  EXPECT_EQ(pool->Running(), 1);
  EXPECT_EQ(pool->Stats().idle, 1);
}

TEST(PoolTuneTest, WorksOnAPreallocatedPool) {
  PoolOptions options;
  options.prealloc = true;
  auto pool = MakePool(2, options);
  ASSERT_THAT(pool->Tune(6), IsOk());
  EXPECT_EQ(pool->Cap(), 6);
  Blocker blocker(*pool, 6);  // Six tasks at once: the new capacity is real.
  EXPECT_EQ(pool->Running(), 6);

  ASSERT_THAT(pool->Tune(3), IsOk());
  blocker.Open();
  EXPECT_TRUE(WaitUntil([&] { return pool->Running() == 3; }));
}

TEST(PoolTuneTest, BoundsAnUnboundedPool) {
  auto pool = MakePool(0);
  ASSERT_THAT(pool->Tune(2), IsOk());
  EXPECT_EQ(pool->Cap(), 2);
  Blocker blocker(*pool, 2);
  EXPECT_EQ(pool->Free(), 0);
}

TEST(PoolTuneTest, GrowingAndShrinkingWhileSubmittersRun) {
  constexpr int kTasks = 4000;
  auto pool = MakePool(2);
  WaitGroup wg;
  std::atomic<int> ran{0};
  wg.Add(kTasks);
  std::thread submitter([&] {
    for (int i = 0; i < kTasks; ++i) {
      ASSERT_THAT(pool->Submit([&] {
        ran.fetch_add(1);
        wg.Done();
      }),
                  IsOk());
    }
  });
  for (int round = 0; round < 200; ++round) {
    ASSERT_THAT(pool->Tune(1 + round % 7), IsOk());
  }
  submitter.join();
  wg.Wait();
  EXPECT_EQ(ran.load(), kTasks);
  const int cap = pool->Cap();
  EXPECT_TRUE(WaitUntil([&] { return pool->Running() <= cap; }));
}

}  // namespace
}  // namespace jobpool
