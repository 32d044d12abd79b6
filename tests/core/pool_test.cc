#include "core/pool.h"

#include <atomic>
#include <latch>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/wait_group.h"
#include "gmock/gmock.h"
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
using ::testing::HasSubstr;

TEST(PoolTest, CreateRejectsBadOptions) {
  PoolOptions negative_expiry;
  negative_expiry.expiry = absl::Seconds(-1);
  EXPECT_THAT(Pool::Create(4, negative_expiry),
              StatusIs(absl::StatusCode::kInvalidArgument));

  PoolOptions negative_blocking;
  negative_blocking.max_blocking_tasks = -1;
  EXPECT_THAT(Pool::Create(4, negative_blocking),
              StatusIs(absl::StatusCode::kInvalidArgument));

  PoolOptions prealloc;
  prealloc.prealloc = true;
  EXPECT_THAT(Pool::Create(0, prealloc),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(PoolTest, SubmitRunsTheTask) {
  auto pool = MakePool(2);
  WaitGroup wg;
  std::atomic<int> ran{0};
  wg.Add(1);
  ASSERT_THAT(pool->Submit([&] {
    ran.fetch_add(1);
    wg.Done();
  }),
              IsOk());
  wg.Wait();
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(pool->Cap(), 2);
  EXPECT_EQ(pool->Running(), 1);  // The worker stays until the expiry.
  EXPECT_EQ(pool->Free(), 1);
}

TEST(PoolTest, SubmitOfEmptyTaskIsInvalidArgument) {
  auto pool = MakePool(1);
  EXPECT_THAT(pool->Submit(Task()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(PoolTest, BlockingSubmitWaitsForAWorkerAndResumes) {
  auto pool = MakePool(1);
  Blocker blocker(*pool, 1);
  std::atomic<bool> second_ran{false};
  ParkedSubmitters parked(*pool, 1, [&] { return [&] { second_ran = true; }; });
  EXPECT_EQ(pool->Waiting(), 1);
  EXPECT_FALSE(second_ran.load());

  blocker.Open();
  EXPECT_THAT(parked.Join()[0], IsOk());
  EXPECT_TRUE(WaitUntil([&] { return second_ran.load(); }));
  EXPECT_EQ(pool->Waiting(), 0);
}

TEST(PoolTest, NonblockingSubmitFailsAtOnceWithOverload) {
  PoolOptions options;
  options.nonblocking = true;
  auto pool = MakePool(2, options);
  Blocker blocker(*pool, 2);
  const absl::Status status = pool->Submit([] {});
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_TRUE(IsPoolOverload(status));
  EXPECT_EQ(pool->Waiting(), 0);
}

TEST(PoolTest, MaxBlockingTasksLimitsWaitingSubmitters) {
  PoolOptions options;
  options.max_blocking_tasks = 2;
  auto pool = MakePool(1, options);
  Blocker blocker(*pool, 1);
  std::atomic<int> ran{0};
  ParkedSubmitters parked(*pool, 2, [&] { return [&] { ran.fetch_add(1); }; });

  EXPECT_THAT(pool->Submit([] {}),
              StatusIs(absl::StatusCode::kResourceExhausted));

  blocker.Open();
  for (const absl::Status& s : parked.Join()) EXPECT_THAT(s, IsOk());
  EXPECT_TRUE(WaitUntil([&] { return ran.load() == 2; }));
}

TEST(PoolTest, PanicHandlerGetsTheExceptionAndTheWorkerSurvives) {
  std::mutex mu;
  std::vector<std::string> caught;
  PoolOptions options;
  options.panic_handler = [&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::lock_guard<std::mutex> lock(mu);
      caught.emplace_back(ex.what());
    }
  };
  auto pool = MakePool(1, options);
  ASSERT_THAT(pool->Submit([] { throw std::runtime_error("boom"); }), IsOk());
  WaitGroup wg;
  wg.Add(1);
  ASSERT_THAT(pool->Submit([&] { wg.Done(); }), IsOk());
  wg.Wait();

  ASSERT_TRUE(WaitUntil([&] { return pool->Stats().completed == 2; }));
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_THAT(caught, ::testing::ElementsAre("boom"));
  }
  const PoolStats stats = pool->Stats();
  EXPECT_EQ(stats.panics, 1);
  EXPECT_EQ(stats.spawned, 1);  // The same worker ran both tasks.
  EXPECT_EQ(stats.running, 1);
}

TEST(PoolTest, ExceptionWithoutHandlerGoesToTheLogger) {
  std::mutex mu;
  std::vector<std::string> lines;
  PoolOptions options;
  options.logger = [&](absl::LogSeverity severity, absl::string_view line) {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(severity, absl::LogSeverity::kError);
    lines.emplace_back(line);
  };
  auto pool = MakePool(1, options);
  ASSERT_THAT(pool->Submit([] { throw std::logic_error("kaput"); }), IsOk());
  ASSERT_TRUE(WaitUntil([&] { return pool->Stats().completed == 1; }));
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("kaput"));
}

TEST(PoolTest, CountersStayExactUnderContention) {
  constexpr int kSubmitters = 8;
  constexpr int kTasksEach = 2000;
  constexpr int kCap = 4;
  auto pool = MakePool(kCap);
  WaitGroup wg;
  std::atomic<int> done{0};
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  wg.Add(kSubmitters * kTasksEach);
  std::vector<std::thread> submitters;
  for (int s = 0; s < kSubmitters; ++s) {
    submitters.emplace_back([&] {
      for (int i = 0; i < kTasksEach; ++i) {
        ASSERT_THAT(pool->Submit([&] {
          const int now = in_flight.fetch_add(1) + 1;
          int seen = max_in_flight.load();
          while (now > seen &&
                 !max_in_flight.compare_exchange_weak(seen, now)) {
          }
          in_flight.fetch_sub(1);
          done.fetch_add(1);
          wg.Done();
        }),
                    IsOk());
        const PoolStats stats = pool->Stats();
        ASSERT_LE(stats.running, kCap);
        ASSERT_EQ(stats.free, kCap - stats.running);
        ASSERT_EQ(stats.busy + stats.idle, stats.running);
      }
    });
  }
  for (auto& t : submitters) t.join();
  wg.Wait();
  EXPECT_EQ(done.load(), kSubmitters * kTasksEach);
  EXPECT_LE(max_in_flight.load(), kCap);
  ASSERT_TRUE(WaitUntil(
      [&] { return pool->Stats().completed == kSubmitters * kTasksEach; }));
  EXPECT_EQ(pool->Waiting(), 0);
  EXPECT_LE(pool->Stats().spawned, kCap + pool->Stats().purged);
}

TEST(PoolTest, UnboundedPoolStartsAWorkerPerConcurrentTask) {
  constexpr int kTasks = 64;
  auto pool = MakePool(0);
  EXPECT_EQ(pool->Cap(), -1);
  EXPECT_EQ(pool->Free(), -1);
  // Every task waits for all the others: only a worker each lets it finish.
  std::latch all_started(kTasks);
  WaitGroup wg;
  wg.Add(kTasks);
  for (int i = 0; i < kTasks; ++i) {
    ASSERT_THAT(pool->Submit([&] {
      all_started.arrive_and_wait();
      wg.Done();
    }),
                IsOk());
  }
  wg.Wait();
  EXPECT_EQ(pool->Running(), kTasks);
  EXPECT_EQ(pool->Free(), -1);
  EXPECT_EQ(pool->Waiting(), 0);
}

TEST(PoolTest, PreallocatedPoolRunsABurst) {
  PoolOptions options;
  options.prealloc = true;
  auto pool = MakePool(8, options);
  constexpr int kTasks = 1000;
  WaitGroup wg;
  std::atomic<int> ran{0};
  wg.Add(kTasks);
  for (int i = 0; i < kTasks; ++i) {
    ASSERT_THAT(pool->Submit([&] {
      ran.fetch_add(1);
      wg.Done();
    }),
                IsOk());
  }
  wg.Wait();
  EXPECT_EQ(ran.load(), kTasks);
  EXPECT_LE(pool->Running(), 8);
}

TEST(PoolTest, StatsSnapshotIsConsistent) {
  auto pool = MakePool(3);
  Blocker blocker(*pool, 2);
  const PoolStats stats = pool->Stats();
  EXPECT_EQ(stats.capacity, 3);
  EXPECT_EQ(stats.running, 2);
  EXPECT_EQ(stats.busy, 2);
  EXPECT_EQ(stats.idle, 0);
  EXPECT_EQ(stats.free, 1);
  EXPECT_EQ(stats.waiting, 0);
  EXPECT_FALSE(stats.closed);
  EXPECT_EQ(stats.spawned, 2);
}

}  // namespace
}  // namespace jobpool
