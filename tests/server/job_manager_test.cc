// JobManager without gRPC: what embedded kinds can do to it.

#include "server/job_manager.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/kind_registry.h"
#include "tests/testing/notification.h"

namespace jobpool {
namespace {

TEST(JobManagerTest, AHandlerThatThrowsFailsItsJob) {
  KindRegistry kinds = KindRegistry::WithBuiltins();
  ASSERT_TRUE(kinds
                  .Register({"explode", "throws", nullptr,
                             [](const JobInput&,
                                JobContext&) -> absl::StatusOr<std::string> {
                               throw std::runtime_error("kaboom");
                             }})
                  .ok());
  PoolConfig pool;
  pool.name = "default";
  pool.size = 1;
  auto manager = JobManager::Create({}, {pool}, &kinds);
  ASSERT_TRUE(manager.ok()) << manager.status();
  v1::JobSpec spec;
  spec.set_kind("explode");
  auto submitted = (*manager)->Submit("", spec, nullptr);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string id = submitted->id;
  ::jobpool::testing::Notification done;
  v1::Job finished;
  ASSERT_TRUE((*manager)
                  ->WaitJob(id,
                            [&](v1::Job job) {
                              finished = std::move(job);
                              done.Notify();
                            })
                  .ok());
  done.WaitForNotification();
  EXPECT_EQ(finished.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(finished.error(), "handler threw: kaboom");
}

// Runs one noop job to its end and returns its id.
std::string RunNoop(JobManager& manager) {
  v1::JobSpec spec;
  spec.set_kind("noop");
  ::jobpool::testing::Notification done;
  auto submitted =
      manager.Submit("", spec, nullptr, [&](v1::Job) { done.Notify(); });
  EXPECT_TRUE(submitted.ok()) << submitted.status();
  done.WaitForNotification();
  return submitted->id;
}

TEST(JobManagerTest, RetentionKeepsAtMostTheConfiguredCount) {
  KindRegistry kinds = KindRegistry::WithBuiltins();
  ManagerOptions options;
  options.max_retained_jobs = 3;
  PoolConfig pool;
  pool.name = "default";
  pool.size = 1;
  auto manager = JobManager::Create(options, {pool}, &kinds);
  ASSERT_TRUE(manager.ok()) << manager.status();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(RunNoop(**manager));
  EXPECT_EQ((*manager)->GetJob(ids[0]).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ((*manager)->GetJob(ids[1]).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE((*manager)->GetJob(ids[4]).ok());
  EXPECT_EQ((*manager)->Stats().retained_jobs(), 3);
}

TEST(JobManagerTest, RetentionForgetsJobsOlderThanTheAge) {
  KindRegistry kinds = KindRegistry::WithBuiltins();
  ManagerOptions options;
  options.retention = absl::ZeroDuration();  // Forget as soon as finished.
  PoolConfig pool;
  pool.name = "default";
  pool.size = 1;
  auto manager = JobManager::Create(options, {pool}, &kinds);
  ASSERT_TRUE(manager.ok()) << manager.status();
  const std::string id = RunNoop(**manager);
  EXPECT_EQ((*manager)->Stats().retained_jobs(), 0);
  EXPECT_EQ((*manager)->GetJob(id).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(JobManagerTest, ADrainingServerAddsNothingToABatch) {
  KindRegistry kinds = KindRegistry::WithBuiltins();
  PoolConfig pool;
  pool.name = "default";
  pool.size = 1;
  auto manager = JobManager::Create({}, {pool}, &kinds);
  ASSERT_TRUE(manager.ok()) << manager.status();
  v1::JobSpec noop;
  noop.set_kind("noop");
  auto created = (*manager)->CreateBatch("", {&noop}, v1::BatchOptions());
  ASSERT_TRUE(created.ok()) << created.status();
  (*manager)->Drain();
  auto added = (*manager)->AddToBatch(created->batch_id(), {&noop, &noop});
  EXPECT_EQ(added.status().code(), absl::StatusCode::kUnavailable);
  auto batch = (*manager)->GetBatch(created->batch_id(), false);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->summary().total(), 1);  // All or nothing: nothing.
  EXPECT_TRUE((*manager)->SealBatch(created->batch_id()).ok());
  ::jobpool::testing::Notification complete;
  ASSERT_TRUE((*manager)
                  ->WaitBatch(created->batch_id(), false,
                              [&](v1::WaitBatchResponse) { complete.Notify(); })
                  .ok());
  complete.WaitForNotification();  // Nothing was left pending.
}

TEST(JobManagerTest, RegisteringAKindTwiceIsAlreadyExists) {
  KindRegistry kinds = KindRegistry::WithBuiltins();
  const absl::Status again = kinds.Register(
      {"noop", "", nullptr,
       [](const JobInput&, JobContext&) -> absl::StatusOr<std::string> {
         return "";
       }});
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace jobpool
