// jobctl as a process against the real jobpoold: each subcommand's output
// and exit code, --json parsed back, usage errors, an unreachable server,
// an overloaded pool, the progress bar on a pseudo-terminal only, and
// Ctrl-C during a batch.

#include <signal.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "jobpool/cli/v1/jobctl.pb.h"
#include "jobpool/v1/jobpool.pb.h"
#include "tests/e2e/jobctl_process.h"
#include "tests/e2e/jobpoold_process.h"
#include "tests/testing/wait_until.h"

namespace jobpool {
namespace {

using ::jobpool::testing::JobctlProcess;
using ::jobpool::testing::JobctlResult;
using ::jobpool::testing::JobpooldProcess;
using ::jobpool::testing::RunJobctl;
using ::jobpool::testing::RunJobctlOnTerminal;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

template <typename Message>
Message FromJson(absl::string_view text) {
  Message message;
  const auto status = google::protobuf::util::JsonStringToMessage(
      std::string(absl::StripAsciiWhitespace(text)), &message);
  EXPECT_TRUE(status.ok()) << status.ToString() << " in: " << text;
  return message;
}

std::string Describe(const JobctlResult& r) {
  return absl::StrCat("exit ", r.exit_code, "\nstdout:\n", r.out, "\nstderr:\n",
                      r.err);
}

class JobctlTest : public ::testing::Test {
 protected:
  explicit JobctlTest(std::vector<std::string> flags = {"--pool_size=4"})
      : server_(std::move(flags)) {}

  void SetUp() override { ASSERT_GT(server_.port(), 0) << server_.log(); }

  // jobctl --server=<our server> args...
  JobctlResult Run(std::vector<std::string> args,
                   const std::string& input = "") {
    std::vector<std::string> full = {Server()};
    full.insert(full.end(), args.begin(), args.end());
    return RunJobctl(full, input);
  }

  std::string Server() const {
    return absl::StrCat("--server=", server_.address());
  }

  v1::StatsResponse Stats() {
    const JobctlResult r = Run({"--json", "stats"});
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    return FromJson<v1::StatsResponse>(r.out);
  }

