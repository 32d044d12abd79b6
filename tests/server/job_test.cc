// Single jobs over a real server: Submit, GetJob, WaitJob, CancelJob, the
// kinds, and every row of the error table.

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proto/status_convert.h"
#include "tests/server/test_server.h"
#include "tests/testing/wait_until.h"

namespace jobpool {
namespace {

using ::jobpool::testing::Deadline;
using ::jobpool::testing::MakePoolConfig;
using ::jobpool::testing::Spec;
using ::jobpool::testing::TestServer;

v1::SubmitResponse SubmitOk(TestServer& server, v1::SubmitRequest request) {
  v1::SubmitResponse response;
  auto context = Deadline(absl::Seconds(60));
  const grpc::Status status =
      server.stub().Submit(context.get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

grpc::StatusCode SubmitCode(TestServer& server,
                            const v1::SubmitRequest& request,
                            absl::Duration timeout = absl::Seconds(60)) {
  v1::SubmitResponse response;
  auto context = Deadline(timeout);
  return server.stub().Submit(context.get(), request, &response).error_code();
}

v1::SubmitRequest Request(v1::JobSpec spec, bool wait = false,
                          std::string pool = "") {
  v1::SubmitRequest request;
  *request.mutable_job() = std::move(spec);
  request.set_wait_for_result(wait);
  request.set_pool(std::move(pool));
  return request;
}

TEST(JobTest, SubmitReturnsOnAdmissionWithTheJobId) {
  TestServer server;
  const v1::SubmitResponse response = SubmitOk(server, Request(Spec("noop")));
  EXPECT_EQ(response.job().pool(), "default");
  EXPECT_EQ(response.job().id().rfind("test/default/", 0), 0u);
  EXPECT_NE(response.job().state(), v1::JOB_STATE_PENDING);

  v1::WaitJobRequest wait;
  wait.set_id(response.job().id());
  v1::WaitJobResponse waited;
  auto context = Deadline(absl::Seconds(60));
  ASSERT_TRUE(server.stub().WaitJob(context.get(), wait, &waited).ok());
  EXPECT_EQ(waited.job().state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_TRUE(waited.job().has_finished_at());

  v1::GetJobRequest get;
  get.set_id(response.job().id());
  v1::GetJobResponse got;
  auto get_context = Deadline(absl::Seconds(60));
  ASSERT_TRUE(server.stub().GetJob(get_context.get(), get, &got).ok());
  EXPECT_EQ(got.job().state(), v1::JOB_STATE_SUCCEEDED);
}

TEST(JobTest, SubmitCanWaitForTheResult) {
  TestServer server;
  const v1::SubmitResponse echo =
      SubmitOk(server, Request(Spec("echo", {}, "hello"), true));
  EXPECT_EQ(echo.job().state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(echo.job().output(), "hello");

  const v1::SubmitResponse sha =
      SubmitOk(server, Request(Spec("sha256", {{"rounds", "1"}}, "abc"), true));
  EXPECT_EQ(sha.job().output(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(JobTest, WaitingForAResultSurvivesImmediateForgetting) {
  ManagerOptions options;
  options.retention = absl::ZeroDuration();  // Forgotten as soon as it ends.
  TestServer server({MakePoolConfig("default", 2)}, options);
  for (int i = 0; i < 50; ++i) {
    const v1::SubmitResponse echo =
        SubmitOk(server, Request(Spec("echo", {}, "still here"), true));
    EXPECT_EQ(echo.job().state(), v1::JOB_STATE_SUCCEEDED);
    EXPECT_EQ(echo.job().output(), "still here");
  }
}

TEST(JobTest, AJobsOwnFailureIsDataNotAnRpcError) {
  TestServer server;
  const v1::SubmitResponse failed = SubmitOk(
      server, Request(Spec("fail", {{"message", "disk on fire"}}), true));
  EXPECT_EQ(failed.job().state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(failed.job().error(), "disk on fire");
}

TEST(JobTest, AJobPastItsTimeoutIsTimedOut) {
  TestServer server;
  v1::JobSpec spec = Spec("sleep", {{"duration", "60s"}});
  spec.mutable_timeout()->set_nanos(50'000'000);
  const v1::SubmitResponse response = SubmitOk(server, Request(spec, true));
  EXPECT_EQ(response.job().state(), v1::JOB_STATE_TIMED_OUT);
}

TEST(JobTest, BadRequestsAreInvalidArgument) {
  ManagerOptions options;
  options.max_payload_bytes = 16;
  TestServer server({MakePoolConfig("default", 2)}, options);
  EXPECT_EQ(SubmitCode(server, Request(Spec("no-such-kind"))),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(SubmitCode(server, Request(Spec("noop"), false, "no-such-pool")),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(SubmitCode(server, Request(Spec("echo", {}, std::string(17, 'x')))),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(SubmitCode(server, Request(Spec("sleep", {{"duration", "soon"}}))),
            grpc::StatusCode::INVALID_ARGUMENT);

  v1::TuneRequest tune;
  tune.set_size(-1);
  v1::TuneResponse tuned;
  auto context = Deadline(absl::Seconds(60));
  EXPECT_EQ(server.stub().Tune(context.get(), tune, &tuned).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(JobTest, UnknownIdsAreNotFound) {
  TestServer server;
  v1::GetJobRequest get;
  get.set_id("test/default/999");
  v1::GetJobResponse got;
  auto c1 = Deadline(absl::Seconds(60));
  EXPECT_EQ(server.stub().GetJob(c1.get(), get, &got).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::WaitJobRequest wait;
  wait.set_id("nope");
  v1::WaitJobResponse waited;
  auto c2 = Deadline(absl::Seconds(60));
  EXPECT_EQ(server.stub().WaitJob(c2.get(), wait, &waited).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::CancelJobRequest cancel;
  cancel.set_id("nope");
  v1::CancelJobResponse cancelled;
  auto c3 = Deadline(absl::Seconds(60));
  EXPECT_EQ(server.stub().CancelJob(c3.get(), cancel, &cancelled).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST(JobTest, ReleasedPoolIsFailedPreconditionUntilRebooted) {
  TestServer server;
  v1::ReleaseRequest release;
  release.mutable_timeout()->set_seconds(30);
  v1::ReleaseResponse released;
  auto c1 = Deadline(absl::Seconds(60));
  ASSERT_TRUE(server.stub().Release(c1.get(), release, &released).ok());
  EXPECT_TRUE(released.drained());
  EXPECT_EQ(released.pool().state(), v1::POOL_STATE_RELEASED);
  EXPECT_EQ(SubmitCode(server, Request(Spec("noop"))),
            grpc::StatusCode::FAILED_PRECONDITION);

  v1::RebootResponse rebooted;
  auto c2 = Deadline(absl::Seconds(60));
  ASSERT_TRUE(
      server.stub().Reboot(c2.get(), v1::RebootRequest(), &rebooted).ok());
  EXPECT_EQ(rebooted.pool().state(), v1::POOL_STATE_OPEN);
  EXPECT_EQ(SubmitCode(server, Request(Spec("noop"))), grpc::StatusCode::OK);
}

TEST(JobTest, DrainingServerIsUnavailable) {
  TestServer server;
  server.manager().Drain();
  v1::SubmitResponse response;
  auto context = Deadline(absl::Seconds(60));
  const grpc::Status status =
      server.stub().Submit(context.get(), Request(Spec("noop")), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(RetryDelay(FromGrpcStatus(status)).has_value());
}

TEST(JobTest, NonblockingOverloadIsResourceExhaustedWithRetryAdvice) {
  PoolOptions options;
  options.nonblocking = true;
  TestServer server({MakePoolConfig("default", 1, options)});
  SubmitOk(server, Request(Spec("sleep", {{"duration", "60s"}})));
  v1::SubmitResponse response;
  auto context = Deadline(absl::Seconds(60));
  const grpc::Status status =
      server.stub().Submit(context.get(), Request(Spec("noop")), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const auto delay = RetryDelay(FromGrpcStatus(status));
  ASSERT_TRUE(delay.has_value());
  EXPECT_GT(*delay, absl::ZeroDuration());
  // The same advice as the trailer gRPC's client retry policy honours.
  const auto& trailers = context->GetServerTrailingMetadata();
  const auto pushback = trailers.find("grpc-retry-pushback-ms");
  ASSERT_NE(pushback, trailers.end());
  EXPECT_EQ(std::string(pushback->second.data(), pushback->second.size()),
            absl::StrCat(absl::ToInt64Milliseconds(*delay)));
  server.manager().AwaitIdle(absl::Now());  // Cancels the sleeper.
}

TEST(JobTest, MaxBlockingExceededIsResourceExhausted) {
  PoolOptions options;
  options.max_blocking_tasks = 1;
  TestServer server({MakePoolConfig("default", 1, options)});
  SubmitOk(server, Request(Spec("sleep", {{"duration", "60s"}})));
  // One more may wait (it gives up at its deadline); the next is refused.
  v1::SubmitRequest waiting_request = Request(Spec("noop"));
  v1::SubmitResponse waiting_response;
  grpc::ClientContext waiting;
  waiting.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  server.stub().async()->Submit(&waiting, &waiting_request, &waiting_response,
                                [&](grpc::Status) {
                                  std::lock_guard<std::mutex> lock(mu);
                                  done = true;
                                  cv.notify_all();
                                });
  ASSERT_TRUE(::jobpool::testing::WaitUntil(
      [&] { return server.manager().Stats().pools(0).waiting() == 1; }));
  EXPECT_EQ(SubmitCode(server, Request(Spec("noop"))),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  waiting.TryCancel();
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  server.manager().AwaitIdle(absl::Now());
}

TEST(JobTest, DeadlineShorterThanTheJobIsDeadlineExceeded) {
  TestServer server;
  EXPECT_EQ(
      SubmitCode(server, Request(Spec("sleep", {{"duration", "60s"}}), true),
                 absl::Milliseconds(200)),
      grpc::StatusCode::DEADLINE_EXCEEDED);
  const v1::SubmitResponse running =
      SubmitOk(server, Request(Spec("sleep", {{"duration", "60s"}})));
  v1::WaitJobRequest wait;
  wait.set_id(running.job().id());
  v1::WaitJobResponse waited;
  auto context = Deadline(absl::Milliseconds(200));
  EXPECT_EQ(server.stub().WaitJob(context.get(), wait, &waited).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  server.manager().AwaitIdle(absl::Now());
}

TEST(JobTest, CancelStopsARunningJobAndWithdrawsAPendingOne) {
  TestServer server({MakePoolConfig("default", 1)});
  const v1::SubmitResponse running =
      SubmitOk(server, Request(Spec("sleep", {{"duration", "60s"}})));
  // The pool is full: this one waits for a worker.
  v1::SubmitRequest queued_request = Request(Spec("noop"));
  v1::SubmitResponse queued_response;
  grpc::ClientContext queued_context;
  std::mutex mu;
  std::condition_variable cv;
  bool queued_done = false;
  grpc::Status queued_status;
  server.stub().async()->Submit(&queued_context, &queued_request,
                                &queued_response, [&](grpc::Status s) {
                                  std::lock_guard<std::mutex> lock(mu);
                                  queued_status = s;
                                  queued_done = true;
                                  cv.notify_all();
                                });
  ASSERT_TRUE(::jobpool::testing::WaitUntil(
      [&] { return server.manager().Stats().pools(0).waiting() == 1; }));

  v1::CancelJobRequest cancel;
  cancel.set_id(running.job().id());
  v1::CancelJobResponse cancelled;
  auto c1 = Deadline(absl::Seconds(60));
  ASSERT_TRUE(server.stub().CancelJob(c1.get(), cancel, &cancelled).ok());
  v1::WaitJobRequest wait;
  wait.set_id(running.job().id());
  v1::WaitJobResponse waited;
  auto c2 = Deadline(absl::Seconds(60));
  ASSERT_TRUE(server.stub().WaitJob(c2.get(), wait, &waited).ok());
  EXPECT_EQ(waited.job().state(), v1::JOB_STATE_CANCELLED);

  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return queued_done; });
  EXPECT_TRUE(queued_status.ok());  // Admitted once the sleeper stopped.
}

TEST(JobTest, IdempotencyKeyReturnsTheSameJob) {
  TestServer server;
  v1::JobSpec spec = Spec("echo", {}, "once");
  spec.set_idempotency_key("k1");
  const v1::SubmitResponse first = SubmitOk(server, Request(spec, true));
  const v1::SubmitResponse second = SubmitOk(server, Request(spec, true));
  EXPECT_EQ(first.job().id(), second.job().id());
  EXPECT_EQ(second.job().output(), "once");

  spec.set_payload("different");
  EXPECT_EQ(SubmitCode(server, Request(spec)),
            grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(server.manager().Stats().totals().submitted(), 1);
}

TEST(JobTest, ListKindsNamesTheBuiltins) {
  TestServer server;
  v1::ListKindsResponse kinds;
  auto context = Deadline(absl::Seconds(60));
  ASSERT_TRUE(server.stub()
                  .ListKinds(context.get(), v1::ListKindsRequest(), &kinds)
                  .ok());
  std::vector<std::string> names;
  for (const auto& k : kinds.kinds()) names.push_back(k.name());
  EXPECT_EQ(names, (std::vector<std::string>{"echo", "fail", "noop", "sha256",
                                             "sleep"}));
}

}  // namespace
}  // namespace jobpool

namespace jobpool {
namespace {

TEST(ServerTest, APortInUseIsRefusedNotShared) {
  TestServer first;
  ServerOptions options;
  options.listen = first.address();
  auto second = Server::Start(options, &first.manager());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace jobpool
