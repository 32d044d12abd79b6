// End to end: the real jobpoold binary, driven over loopback and signalled.

#include <signal.h>

#include <fstream>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "jobpool/v1/jobpool.grpc.pb.h"
#include "tests/e2e/jobpoold_process.h"
#include "tests/testing/wait_until.h"

namespace jobpool {
namespace {

using ::jobpool::testing::JobpooldProcess;

grpc::health::v1::HealthCheckResponse::ServingStatus Health(
    const JobpooldProcess& server) {
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      server.address(), grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckResponse checked;
  grpc::ClientContext context;
  if (!health->Check(&context, grpc::health::v1::HealthCheckRequest(), &checked)
           .ok()) {
    return grpc::health::v1::HealthCheckResponse::UNKNOWN;
  }
  return checked.status();
}

std::unique_ptr<v1::JobPool::Stub> Connect(const JobpooldProcess& server) {
  return v1::JobPool::NewStub(grpc::CreateChannel(
      server.address(), grpc::InsecureChannelCredentials()));
}

TEST(JobpooldE2eTest, ServesWithDefaultsAndStopsOnSigint) {
  JobpooldProcess server({});
  ASSERT_GT(server.port(), 0) << server.log();
  auto stub = Connect(server);
  v1::SubmitRequest request;
  request.mutable_job()->set_kind("echo");
  request.mutable_job()->set_payload("hi");
  request.set_wait_for_result(true);
  v1::SubmitResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->Submit(&context, request, &response).ok());
  EXPECT_EQ(response.job().output(), "hi");
  EXPECT_EQ(response.job().pool(), "default");

  EXPECT_EQ(Health(server), grpc::health::v1::HealthCheckResponse::SERVING);
  server.Signal(SIGINT);
  EXPECT_EQ(server.Wait(), 0) << server.log();
}

TEST(JobpooldE2eTest, SigtermDuringABatchDeliversEveryResultAndExitsZero) {
  constexpr int kJobs = 12;
  JobpooldProcess server({"--pool_size=4", "--grace_period=60s"});
  ASSERT_GT(server.port(), 0) << server.log();
  auto stub = Connect(server);

  v1::RunBatchRequest batch;
  for (int i = 0; i < kJobs; ++i) {
    v1::JobSpec* job = batch.add_jobs();
    job->set_kind("sleep");
    (*job->mutable_params())["duration"] = "300ms";
  }
  grpc::ClientContext context;
  auto reader = stub->RunBatch(&context, batch);
  v1::RunBatchResponse message;
  ASSERT_TRUE(reader->Read(&message));
  ASSERT_TRUE(message.has_batch_id());

  server.Signal(SIGTERM);  // While the first jobs run and the rest wait.
  // The signal lands asynchronously: wait until the server says it drains.
  ASSERT_TRUE(::jobpool::testing::WaitUntil([&] {
    v1::StatsResponse stats;
    grpc::ClientContext stats_context;
    return stub->Stats(&stats_context, v1::StatsRequest(), &stats).ok() &&
           stats.draining();
  }));

  // New work is refused while the admitted batch drains.
  v1::SubmitRequest late;
  late.mutable_job()->set_kind("noop");
  v1::SubmitResponse late_response;
  grpc::ClientContext late_context;
  late_context.set_deadline(std::chrono::system_clock::now() +
                            std::chrono::seconds(30));
  const grpc::Status late_status =
      stub->Submit(&late_context, late, &late_response);
  EXPECT_EQ(late_status.error_code(), grpc::StatusCode::UNAVAILABLE);

  // Health turned NOT_SERVING, so load balancers and probes stop sending.
  EXPECT_EQ(Health(server), grpc::health::v1::HealthCheckResponse::NOT_SERVING);

  int succeeded = 0;
  bool complete = false;
  while (reader->Read(&message)) {
    if (message.has_job() && message.job().state() == v1::JOB_STATE_SUCCEEDED) {
      ++succeeded;
    }
    if (message.has_progress()) complete = message.progress().complete();
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(succeeded, kJobs);
  EXPECT_TRUE(complete);
  EXPECT_EQ(server.Wait(), 0) << server.log();
}

TEST(JobpooldE2eTest, ConfigFileDefinesThePools) {
  const std::string path = ::testing::TempDir() + "/jobpoold_config.textproto";
  {
    std::ofstream out(path);
    out << "replica: \"r1\"\n"
           "pools { name: \"cpu\" size: 2 }\n"
           "pools { name: \"io\" size: 50 max_blocking_tasks: 10 }\n";
  }
  JobpooldProcess server({"--config=" + path});
  ASSERT_GT(server.port(), 0) << server.log();
  auto stub = Connect(server);
  v1::StatsResponse stats;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->Stats(&context, v1::StatsRequest(), &stats).ok());
  EXPECT_EQ(stats.replica(), "r1");
  ASSERT_EQ(stats.pools_size(), 2);
  EXPECT_EQ(stats.pools(0).name(), "cpu");
  EXPECT_EQ(stats.pools(0).capacity(), 2);
  EXPECT_EQ(stats.pools(1).name(), "io");
  EXPECT_EQ(stats.pools(1).capacity(), 50);

  // No "default" pool in this configuration: naming none is an error.
  v1::SubmitRequest request;
  request.mutable_job()->set_kind("noop");
  v1::SubmitResponse response;
  grpc::ClientContext submit_context;
  EXPECT_EQ(stub->Submit(&submit_context, request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.set_pool("io");
  grpc::ClientContext io_context;
  ASSERT_TRUE(stub->Submit(&io_context, request, &response).ok());
  EXPECT_EQ(response.job().id().rfind("r1/io/", 0), 0u);
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(), 0) << server.log();
}

TEST(JobpooldE2eTest, ABadConfigFileIsAUsageError) {
  const std::string path = ::testing::TempDir() + "/jobpoold_bad.textproto";
  {
    std::ofstream out(path);
    out << "pools { nme: \"typo\" }\n";
  }
  JobpooldProcess server({"--config=" + path});
  EXPECT_EQ(server.port(), 0);
  EXPECT_EQ(server.Wait(), 2);
  EXPECT_NE(server.log().find("not a valid"), std::string::npos)
      << server.log();
}

}  // namespace
}  // namespace jobpool
