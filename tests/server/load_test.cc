// The server under load: thousands of waiting callers cost no threads,
// callers that leave free their waiters, Tune under load loses nothing, and
// the statistics add up.

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "gtest/gtest.h"
#include "server/process_stats.h"
#include "tests/server/test_server.h"
#include "tests/testing/wait_until.h"

namespace jobpool {
namespace {

using ::jobpool::testing::Deadline;
using ::jobpool::testing::MakePoolConfig;
using ::jobpool::testing::Spec;
using ::jobpool::testing::TestServer;
using ::jobpool::testing::WaitUntil;

// Many asynchronous Submit calls in flight from one client thread.
class AsyncSubmits {
 public:
  AsyncSubmits(v1::JobPool::Stub& stub, int n, const v1::SubmitRequest& request,
               absl::Duration timeout = absl::Seconds(300))
      : calls_(static_cast<size_t>(n)) {
    for (Call& call : calls_) {
      call.request = request;
      call.context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
      stub.async()->Submit(&call.context, &call.request, &call.response,
                           [this, &call](grpc::Status status) {
                             std::lock_guard<std::mutex> lock(mu_);
                             call.status = std::move(status);
                             ++done_;
                             cv_.notify_all();
                           });
    }
  }
  ~AsyncSubmits() {
    for (Call& call : calls_) call.context.TryCancel();
    WaitAll();
  }

  void WaitAll() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_ == calls_.size(); });
  }
  int Ok() {
    int ok = 0;
    for (Call& call : calls_) ok += call.status.ok() ? 1 : 0;
    return ok;
  }
  void CancelAll() {
    for (Call& call : calls_) call.context.TryCancel();
  }

 private:
  struct Call {
    v1::SubmitRequest request;
    v1::SubmitResponse response;
    grpc::ClientContext context;
    grpc::Status status;
  };
  std::vector<Call> calls_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t done_ = 0;
};

v1::SubmitRequest Noop() {
  v1::SubmitRequest request;
  request.mutable_job()->set_kind("noop");
  return request;
}

int Waiting(TestServer& server) {
  return server.manager().Stats().pools(0).waiting();
}

TEST(LoadTest, TenThousandWaitingSubmittersHoldNoThreads) {
  constexpr int kCallers = 10'000;
  TestServer server({MakePoolConfig("default", 1)});
  v1::SubmitRequest blocker;
  *blocker.mutable_job() = Spec("sleep", {{"duration", "60s"}});
  v1::SubmitResponse blocked;
  auto context = Deadline(absl::Seconds(60));
  ASSERT_TRUE(server.stub().Submit(context.get(), blocker, &blocked).ok());

  const int threads_before = ReadProcessStats().threads;
  AsyncSubmits callers(server.stub(), kCallers, Noop());
  ASSERT_TRUE(WaitUntil([&] { return Waiting(server) == kCallers; }));
  const int threads_waiting = ReadProcessStats().threads;
  // This process holds the client and the server: neither grew a thread
  // per waiting call.
  EXPECT_LT(threads_waiting, 100);
  EXPECT_LT(threads_waiting - threads_before, 20);

  v1::TuneRequest tune;
  tune.set_size(64);
  v1::TuneResponse tuned;
  auto tune_context = Deadline(absl::Seconds(60));
  ASSERT_TRUE(server.stub().Tune(tune_context.get(), tune, &tuned).ok());
  callers.WaitAll();
  EXPECT_EQ(callers.Ok(), kCallers);
  ASSERT_TRUE(WaitUntil([&] {
    return server.manager().Stats().totals().succeeded() == kCallers;
  }));
  server.manager().AwaitIdle(absl::Now());
}

TEST(LoadTest, CallersThatLeaveFreeTheirWaiters) {
  TestServer server({MakePoolConfig("default", 1)});
  v1::SubmitRequest blocker;
  *blocker.mutable_job() = Spec("sleep", {{"duration", "60s"}});
  v1::SubmitResponse blocked;
  auto context = Deadline(absl::Seconds(60));
  ASSERT_TRUE(server.stub().Submit(context.get(), blocker, &blocked).ok());
  {
    AsyncSubmits leaving(server.stub(), 50, Noop());
    ASSERT_TRUE(WaitUntil([&] { return Waiting(server) == 50; }));
    leaving.CancelAll();
    leaving.WaitAll();
    EXPECT_EQ(leaving.Ok(), 0);
  }
  EXPECT_TRUE(WaitUntil([&] { return Waiting(server) == 0; }));
  {
    AsyncSubmits expiring(server.stub(), 50, Noop(), absl::Seconds(1));
    expiring.WaitAll();
    EXPECT_EQ(expiring.Ok(), 0);
  }
  EXPECT_TRUE(WaitUntil([&] { return Waiting(server) == 0; }));
  // Every job the server took, but the blocker, was withdrawn: none left
  // waiting, none lost. (On a loaded machine a call can expire before it
  // reaches the server; it was then never accepted, and is not counted.)
  const v1::StatsResponse stats = server.manager().Stats();
  EXPECT_EQ(stats.totals().cancelled(), stats.totals().submitted() - 1);
  EXPECT_GE(stats.totals().cancelled(), 50);
  server.manager().AwaitIdle(absl::Now());
}

