// Prometheus metrics, scraped over HTTP from a real server while real jobs
// and RPCs run.

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/test_server.h"
#include "tests/testing/http_get.h"

namespace jobpool {
namespace {

using ::jobpool::testing::Deadline;
using ::jobpool::testing::HttpGet;
using ::jobpool::testing::MakePoolConfig;
using ::jobpool::testing::Spec;
using ::jobpool::testing::TestServer;
using ::testing::HasSubstr;

// The value of `series` (name and labels exactly as exposed), or -1.
double Value(const std::string& exposition, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (absl::ConsumePrefix(&line, series) && absl::ConsumePrefix(&line, " ")) {
      double value = 0;
      if (absl::SimpleAtod(line, &value)) return value;
    }
  }
  return -1;
}

grpc::StatusCode Submit(TestServer& server, v1::JobSpec spec, bool wait,
                        std::string pool = "default") {
  v1::SubmitRequest request;
  request.set_pool(std::move(pool));
  *request.mutable_job() = std::move(spec);
  request.set_wait_for_result(wait);
  v1::SubmitResponse response;
  auto context = Deadline(absl::Seconds(60));
  return server.stub().Submit(context.get(), request, &response).error_code();
}

std::string Scrape(TestServer& server) {
  const auto response = HttpGet(server.server().MetricsPort(), "/metrics");
  EXPECT_EQ(response.code, 200);
  EXPECT_THAT(response.headers, HasSubstr("text/plain; version=0.0.4"));
  return response.body;
}

PoolOptions Nonblocking() {
  PoolOptions options;
  options.nonblocking = true;
  return options;
}

TEST(MetricsTest, CountersMoveWithJobsAndCalls) {
  TestServer server(
      {MakePoolConfig("default", 4), MakePoolConfig("tight", 1, Nonblocking())},
      {}, {}, /*metrics=*/true);
  ASSERT_GT(server.server().MetricsPort(), 0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Submit(server, Spec("echo", {}, "x"), true),
              grpc::StatusCode::OK);
  }
  ASSERT_EQ(Submit(server, Spec("fail"), true), grpc::StatusCode::OK);
  ASSERT_EQ(
      Submit(server, Spec("sleep", {{"duration", "60s"}}), false, "tight"),
      grpc::StatusCode::OK);
  ASSERT_EQ(Submit(server, Spec("noop"), false, "tight"),
            grpc::StatusCode::RESOURCE_EXHAUSTED);

  const std::string text = Scrape(server);
  EXPECT_EQ(
      Value(text,
            R"(jobpool_jobs_submitted_total{kind="echo",pool="default"})"),
      3);
  EXPECT_EQ(
      Value(
          text,
          R"(jobpool_jobs_finished_total{kind="echo",pool="default",state="succeeded"})"),
      3);
  EXPECT_EQ(
      Value(
          text,
          R"(jobpool_jobs_finished_total{kind="fail",pool="default",state="failed"})"),
      1);
  EXPECT_EQ(
      Value(
          text,
          R"(jobpool_jobs_finished_total{kind="noop",pool="tight",state="rejected"})"),
      1);
  EXPECT_EQ(
      Value(text,
            R"(jobpool_jobs_rejected_total{pool="tight",reason="overloaded"})"),
      1);
  EXPECT_EQ(
      Value(text,
            R"(jobpool_queue_wait_seconds_count{kind="echo",pool="default"})"),
      3);
  EXPECT_EQ(
      Value(text, R"(jobpool_run_seconds_count{kind="echo",pool="default"})"),
      3);
  EXPECT_EQ(Value(text, R"(jobpool_pool_capacity{pool="default"})"), 4);
  EXPECT_EQ(Value(text, R"(jobpool_pool_capacity{pool="tight"})"), 1);
  EXPECT_EQ(Value(text, R"(jobpool_pool_busy{pool="tight"})"), 1);
  EXPECT_EQ(
      Value(
          text,
          R"(jobpool_grpc_server_handled_total{code="OK",method="/jobpool.v1.JobPool/Submit"})"),
      5);
  EXPECT_EQ(
      Value(
          text,
          R"(jobpool_grpc_server_handled_total{code="RESOURCE_EXHAUSTED",method="/jobpool.v1.JobPool/Submit"})"),
      1);
  EXPECT_GT(Value(text, "jobpool_process_resident_memory_bytes"), 0);
  EXPECT_THAT(text, HasSubstr("# TYPE jobpool_run_seconds histogram"));

  server.manager().Drain();
  EXPECT_EQ(Submit(server, Spec("noop"), false), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(
      Value(Scrape(server),
            R"(jobpool_jobs_rejected_total{pool="default",reason="draining"})"),
      1);
  server.manager().AwaitIdle(absl::Now());
}

TEST(MetricsTest, OffByDefaultAndABusyPortIsAnError) {
  TestServer plain;
  EXPECT_EQ(plain.server().MetricsPort(), 0);

  TestServer with({MakePoolConfig("default", 1)}, {}, {}, true);
  EXPECT_THAT(HttpGet(with.server().MetricsPort(), "/").body,
              HasSubstr("/metrics"));
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen =
      absl::StrCat("127.0.0.1:", with.server().MetricsPort());
  auto clash = Server::Start(options, &with.manager());
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace jobpool
