// CancelToken: cancellation, deadlines and wake-up callbacks.

#include "server/cancel_token.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace jobpool {
namespace {

TEST(CancelTokenTest, FirstReasonWins) {
  CancelToken token;
  EXPECT_FALSE(token.IsCancelled());
  EXPECT_TRUE(token.Cancel("first"));
  EXPECT_FALSE(token.Cancel("second"));
  EXPECT_TRUE(token.IsCancelled());
  EXPECT_FALSE(token.TimedOut());
  EXPECT_EQ(token.Reason(), "first");
}

TEST(CancelTokenTest, DeadlineCancelsAsTimedOut) {
  const absl::Time deadline = absl::Now() + absl::Milliseconds(20);
  CancelToken token(deadline);
  EXPECT_EQ(token.Deadline(), deadline);
  EXPECT_FALSE(token.WaitFor(absl::Hours(1)));  // Ends at the deadline.
  EXPECT_TRUE(token.IsCancelled());
  EXPECT_TRUE(token.TimedOut());
  EXPECT_EQ(token.Reason(), "timed out");
  EXPECT_EQ(CancelToken().Deadline(), absl::InfiniteFuture());
}

TEST(CancelTokenTest, CallbacksRunOnceOnCancel) {
  CancelToken token;
  int first = 0;
  int second = 0;
  int removed = 0;
  token.AddCallback([&first] { ++first; });
  const uint64_t id = token.AddCallback([&removed] { ++removed; });
  token.AddCallback([&second] { ++second; });
  token.RemoveCallback(id);
  token.Cancel("stop");
  token.Cancel("again");
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
  EXPECT_EQ(removed, 0);
  int late = 0;
  EXPECT_EQ(token.AddCallback([&late] { ++late; }), 0u);  // Runs at once.
  EXPECT_EQ(late, 1);
}

TEST(CancelTokenTest, CancelFromAnotherThreadWakesAWaiter) {
  CancelToken token;
  std::atomic<bool> woken{false};
  token.AddCallback([&woken] { woken = true; });
  std::thread canceller([&token] { token.Cancel("from another thread"); });
  EXPECT_FALSE(token.WaitFor(absl::Hours(1)));
  canceller.join();
  EXPECT_TRUE(woken.load());
}

}  // namespace
}  // namespace jobpool