  JobpooldProcess server_;
};

TEST_F(JobctlTest, SubmitAndWaitPrintsTheResult) {
  JobctlResult r = Run({"submit", "--kind=echo", "--payload=hello", "--wait"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("SUCCEEDED"));
  EXPECT_THAT(r.out, HasSubstr("output   hello"));
  EXPECT_EQ(r.err, "");

  r = Run({"submit", "--kind=echo", "--payload-file=-", "--wait", "--raw"},
          "from stdin");
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "from stdin");

  r = Run({"--json", "submit", "--kind=sha256", "--param=rounds=2",
           "--payload=x", "--wait"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  const auto job = FromJson<v1::Job>(r.out);
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(job.output().size(), 64u);  // Hex SHA-256.
}

TEST_F(JobctlTest, AFailedJobExitsOne) {
  const JobctlResult r =
      Run({"submit", "--kind=fail", "--param=message=boom", "--wait"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("FAILED"));
  EXPECT_THAT(r.out, HasSubstr("boom"));
}

TEST_F(JobctlTest, GetWaitCancel) {
  JobctlResult r =
      Run({"--json", "submit", "--kind=sleep", "--param=duration=60s"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string id = FromJson<v1::Job>(r.out).id();

  r = Run({"--json", "get", id});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(FromJson<v1::Job>(r.out).state(), v1::JOB_STATE_RUNNING);

  r = Run({"--timeout=200ms", "wait", id});
  EXPECT_EQ(r.exit_code, 3) << Describe(r);  // Still running.
  EXPECT_THAT(r.err, HasSubstr("DEADLINE_EXCEEDED"));

  r = Run({"cancel", id});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  r = Run({"wait", id});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("CANCELLED"));

  r = Run({"get", "nobody/default/1"});
  EXPECT_EQ(r.exit_code, 5) << Describe(r);
  r = Run({"--json", "get", "nobody/default/1"});
  EXPECT_EQ(r.exit_code, 5) << Describe(r);
  const auto error = FromJson<cli::v1::ErrorReport>(r.out);
  EXPECT_EQ(error.code(), "NOT_FOUND");
  EXPECT_EQ(error.exit_code(), 5);
}

TEST_F(JobctlTest, BatchGeneratedAndFromAFile) {
  JobctlResult r = Run({"batch", "--kind=noop", "--count=300"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("300 jobs: 300 succeeded"));

  const std::string path = ::testing::TempDir() + "/jobs.jsonl";
  {
    std::ofstream file(path);
    file << "{\"kind\": \"echo\", \"text\": \"a\"}\n"
         << "# comments and blank lines are skipped\n\n"
         << "{\"kind\": \"fail\", \"params\": {\"message\": \"nope\"}}\n"
         << "{\"kind\": \"sleep\", \"params\": {\"duration\": \"1ms\"}}\n";
  }
  r = Run({"--json", "batch", "--file", path});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);  // One job failed.
  const auto report = FromJson<cli::v1::BatchReport>(r.out);
  EXPECT_EQ(report.batch().summary().total(), 3);
  EXPECT_EQ(report.batch().summary().succeeded(), 2);
  EXPECT_EQ(report.batch().summary().failed(), 1);
  ASSERT_EQ(report.failures_size(), 1);
  EXPECT_EQ(report.failures(0).error(), "nope");

  // `wait` takes the batch id too.
  r = Run({"wait", report.batch().batch_id()});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("3 jobs: 2 succeeded, 1 failed"));

  r = Run({"batch", "--file=-"},
          "{\"kind\": \"noop\"}\n{\"kind\": \"noop\"}\n");
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("2 jobs: 2 succeeded"));

  r = Run({"batch", "--file=-"}, "{\"kind\": \"noop\"}\n{\"knd\": 1}\n");
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("stdin:2"));
}

TEST_F(JobctlTest, TuneReleaseRebootStatsKindsHealth) {
  JobctlResult r = Run({"tune", "--size=3"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("capacity 3"));
  EXPECT_EQ(Stats().pools(0).capacity(), 3);

  r = Run({"release", "--drain=5s"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("released"));
  r = Run({"--attempts=1", "submit", "--kind=noop"});
  EXPECT_EQ(r.exit_code, 4) << Describe(r);  // FAILED_PRECONDITION.
  r = Run({"reboot"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  r = Run({"submit", "--kind=noop"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);

  r = Run({"stats"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("SERVING"));
  EXPECT_THAT(r.out, HasSubstr("default"));

  r = Run({"kinds"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("sleep"));
  r = Run({"--json", "kinds"});
  EXPECT_GE(FromJson<v1::ListKindsResponse>(r.out).kinds_size(), 5);

  r = Run({"health"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "SERVING\n");
  r = Run({"--json", "health"});
  EXPECT_EQ(FromJson<cli::v1::HealthReport>(r.out).status(), "SERVING");
}

TEST_F(JobctlTest, StatsWatchRedrawsOnlyOnATerminal) {
  JobctlResult r = Run({"stats", "--watch", "--interval=100ms", "--count=3"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  const std::vector<std::string> pieces = absl::StrSplit(r.out, "replica ");
  EXPECT_EQ(pieces.size(), 4u) << r.out;  // 3 snapshots.
  EXPECT_THAT(r.out, Not(HasSubstr("\x1b[")));

  r = Run({"--json", "stats", "--watch", "--interval=100ms", "--count=2"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  const std::vector<std::string> lines =
      absl::StrSplit(absl::StripTrailingAsciiWhitespace(r.out), '\n');
  ASSERT_EQ(lines.size(), 2u) << r.out;
  for (const std::string& line : lines) FromJson<v1::StatsResponse>(line);

  r = RunJobctlOnTerminal(
      {Server(), "stats", "--watch", "--interval=100ms", "--count=2"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("\x1b[2J"));
}

TEST_F(JobctlTest, ProgressBarOnlyOnATerminal) {
  const std::vector<std::string> batch = {
      Server(), "batch", "--kind=sleep", "--param=duration=5ms", "--count=400"};
  JobctlResult r = RunJobctlOnTerminal(batch);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("\r["));
  EXPECT_THAT(r.out, HasSubstr("400/400"));
  EXPECT_THAT(r.out, HasSubstr("jobs/s"));
  EXPECT_THAT(r.out, HasSubstr("ETA"));
  EXPECT_THAT(r.out, HasSubstr("400 jobs: 400 succeeded"));

  r = RunJobctl(batch);  // Piped.
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("\r")));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("ETA")));

  std::vector<std::string> json = batch;
  json.insert(json.begin() + 1, "--json");
  r = RunJobctlOnTerminal(json);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, Not(HasSubstr("ETA")));
  FromJson<cli::v1::BatchReport>(r.out);
}

TEST_F(JobctlTest, InterruptCancelsTheBatch) {
  JobctlProcess process({Server(), "batch", "--kind=sleep",
                         "--param=duration=60s", "--count=10"});
  ASSERT_TRUE(::jobpool::testing::WaitUntil(
      [&] { return Stats().pools(0).busy() == 4; }));
  process.Signal(SIGINT);
  const JobctlResult r = process.Wait();
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("cancelling batch"));
  EXPECT_THAT(r.out, HasSubstr("10 cancelled"));
}

TEST_F(JobctlTest, UsageErrorsExitTwo) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {},
           {"submit"},
           {"no-such-command"},
           {"submit", "--kind=noop", "--no-such-flag"},
           {"tune", "--size=-1"},
           {"submit", "--kind=noop", "--param=novalue"},
           {"--timeout=soon", "stats"},
           {"submit", "--kind=no-such-kind"},
       }) {
    const JobctlResult r = Run(args);
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(args, " ") << "\n"
                              << Describe(r);
    EXPECT_FALSE(r.err.empty());
  }
  const JobctlResult help = RunJobctl({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("Exit codes"));
  for (const char* command :
       {"submit", "batch", "get", "wait", "cancel", "tune", "reboot", "release",
        "stats", "health", "kinds", "bench"}) {
    const JobctlResult r = RunJobctl({command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << command;
    EXPECT_THAT(r.out, HasSubstr("--help")) << command;
  }
}

TEST_F(JobctlTest, ServerFromTheEnvironment) {
  const JobctlResult r = RunJobctl(
      {"health"}, "", {absl::StrCat("JOBPOOL_SERVER=", server_.address())});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "SERVING\n");
}

TEST_F(JobctlTest, BenchReportsTheServersPeakMemory) {
  const int capacity = Stats().pools(0).capacity();
  const JobctlResult r =
      Run({"--json", "bench", "--jobs=200", "--workers=50", "--duration=1ms"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  const auto report = FromJson<cli::v1::BenchReport>(r.out);
  EXPECT_EQ(report.summary().succeeded(), 200);
  EXPECT_EQ(report.workers(), 50);
  EXPECT_GT(report.server_peak_rss_bytes(), 0);
  EXPECT_GT(report.elapsed().nanos() + report.elapsed().seconds(), 0);
  EXPECT_EQ(Stats().pools(0).capacity(), capacity);  // Restored.
}

TEST(JobctlUnreachableTest, ExitsThreeWithOneLine) {
  for (const char* command : {"health", "stats", "kinds"}) {
    const JobctlResult r =
        RunJobctl({"--server=127.0.0.1:1", "--attempts=1", command});
    EXPECT_EQ(r.exit_code, 3) << Describe(r);
    EXPECT_THAT(r.err, StartsWith("jobctl: "));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr("UNAVAILABLE"));
  }
}

class OverloadedJobctlTest : public JobctlTest {
 protected:
  OverloadedJobctlTest() : JobctlTest({"--pool_size=1", "--nonblocking"}) {}
};

TEST_F(OverloadedJobctlTest, ExitsFour) {
  JobctlResult r = Run({"submit", "--kind=sleep", "--param=duration=60s"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = Run({"submit", "--kind=noop"});  // Retried, then refused.
  EXPECT_EQ(r.exit_code, 4) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("RESOURCE_EXHAUSTED"));
}

}  // namespace
}  // namespace jobpool

namespace jobpool {
namespace {

TEST(JobctlReplicasTest, ABatchSpreadsOverEveryServerGiven) {
  std::vector<std::unique_ptr<JobpooldProcess>> servers;
  std::vector<std::string> addresses;
  for (int i = 0; i < 3; ++i) {
    servers.push_back(
        std::make_unique<JobpooldProcess>(std::vector<std::string>{
            absl::StrCat("--replica=r", i), "--pool_size=4"}));
    ASSERT_GT(servers.back()->port(), 0) << servers.back()->log();
    addresses.push_back(servers.back()->address());
  }
  const JobctlResult r =
      RunJobctl({absl::StrCat("--server=", absl::StrJoin(addresses, ",")),
                 "--json", "batch", "--kind=noop", "--count=3000"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const auto report = FromJson<cli::v1::BatchReport>(r.out);
  EXPECT_EQ(report.batch().summary().total(), 3000);
  EXPECT_EQ(report.batch().summary().succeeded(), 3000);  // None lost.
  ASSERT_EQ(report.parts_size(), 3);
  std::set<std::string> replicas;
  for (const v1::WaitBatchResponse& part : report.parts()) {
    EXPECT_EQ(part.summary().succeeded(), 1000);
    replicas.insert(
        std::string(absl::string_view(part.batch_id()).substr(0, 2)));
  }
  EXPECT_EQ(replicas, (std::set<std::string>{"r0", "r1", "r2"}));
}

}  // namespace
}  // namespace jobpool
