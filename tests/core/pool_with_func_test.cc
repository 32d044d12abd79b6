#include "core/pool_with_func.h"

#include <atomic>
#include <latch>
#include <memory>
#include <string>

#include "core/wait_group.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait_until.h"

namespace jobpool {
namespace {

using ::jobpool::testing::IsOk;
using ::jobpool::testing::StatusIs;

TEST(PoolWithFuncTest, InvokeRunsTheFunctionWithEachArgument) {
  std::atomic<int> sum{0};
  WaitGroup wg;
  auto pool = PoolWithFunc<int>::Create(4, [&](int n) {
    sum.fetch_add(n);
    wg.Done();
  });
  ASSERT_THAT(pool, IsOk());
  wg.Add(100);
  for (int i = 1; i <= 100; ++i) ASSERT_THAT((*pool)->Invoke(i), IsOk());
  wg.Wait();
  EXPECT_EQ(sum.load(), 5050);
  EXPECT_LE((*pool)->Running(), 4);
}

TEST(PoolWithFuncTest, TakesMoveOnlyArguments) {
  std::atomic<int> total{0};
  WaitGroup wg;
  auto pool = PoolWithFunc<std::unique_ptr<int>>::Create(
      2, [&](std::unique_ptr<int> p) {
        total.fetch_add(*p);
        wg.Done();
      });
  ASSERT_THAT(pool, IsOk());
  wg.Add(2);
  ASSERT_THAT((*pool)->Invoke(std::make_unique<int>(40)), IsOk());
  ASSERT_THAT((*pool)->Invoke(std::make_unique<int>(2)), IsOk());
  wg.Wait();
  EXPECT_EQ(total.load(), 42);
}

TEST(PoolWithFuncTest, EmptyFunctionIsInvalidArgument) {
  EXPECT_THAT(PoolWithFunc<int>::Create(2, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(PoolWithFuncTest, NonblockingInvokeOverloads) {
  std::latch started(1);
  std::latch gate(1);
  PoolOptions options;
  options.nonblocking = true;
  auto pool = PoolWithFunc<int>::Create(
      1,
      [&](int) {
        started.count_down();
        gate.wait();
      },
      options);
  ASSERT_THAT(pool, IsOk());
  ASSERT_THAT((*pool)->Invoke(1), IsOk());
  started.wait();
  EXPECT_THAT((*pool)->Invoke(2),
              StatusIs(absl::StatusCode::kResourceExhausted));
  gate.count_down();
}

TEST(PoolWithFuncTest, TuneReleaseAndReboot) {
  std::atomic<int> calls{0};
  auto pool = PoolWithFunc<std::string>::Create(
      1, [&](const std::string&) { calls.fetch_add(1); });
  ASSERT_THAT(pool, IsOk());
  ASSERT_THAT((*pool)->Tune(3), IsOk());
  EXPECT_EQ((*pool)->Cap(), 3);
  ASSERT_THAT((*pool)->ReleaseTimeout(absl::Seconds(30)), IsOk());
  EXPECT_THAT((*pool)->Invoke("x"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  (*pool)->Reboot();
  ASSERT_THAT((*pool)->Invoke("y"), IsOk());
  EXPECT_TRUE(testing::WaitUntil([&] { return calls.load() == 1; }));
}

}  // namespace
}  // namespace jobpool
