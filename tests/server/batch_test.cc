// Batches as remote WaitGroups, over a real server.

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server/test_server.h"
#include "tests/testing/wait_until.h"

namespace jobpool {
namespace {

using ::jobpool::testing::Deadline;
using ::jobpool::testing::MakePoolConfig;
using ::jobpool::testing::Spec;
using ::jobpool::testing::TestServer;

v1::CreateBatchResponse Create(TestServer& server,
                               std::vector<v1::JobSpec> jobs, bool seal,
                               bool fail_fast = false) {
  v1::CreateBatchRequest request;
  for (auto& job : jobs) *request.add_jobs() = std::move(job);
  request.mutable_options()->set_seal(seal);
  request.mutable_options()->set_fail_fast(fail_fast);
  v1::CreateBatchResponse response;
  auto context = Deadline(absl::Seconds(120));
  const grpc::Status status =
      server.stub().CreateBatch(context.get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

grpc::Status Wait(TestServer& server, const std::string& id,
                  v1::WaitBatchResponse* response, bool include_jobs = false,
                  absl::Duration timeout = absl::Seconds(120)) {
  v1::WaitBatchRequest request;
  request.set_batch_id(id);
  request.set_include_jobs(include_jobs);
  auto context = Deadline(timeout);
  return server.stub().WaitBatch(context.get(), request, response);
}

TEST(BatchTest, CancelBatchEndsEveryUnfinishedJob) {
  TestServer server({MakePoolConfig("default", 2)});
  std::vector<v1::JobSpec> jobs = {Spec("noop")};
  for (int i = 0; i < 6; ++i)
    jobs.push_back(Spec("sleep", {{"duration", "60s"}}));
  const v1::CreateBatchResponse created = Create(server, jobs, false);
  // The noop has ended and two sleepers run; four wait.
  ASSERT_TRUE(::jobpool::testing::WaitUntil([&] {
    auto now = server.manager().GetBatch(created.batch_id(), false);
    return now.ok() && now->summary().succeeded() == 1 &&
           now->summary().running() == 2;
  }));

  v1::CancelBatchRequest request;
  request.set_batch_id(created.batch_id());
  v1::WaitBatchResponse cancelled;
  auto context = Deadline(absl::Seconds(60));
  ASSERT_TRUE(
      server.stub().CancelBatch(context.get(), request, &cancelled).ok());
  EXPECT_TRUE(cancelled.sealed());

  v1::WaitBatchResponse done;
  ASSERT_TRUE(Wait(server, created.batch_id(), &done).ok());
  EXPECT_TRUE(done.complete());
  EXPECT_FALSE(done.success());
  EXPECT_EQ(done.summary().succeeded(), 1);
  EXPECT_EQ(done.summary().cancelled(), 6);  // 2 running, 4 still queued.

  request.set_batch_id("test/batch/999");
  auto missing = Deadline(absl::Seconds(60));
  EXPECT_EQ(server.stub()
                .CancelBatch(missing.get(), request, &cancelled)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST(BatchTest, HundredThousandNoopJobsComplete) {
  constexpr int kJobs = 100'000;
  TestServer server({MakePoolConfig("default", 8)});
  v1::CreateBatchRequest request;
  for (int i = 0; i < kJobs; ++i) request.add_jobs()->set_kind("noop");
  request.mutable_options()->set_seal(true);
  v1::CreateBatchResponse created;
  auto context = Deadline(absl::Seconds(300));
  ASSERT_TRUE(server.stub().CreateBatch(context.get(), request, &created).ok());
  EXPECT_EQ(created.job_ids_size(), kJobs);

  v1::WaitBatchResponse done;
  const grpc::Status status =
      Wait(server, created.batch_id(), &done, true, absl::Seconds(300));
  ASSERT_TRUE(status.ok()) << status.error_code() << " "
                           << status.error_message();
  EXPECT_TRUE(done.complete());
  EXPECT_TRUE(done.success());
  EXPECT_EQ(done.summary().total(), kJobs);
  EXPECT_EQ(done.summary().succeeded(), kJobs);
  EXPECT_EQ(done.jobs_size(), kJobs);
}

TEST(BatchTest, MixedFailAndSleepIsCompleteButNotSuccess) {
  TestServer server;
  auto created = Create(
      server,
      {Spec("sleep", {{"duration", "10ms"}}), Spec("fail"), Spec("noop")},
      true);
  v1::WaitBatchResponse done;
  ASSERT_TRUE(Wait(server, created.batch_id(), &done).ok());
  EXPECT_TRUE(done.complete());
  EXPECT_FALSE(done.success());
  EXPECT_EQ(done.summary().succeeded(), 2);
  EXPECT_EQ(done.summary().failed(), 1);
}

TEST(BatchTest, FailFastCancelsTheRest) {
  TestServer server({MakePoolConfig("default", 1)});
  auto created = Create(server,
                        {Spec("fail"), Spec("sleep", {{"duration", "60s"}}),
                         Spec("sleep", {{"duration", "60s"}})},
                        true, /*fail_fast=*/true);
  v1::WaitBatchResponse done;
  ASSERT_TRUE(Wait(server, created.batch_id(), &done, true).ok());
  EXPECT_TRUE(done.complete());
  EXPECT_FALSE(done.success());
  EXPECT_EQ(done.summary().failed(), 1);
  EXPECT_EQ(done.summary().cancelled(), 2);
}

TEST(BatchTest, JobsAddedLaterAndCompletionWaitsForTheSeal) {
  TestServer server;
  auto created = Create(server, {Spec("noop")}, /*seal=*/false);
  v1::AddToBatchRequest add;
  add.set_batch_id(created.batch_id());
  *add.add_jobs() = Spec("echo", {}, "x");
  v1::AddToBatchResponse added;
  auto c1 = Deadline(absl::Seconds(60));
  ASSERT_TRUE(server.stub().AddToBatch(c1.get(), add, &added).ok());
  EXPECT_EQ(added.job_ids_size(), 1);

  // GetBatch answers at once, with every job when asked.
  v1::GetBatchRequest get;
  get.set_batch_id(created.batch_id());
  get.set_include_jobs(true);
  v1::WaitBatchResponse now;
  auto c0 = Deadline(absl::Seconds(60));
  ASSERT_TRUE(server.stub().GetBatch(c0.get(), get, &now).ok());
  EXPECT_FALSE(now.sealed());
  EXPECT_FALSE(now.complete());
  EXPECT_EQ(now.summary().total(), 2);
  EXPECT_EQ(now.jobs_size(), 2);

  // Not sealed: a short wait times out even though both jobs end quickly.
  v1::WaitBatchResponse early;
  EXPECT_EQ(
      Wait(server, created.batch_id(), &early, false, absl::Milliseconds(200))
          .error_code(),
      grpc::StatusCode::DEADLINE_EXCEEDED);

  v1::SealBatchRequest seal;
  seal.set_batch_id(created.batch_id());
  v1::SealBatchResponse sealed;
  auto c2 = Deadline(absl::Seconds(60));
  ASSERT_TRUE(server.stub().SealBatch(c2.get(), seal, &sealed).ok());
  v1::WaitBatchResponse done;
  ASSERT_TRUE(Wait(server, created.batch_id(), &done).ok());
  EXPECT_TRUE(done.success());
  EXPECT_EQ(done.summary().total(), 2);

  auto c3 = Deadline(absl::Seconds(60));
  EXPECT_EQ(server.stub().AddToBatch(c3.get(), add, &added).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(BatchTest, AWaiterReattachesAfterItsDeadline) {
  TestServer server;
  auto created = Create(server, {Spec("sleep", {{"duration", "500ms"}})}, true);
  v1::WaitBatchResponse first;
  EXPECT_EQ(
      Wait(server, created.batch_id(), &first, false, absl::Milliseconds(50))
          .error_code(),
      grpc::StatusCode::DEADLINE_EXCEEDED);
  v1::WaitBatchResponse second;
  ASSERT_TRUE(Wait(server, created.batch_id(), &second).ok());
  EXPECT_TRUE(second.complete());
  EXPECT_TRUE(second.success());
}

TEST(BatchTest, OneBadJobRefusesTheWholeBatch) {
  TestServer server;
  v1::CreateBatchRequest request;
  request.add_jobs()->set_kind("noop");
  *request.add_jobs() = Spec("sleep", {{"duration", "later"}});
  v1::CreateBatchResponse response;
  auto context = Deadline(absl::Seconds(60));
  EXPECT_EQ(
      server.stub().CreateBatch(context.get(), request, &response).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(server.manager().Stats().totals().submitted(), 0);
}

TEST(BatchTest, UnknownBatchIsNotFound) {
  TestServer server;
  v1::WaitBatchResponse response;
  EXPECT_EQ(Wait(server, "test/batch/42", &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST(BatchTest, RunBatchStreamsEveryResultThenASummary) {
  constexpr int kJobs = 1000;
  TestServer server;
  v1::RunBatchRequest request;
  for (int i = 0; i < kJobs; ++i) *request.add_jobs() = Spec("echo", {}, "r");
  auto context = Deadline(absl::Seconds(120));
  auto reader = server.stub().RunBatch(context.get(), request);
  v1::RunBatchResponse message;
  std::string batch_id;
  int results = 0;
  int summaries = 0;
  v1::WaitBatchResponse last;
  while (reader->Read(&message)) {
    if (message.has_batch_id()) batch_id = message.batch_id();
    if (message.has_job()) {
      ++results;
      EXPECT_EQ(message.job().output(), "r");
    }
    if (message.has_progress()) {
      ++summaries;
      last = message.progress();
    }
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_FALSE(batch_id.empty());
  EXPECT_EQ(results, kJobs);
  EXPECT_EQ(summaries, 1);
  EXPECT_TRUE(last.complete());
  EXPECT_EQ(last.summary().succeeded(), kJobs);
}

TEST(BatchTest, RunBatchInProgressModeEndsWithTheSummary) {
  TestServer server;
  v1::RunBatchRequest request;
  for (int i = 0; i < 200; ++i) *request.add_jobs() = Spec("noop");
  request.mutable_progress_interval()->set_nanos(1'000'000);
  auto context = Deadline(absl::Seconds(120));
  auto reader = server.stub().RunBatch(context.get(), request);
  v1::RunBatchResponse message;
  v1::WaitBatchResponse last;
  int jobs = 0;
  while (reader->Read(&message)) {
    if (message.has_job()) ++jobs;
    if (message.has_progress()) last = message.progress();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(jobs, 0);
  EXPECT_TRUE(last.complete());
  EXPECT_EQ(last.summary().total(), 200);
}

}  // namespace
}  // namespace jobpool
