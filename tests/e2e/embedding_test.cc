// The embedding example (server/examples/upper_server) as a real process:
// its own kind runs beside the built-in ones, a waiting client sees its
// progress, and cancellation reaches it. And jobpoold's start-up checks of
// command kinds.

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/jobpoold_process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait_until.h"

namespace jobpool {
namespace {

using ::jobpool::testing::IsOk;
using ::jobpool::testing::JobpooldProcess;
using ::jobpool::testing::WaitUntil;
using ::testing::HasSubstr;

std::unique_ptr<Client> ConnectTo(const JobpooldProcess& server) {
  ClientOptions options;
  options.servers = {server.address()};
  auto client = Client::Connect(options);
  EXPECT_THAT(client.status(), IsOk());
  return *std::move(client);
}

v1::JobSpec Upper(std::string payload, std::string delay) {
  v1::JobSpec spec;
  spec.set_kind("upper");
  spec.set_payload(std::move(payload));
  (*spec.mutable_params())["chunk_delay"] = std::move(delay);
  return spec;
}

TEST(EmbeddingTest, ARegisteredKindRunsAndReportsProgress) {
  JobpooldProcess server({"--pool_size=2"}, UPPER_SERVER_PATH);
  ASSERT_GT(server.port(), 0) << server.log();
  auto client = ConnectTo(server);

  auto kinds = client->ListKinds();
  ASSERT_THAT(kinds.status(), IsOk());
  std::vector<std::string> names;
  for (const v1::KindInfo& kind : *kinds) names.push_back(kind.name());
  EXPECT_THAT(names, ::testing::IsSupersetOf({"upper", "sleep", "echo"}));

  // 10 chunks, 100ms apart.
  auto job = client->Submit(
      Upper("abcdefghijklmnopqrstuvwxyz0123456789abcd", "100ms"));
  ASSERT_THAT(job.status(), IsOk());
  v1::Job seen;
  ASSERT_TRUE(WaitUntil([&] {
    auto now = client->GetJob(job->id());
    if (now.ok()) seen = *now;
    return now.ok() && now->progress() > 0 && now->progress() < 1;
  })) << "no progress seen";
  EXPECT_EQ(seen.state(), v1::JOB_STATE_RUNNING);
  EXPECT_THAT(seen.progress_message(), HasSubstr("of 10"));

  auto done = client->WaitJob(job->id());
  ASSERT_THAT(done.status(), IsOk());
  EXPECT_EQ(done->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(done->output(), "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCD");
  EXPECT_EQ(done->progress(), 1.0);
  EXPECT_EQ(done->progress_message(), "chunk 10 of 10");

  // Its validator and its cancellation.
  EXPECT_EQ(client->Submit(Upper("x", "soon")).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto slow = client->Submit(Upper(std::string(400, 'x'), "1s"));
  ASSERT_THAT(slow.status(), IsOk());
  ASSERT_THAT(client->CancelJob(slow->id()).status(), IsOk());
  auto cancelled = client->WaitJob(slow->id());
  ASSERT_THAT(cancelled.status(), IsOk());
  EXPECT_EQ(cancelled->state(), v1::JOB_STATE_CANCELLED);

  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(), 0) << server.log();
}

TEST(EmbeddingTest, JobpooldRunsCommandKindsFromFlags) {
  JobpooldProcess server(
      {"--command=wc=/usr/bin/wc -c", "--command", "cat=/bin/cat"});
  ASSERT_GT(server.port(), 0) << server.log();
  auto client = ConnectTo(server);
  v1::JobSpec spec;
  spec.set_kind("wc");
  spec.set_payload("12345");
  auto job = client->Run(spec);
  ASSERT_THAT(job.status(), IsOk());
  EXPECT_EQ(job->output(), "5\n");
  EXPECT_EQ(job->process().exit_code(), 0);
  spec.set_kind("cat");
  job = client->Run(spec);
  ASSERT_THAT(job.status(), IsOk());
  EXPECT_EQ(job->output(), "12345");
}

TEST(EmbeddingTest, JobpooldRunsCommandKindsFromItsConfig) {
  const std::string path = ::testing::TempDir() + "/commands.textproto";
  std::ofstream(path) << R"(
    commands {
      name: "head"
      argv: "/usr/bin/head"
      arg_params: "bytes"
      timeout { seconds: 5 }
      description: "the first params.bytes bytes"
    })";
  JobpooldProcess server({absl::StrCat("--config=", path)});
  ASSERT_GT(server.port(), 0) << server.log();
  auto client = ConnectTo(server);
  v1::JobSpec spec;
  spec.set_kind("head");
  spec.set_payload("abcdef");
  (*spec.mutable_params())["bytes"] = "3";
  auto job = client->Run(spec);
  ASSERT_THAT(job.status(), IsOk());
  EXPECT_EQ(job->output(), "abc");
  (*spec.mutable_params())["bytes"] = "3; id";
  EXPECT_EQ(client->Run(spec).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EmbeddingTest, JobpooldRefusesACommandItCannotRun) {
  for (const std::string& flag :
       {std::string("--command=bad=/nonexistent/program"),
        std::string("--command=rel=cat"), std::string("--command=noprogram")}) {
    JobpooldProcess server({flag});
    EXPECT_EQ(server.port(), 0);
    EXPECT_EQ(server.Wait(), 2) << flag << "\n" << server.log();
    EXPECT_THAT(server.log(), HasSubstr("command")) << flag;
  }
}

}  // namespace
}  // namespace jobpool
