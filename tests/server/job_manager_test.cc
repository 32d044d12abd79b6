// JobManager without gRPC: what embedded kinds can do to it.

#include "server/job_manager.h"

#include <stdexcept>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/kind_registry.h"

namespace jobpool {
namespace {

TEST(JobManagerTest, AHandlerThatThrowsFailsItsJob) {
  KindRegistry kinds = KindRegistry::WithBuiltins();
  ASSERT_TRUE(kinds
                  .Register({"explode", "throws", nullptr,
                             [](const JobInput&, const CancelToken&)
                                 -> absl::StatusOr<std::string> {
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
  auto id = (*manager)->Submit("", spec, nullptr);
  ASSERT_TRUE(id.ok()) << id.status();
  absl::Notification done;
  v1::Job finished;
  ASSERT_TRUE((*manager)
                  ->WaitJob(*id,
                            [&](v1::Job job) {
                              finished = std::move(job);
                              done.Notify();
                            })
                  .ok());
  done.WaitForNotification();
  EXPECT_EQ(finished.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(finished.error(), "handler threw: kaboom");
}

TEST(JobManagerTest, RegisteringAKindTwiceIsAlreadyExists) {
  KindRegistry kinds = KindRegistry::WithBuiltins();
  const absl::Status again = kinds.Register(
      {"noop", "", nullptr,
       [](const JobInput&, const CancelToken&) -> absl::StatusOr<std::string> {
         return "";
       }});
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace jobpool