TEST(LoadTest, TuneWhileAThousandJobsRunLosesNothing) {
  constexpr int kJobs = 1000;
  TestServer server({MakePoolConfig("default", 100)});
  v1::SubmitRequest sleeper;
  *sleeper.mutable_job() = Spec("sleep", {{"duration", "20ms"}});
  sleeper.set_wait_for_result(true);
  AsyncSubmits jobs(server.stub(), kJobs, sleeper);
  for (int size : {10, 200, 5, 50}) {
    v1::TuneRequest tune;
    tune.set_size(size);
    v1::TuneResponse tuned;
    auto context = Deadline(absl::Seconds(60));
    ASSERT_TRUE(server.stub().Tune(context.get(), tune, &tuned).ok());
  }
  jobs.WaitAll();
  EXPECT_EQ(jobs.Ok(), kJobs);
  const v1::StatsResponse stats = server.manager().Stats();
  const v1::JobTotals& t = stats.totals();
  EXPECT_EQ(t.submitted(), kJobs);
  EXPECT_EQ(t.submitted(), t.succeeded() + t.failed() + t.cancelled() +
                               t.timed_out() + t.rejected());
  EXPECT_EQ(t.succeeded(), kJobs);
  EXPECT_TRUE(WaitUntil(
      [&] { return server.manager().Stats().pools(0).running() <= 50; }));
  EXPECT_EQ(server.manager().Stats().pools(0).capacity(), 50);
}

TEST(LoadTest, StatsReportsEveryField) {
  TestServer server({MakePoolConfig("default", 2), MakePoolConfig("io", 10)});
  for (const char* kind : {"noop", "fail", "echo"}) {
    v1::SubmitRequest request;
    request.mutable_job()->set_kind(kind);
    request.set_wait_for_result(true);
    v1::SubmitResponse response;
    auto context = Deadline(absl::Seconds(60));
    ASSERT_TRUE(server.stub().Submit(context.get(), request, &response).ok());
  }
  v1::StatsResponse stats;
  auto context = Deadline(absl::Seconds(60));
  ASSERT_TRUE(
      server.stub().Stats(context.get(), v1::StatsRequest(), &stats).ok());
  EXPECT_EQ(stats.replica(), "test");
  EXPECT_FALSE(stats.draining());
  EXPECT_GT(stats.rss_bytes(), 0);
  EXPECT_GT(stats.threads(), 0);
  ASSERT_EQ(stats.pools_size(), 2);
  const v1::PoolStats& pool = stats.pools(0);
  EXPECT_EQ(pool.name(), "default");
  EXPECT_EQ(pool.capacity(), 2);
  EXPECT_EQ(pool.state(), v1::POOL_STATE_OPEN);
  EXPECT_EQ(pool.totals().submitted(), 3);
  EXPECT_EQ(pool.totals().succeeded(), 2);
  EXPECT_EQ(pool.totals().failed(), 1);
  EXPECT_EQ(pool.kinds_size(), 3);
  EXPECT_TRUE(pool.has_queue_wait());
  EXPECT_TRUE(pool.has_run_time());
  EXPECT_GE(pool.workers_spawned(), 1);
  EXPECT_EQ(stats.pools(1).name(), "io");
  EXPECT_EQ(stats.totals().submitted(), 3);
  EXPECT_EQ(stats.retained_jobs(), 3);
}

TEST(LoadTest, WatchStatsStreamsSnapshots) {
  TestServer server;
  v1::WatchStatsRequest request;
  request.mutable_interval()->set_nanos(100'000'000);
  grpc::ClientContext context;
  auto reader = server.stub().WatchStats(&context, request);
  v1::StatsResponse stats;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(reader->Read(&stats));
    EXPECT_EQ(stats.pools_size(), 1);
  }
  context.TryCancel();
  while (reader->Read(&stats)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

}  // namespace
}  // namespace jobpool
