// Pool::SubmitAsync() and Pool::Cancel(): admission without parking a thread.

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "core/pool.h"
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

// Records each admission outcome, in the order they arrive.
class Outcomes {
 public:
  AdmitCallback Track(int id) {
    wg_.Add(1);
    return [this, id](absl::Status status) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        order_.push_back(id);
        codes_.push_back(status.code());
      }
      wg_.Done();
    };
  }
  void Wait() { wg_.Wait(); }
  std::vector<int> order() {
    std::lock_guard<std::mutex> lock(mu_);
    return order_;
  }
  std::vector<absl::StatusCode> codes() {
    std::lock_guard<std::mutex> lock(mu_);
    return codes_;
  }

 private:
  WaitGroup wg_;
  std::mutex mu_;
  std::vector<int> order_;
  std::vector<absl::StatusCode> codes_;
};

TEST(PoolAsyncTest, AdmittedAtOnceCallsBackOnTheWorkerBeforeTheTask) {
  auto pool = MakePool(2);
  std::thread::id callback_thread;
  std::thread::id task_thread;
  std::atomic<bool> callback_first{false};
  std::atomic<bool> called{false};
  WaitGroup wg;
  wg.Add(1);
  auto ticket = pool->SubmitAsync(
      [&] {
        task_thread = std::this_thread::get_id();
        callback_first = called.load();
        wg.Done();
      },
      [&](absl::Status status) {
        EXPECT_THAT(status, IsOk());
        callback_thread = std::this_thread::get_id();
        called = true;
      });
  ASSERT_THAT(ticket, IsOk());
  wg.Wait();
  EXPECT_TRUE(callback_first.load());
  EXPECT_EQ(callback_thread, task_thread);
  EXPECT_NE(task_thread, std::this_thread::get_id());
  EXPECT_FALSE(pool->Cancel(*ticket));  // No longer queued.
}

TEST(PoolAsyncTest, QueuesThousandsWithoutParkingTheCaller) {
  constexpr int kQueued = 5000;
  auto pool = MakePool(1);
  Outcomes outcomes;
  std::atomic<int> ran{0};
  {
    Blocker blocker(*pool, 1);
    for (int i = 0; i < kQueued; ++i) {
      ASSERT_THAT(
          pool->SubmitAsync([&] { ran.fetch_add(1); }, outcomes.Track(i)),
          IsOk());
    }
    // Every call returned on this thread while the only worker was held.
    EXPECT_EQ(pool->Waiting(), kQueued);
    EXPECT_EQ(ran.load(), 0);
  }
  outcomes.Wait();
  std::vector<int> expected(kQueued);
  for (int i = 0; i < kQueued; ++i) expected[static_cast<size_t>(i)] = i;
  EXPECT_EQ(outcomes.order(), expected);  // First come, first admitted.
  EXPECT_THAT(outcomes.codes(), ::testing::Each(absl::StatusCode::kOk));
  EXPECT_EQ(pool->Waiting(), 0);
}

TEST(PoolAsyncTest, SyncAndAsyncWaitersShareOneFifo) {
  auto pool = MakePool(1);
  Outcomes outcomes;
  std::mutex mu;
  std::vector<int> run_order;
  auto record = [&](int id) {
    return [&, id] {
      std::lock_guard<std::mutex> lock(mu);
      run_order.push_back(id);
    };
  };
  {
    Blocker blocker(*pool, 1);
    ASSERT_THAT(pool->SubmitAsync(record(1), outcomes.Track(1)), IsOk());
    ParkedSubmitters parked(*pool, 1, [&] { return record(2); });
    ASSERT_THAT(pool->SubmitAsync(record(3), outcomes.Track(3)), IsOk());
    EXPECT_EQ(pool->Waiting(), 3);
    blocker.Open();
    EXPECT_THAT(parked.Join()[0], IsOk());
  }
  outcomes.Wait();
  ASSERT_TRUE(::jobpool::testing::WaitUntil(
      [&] { return pool->Stats().completed == 4; }));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_THAT(run_order, ::testing::ElementsAre(1, 2, 3));
}

TEST(PoolAsyncTest, FollowsTheSameAdmissionRuleAsSubmit) {
  PoolOptions nonblocking;
  nonblocking.nonblocking = true;
  auto pool = MakePool(1, nonblocking);
  Blocker blocker(*pool, 1);
  bool called = false;
  EXPECT_THAT(pool->SubmitAsync([] {}, [&](absl::Status) { called = true; }),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_FALSE(called);  // An immediate rejection drops the callback.

  PoolOptions limited;
  limited.max_blocking_tasks = 2;
  auto small = MakePool(1, limited);
  Blocker small_blocker(*small, 1);
  ASSERT_THAT(small->SubmitAsync([] {}, nullptr), IsOk());
  ASSERT_THAT(small->SubmitAsync([] {}, nullptr), IsOk());
  EXPECT_THAT(small->SubmitAsync([] {}, nullptr),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(small->Submit([] {}),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(small->Waiting(), 2);
}

TEST(PoolAsyncTest, CancelWithdrawsAQueuedSubmission) {
  auto pool = MakePool(1);
  Outcomes outcomes;
  std::atomic<int> ran{0};
  {
    Blocker blocker(*pool, 1);
    auto first =
        pool->SubmitAsync([&] { ran.fetch_add(1); }, outcomes.Track(1));
    auto second =
        pool->SubmitAsync([&] { ran.fetch_add(10); }, outcomes.Track(2));
    ASSERT_THAT(first, IsOk());
    ASSERT_THAT(second, IsOk());
    EXPECT_TRUE(pool->Cancel(*first));
    EXPECT_FALSE(pool->Cancel(*first));
    EXPECT_EQ(pool->Waiting(), 1);
  }
  outcomes.Wait();
  EXPECT_THAT(outcomes.codes(),
              ::testing::ElementsAre(absl::StatusCode::kCancelled,
                                     absl::StatusCode::kOk));
  ASSERT_TRUE(::jobpool::testing::WaitUntil(
      [&] { return pool->Stats().completed == 2; }));
  EXPECT_EQ(ran.load(), 10);  // The cancelled task never ran.
}

TEST(PoolAsyncTest, ReleaseRejectsQueuedSubmissionsWithClosed) {
  auto pool = MakePool(1);
  Outcomes outcomes;
  std::atomic<int> ran{0};
  Blocker blocker(*pool, 1);
  for (int i = 0; i < 10; ++i) {
    ASSERT_THAT(pool->SubmitAsync([&] { ran.fetch_add(1); }, outcomes.Track(i)),
                IsOk());
  }
  pool->Release();
  outcomes.Wait();
  EXPECT_THAT(outcomes.codes(),
              ::testing::Each(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(pool->SubmitAsync([] {}, nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  blocker.Open();
  EXPECT_EQ(ran.load(), 0);
}

TEST(PoolAsyncTest, GrowingAdmitsQueuedSubmissions) {
  auto pool = MakePool(1);
  Outcomes outcomes;
  Blocker blocker(*pool, 1);
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(pool->SubmitAsync([] {}, outcomes.Track(i)), IsOk());
  }
  ASSERT_THAT(pool->Tune(4), IsOk());
  outcomes.Wait();  // While the first worker is still held.
  EXPECT_THAT(outcomes.codes(), ::testing::Each(absl::StatusCode::kOk));
}

TEST(PoolAsyncTest, EmptyTaskIsInvalidArgument) {
  auto pool = MakePool(1);
  EXPECT_THAT(pool->SubmitAsync(Task(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace jobpool
