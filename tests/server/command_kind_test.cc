// Command kinds with real programs, over a real server: outputs, exit
// codes, the output cap, timeouts and cancellation that end the whole
// process group, large stdin, allow-listed parameters, and no leaked file
// descriptors or children.

#include "server/command_kind.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/test_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait_until.h"

#if defined(__SANITIZE_THREAD__)
#define JOBPOOL_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define JOBPOOL_UNDER_TSAN 1
#endif
#endif

namespace jobpool {
namespace {

using ::jobpool::testing::Deadline;
using ::jobpool::testing::MakePoolConfig;
using ::jobpool::testing::Spec;
using ::jobpool::testing::StatusIs;
using ::jobpool::testing::TestServer;
using ::jobpool::testing::WaitUntil;
using ::testing::HasSubstr;

// A directory of executable scripts for one test.
class Scripts {
 public:
  Scripts() {
    dir_ = absl::StrCat(absl::StripSuffix(::testing::TempDir(), "/"), "/cmd-",
                        getpid(), "-", counter_++);
    mkdir(dir_.c_str(), 0755);
  }

  // Writes `body` after a #!/bin/sh line; returns the script's path.
  std::string Add(const std::string& name, const std::string& body) {
    const std::string path = absl::StrCat(dir_, "/", name);
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    chmod(path.c_str(), 0755);
    return path;
  }

  const std::string& dir() const { return dir_; }

 private:
  static inline int counter_ = 0;
  std::string dir_;
};

Kind CommandKind(CommandConfig config) {
  auto kind = MakeCommandKind(std::move(config));
  EXPECT_TRUE(kind.ok()) << kind.status();
  return *std::move(kind);
}

CommandConfig Command(std::string name, std::vector<std::string> argv) {
  CommandConfig config;
  config.name = std::move(name);
  config.argv = std::move(argv);
  return config;
}

v1::Job RunJob(TestServer& server, v1::JobSpec spec) {
  v1::SubmitRequest request;
  *request.mutable_job() = std::move(spec);
  request.set_wait_for_result(true);
  v1::SubmitResponse response;
  auto context = Deadline(absl::Seconds(120));
  const grpc::Status status =
      server.stub().Submit(context.get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.job();
}

grpc::StatusCode SubmitCode(TestServer& server, v1::JobSpec spec) {
  v1::SubmitRequest request;
  *request.mutable_job() = std::move(spec);
  v1::SubmitResponse response;
  auto context = Deadline(absl::Seconds(60));
  return server.stub().Submit(context.get(), request, &response).error_code();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(text.str()));
}

// Processes of process group `group` that are alive (not zombies).
int LiveInGroup(pid_t group) {
  int live = 0;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return -1;
  while (dirent* entry = readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
    const std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
    // pid (comm) state ppid pgrp ...: fields after the last ')'.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::vector<std::string> fields =
        absl::StrSplit(stat.substr(close + 2), ' ');
    int pgrp = 0;
    if (fields.size() > 2 && absl::SimpleAtoi(fields[2], &pgrp) &&
        pgrp == group && fields[0] != "Z") {
      ++live;
    }
  }
  closedir(proc);
  return live;
}

int OpenFds() {
  int count = 0;
  DIR* fds = opendir("/proc/self/fd");
  while (readdir(fds) != nullptr) ++count;
  closedir(fds);
  return count;
}

TEST(CommandKindTest, CatAndWcWithStdinLargerThanAPipe) {
  TestServer server({MakePoolConfig("default", 2)}, {},
                    {CommandKind(Command("cat", {"/bin/cat"})),
                     CommandKind(Command("wc", {"/usr/bin/wc", "-l"}))});
  std::string big;
  for (int i = 0; i < 50'000; ++i) absl::StrAppend(&big, "line ", i, "\n");
  ASSERT_GT(big.size(), 65536u * 4);  // Several pipe buffers.
  v1::Job cat = RunJob(server, Spec("cat", {}, big));
  EXPECT_EQ(cat.state(), v1::JOB_STATE_SUCCEEDED) << cat.error();
  EXPECT_EQ(cat.output().size(), big.size());
  EXPECT_TRUE(cat.output() == big);  // (No diff of 600 KB on failure.)
  EXPECT_EQ(cat.process().exit_code(), 0);
  v1::Job wc = RunJob(server, Spec("wc", {}, big));
  EXPECT_EQ(wc.state(), v1::JOB_STATE_SUCCEEDED) << wc.error();
  EXPECT_EQ(absl::StripAsciiWhitespace(wc.output()), "50000");
}

TEST(CommandKindTest, NonZeroExitFailsTheJobWithCodeAndStderr) {
  Scripts scripts;
  const std::string fail =
      scripts.Add("fail", "echo partial; echo 'bad input' >&2; exit 3");
  TestServer server({MakePoolConfig("default", 2)}, {},
                    {CommandKind(Command("fail3", {fail}))});
  v1::Job job = RunJob(server, Spec("fail3"));
  EXPECT_EQ(job.state(), v1::JOB_STATE_FAILED);
  EXPECT_THAT(job.error(), HasSubstr("exit code 3: bad input"));
  EXPECT_EQ(job.process().exit_code(), 3);
  EXPECT_EQ(job.process().stderr_tail(), "bad input\n");
}

TEST(CommandKindTest, OutputBeyondTheCapKillsTheProgram) {
  CommandConfig flood = Command("flood", {"/usr/bin/yes"});
  flood.max_output_bytes = 100'000;
  TestServer server({MakePoolConfig("default", 2)}, {},
                    {CommandKind(std::move(flood))});
  v1::Job job = RunJob(server, Spec("flood"));
  EXPECT_EQ(job.state(), v1::JOB_STATE_FAILED);
  EXPECT_THAT(job.error(), HasSubstr("output exceeded 100000 bytes"));
  EXPECT_EQ(job.process().signal(), SIGKILL);
  EXPECT_EQ(job.output(), "");
}

TEST(CommandKindTest, TimeoutKillsTheWholeProcessGroup) {
  Scripts scripts;
  const std::string pids = scripts.dir();
  const std::string sleeper = scripts.Add(
      "sleeper", absl::StrCat("echo $$ > ", pids, "/group\n",
                              "sleep 60 &\necho $! > ", pids, "/child\nwait"));
  CommandConfig config = Command("sleeper", {sleeper});
  config.timeout = absl::Milliseconds(300);  // The kind's own timeout.
  TestServer server({MakePoolConfig("default", 2)}, {},
                    {CommandKind(std::move(config))});
  v1::Job job = RunJob(server, Spec("sleeper"));
  EXPECT_EQ(job.state(), v1::JOB_STATE_TIMED_OUT);
  EXPECT_EQ(job.process().signal(), SIGKILL);
  int group = 0;
  ASSERT_TRUE(absl::SimpleAtoi(ReadFile(pids + "/group"), &group));
  EXPECT_TRUE(WaitUntil([&] { return LiveInGroup(group) == 0; }))
      << "processes left in group " << group;
  // The worker is free again (it returns to the pool just after the job's
  // waiters are answered).
  EXPECT_TRUE(
      WaitUntil([&] { return server.manager().Stats().pools(0).busy() == 0; }));
}

TEST(CommandKindTest, AChildLeftRunningAfterExitIsEnded) {
  Scripts scripts;
  const std::string pids = scripts.dir();
  const std::string forker = scripts.Add(
      "forker",
      absl::StrCat("echo $$ > ", pids, "/group\nsleep 60 &\necho started"));
  TestServer server({MakePoolConfig("default", 2)}, {},
                    {CommandKind(Command("forker", {forker}))});
  v1::Job job = RunJob(server, Spec("forker"));
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
  EXPECT_EQ(job.output(), "started\n");
  int group = 0;
  ASSERT_TRUE(absl::SimpleAtoi(ReadFile(pids + "/group"), &group));
  EXPECT_TRUE(WaitUntil([&] { return LiveInGroup(group) == 0; }));
}

TEST(CommandKindTest, CancelEndsARunningCommandAndFreesTheWorker) {
  Scripts scripts;
  const std::string pids = scripts.dir();
  const std::string sleeper = scripts.Add(
      "sleeper", absl::StrCat("echo $$ > ", pids, "/group\nexec sleep 60"));
  TestServer server({MakePoolConfig("default", 1)}, {},
                    {CommandKind(Command("sleeper", {sleeper}))});
  v1::SubmitRequest request;
  *request.mutable_job() = Spec("sleeper");
  v1::SubmitResponse submitted;
  auto context = Deadline(absl::Seconds(60));
  ASSERT_TRUE(server.stub().Submit(context.get(), request, &submitted).ok());
  ASSERT_TRUE(WaitUntil([&] { return !ReadFile(pids + "/group").empty(); }));

  v1::CancelJobRequest cancel;
  cancel.set_id(submitted.job().id());
  v1::CancelJobResponse cancelled;
  auto cancel_context = Deadline(absl::Seconds(60));
  ASSERT_TRUE(
      server.stub().CancelJob(cancel_context.get(), cancel, &cancelled).ok());
  v1::WaitJobRequest wait;
  wait.set_id(submitted.job().id());
  v1::WaitJobResponse done;
  auto wait_context = Deadline(absl::Seconds(60));
  ASSERT_TRUE(server.stub().WaitJob(wait_context.get(), wait, &done).ok());
  EXPECT_EQ(done.job().state(), v1::JOB_STATE_CANCELLED);
  int group = 0;
  ASSERT_TRUE(absl::SimpleAtoi(ReadFile(pids + "/group"), &group));
  EXPECT_TRUE(WaitUntil([&] { return LiveInGroup(group) == 0; }));
  // The worker is free again: the next job runs.
  EXPECT_EQ(RunJob(server, Spec("noop")).state(), v1::JOB_STATE_SUCCEEDED);
}

TEST(CommandKindTest, OnlyAllowListedPlainParametersReachTheProgram) {
  Scripts scripts;
  const std::string show = scripts.Add(
      "show",
      "echo \"$@|$(pwd)|$(/usr/bin/env | /usr/bin/sort | /usr/bin/tr '\\n' "
      "' ')\"");
  CommandConfig config = Command("show", {show, "fixed"});
  config.arg_params = {"width"};
  config.env_params = {"mode"};
  config.env = {{"FOO", "bar"}};
  config.working_dir = scripts.dir();
  TestServer server({MakePoolConfig("default", 2)}, {},
                    {CommandKind(std::move(config))});
  v1::Job job =
      RunJob(server, Spec("show", {{"width", "64"}, {"mode", "fast"}}));
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
  // Only the declared environment (and the PWD the shell adds itself).
  EXPECT_EQ(job.output(), absl::StrCat("fixed --width=64|", scripts.dir(),
                                       "|FOO=bar JOBPOOL_PARAM_MODE=fast PWD=",
                                       scripts.dir(), " \n"));

  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{
           {"width", "; rm -rf /"},
           {"width", "$(id)"},
           {"width", "--option"},
           {"width", "-x"},
           {"width", "a b"},
           {"width", "`id`"},
           {"width", ""},
           {"mode", "x\ny"},
           {"other", "1"},
       }) {
    EXPECT_EQ(SubmitCode(server, Spec("show", {{name, value}})),
              grpc::StatusCode::INVALID_ARGUMENT)
        << name << "=" << value;
  }
  EXPECT_EQ(SubmitCode(server, Spec("no-such-command")),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(CommandKindTest, BadDeclarationsAreRefused) {
  Scripts scripts;
  const std::string not_executable = absl::StrCat(scripts.dir(), "/plain");
  std::ofstream(not_executable) << "data";
  EXPECT_THAT(MakeCommandKind(Command("x", {"/nonexistent/program"})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not exist")));
  EXPECT_THAT(MakeCommandKind(Command("x", {not_executable})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      MakeCommandKind(Command("x", {"cat"})).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("absolute path")));
  EXPECT_THAT(MakeCommandKind(Command("x", {scripts.dir()})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MakeCommandKind(Command("bad name", {"/bin/cat"})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  CommandConfig no_dir = Command("x", {"/bin/cat"});
  no_dir.working_dir = "/nonexistent/dir";
  EXPECT_THAT(MakeCommandKind(no_dir).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));

  auto parsed = ParseCommandFlag("wc=/usr/bin/wc  -l");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->name, "wc");
  EXPECT_EQ(parsed->argv, (std::vector<std::string>{"/usr/bin/wc", "-l"}));
  EXPECT_FALSE(ParseCommandFlag("no-equals").ok());
  EXPECT_FALSE(ParseCommandFlag("x=").ok());
}

TEST(CommandKindTest, AThousandCommandsLeakNoDescriptorsOrChildren) {
  TestServer server({MakePoolConfig("default", 8)}, {},
                    {CommandKind(Command("cat", {"/bin/cat"}))});
  v1::CreateBatchRequest warmup;
  for (int i = 0; i < 16; ++i) *warmup.add_jobs() = Spec("cat", {}, "x");
  warmup.mutable_options()->set_seal(true);
  auto run_batch = [&](const v1::CreateBatchRequest& request) {
    v1::CreateBatchResponse created;
    auto context = Deadline(absl::Seconds(300));
    ASSERT_TRUE(
        server.stub().CreateBatch(context.get(), request, &created).ok());
    v1::WaitBatchRequest wait;
    wait.set_batch_id(created.batch_id());
    v1::WaitBatchResponse done;
    auto wait_context = Deadline(absl::Seconds(300));
    ASSERT_TRUE(server.stub().WaitBatch(wait_context.get(), wait, &done).ok());
    EXPECT_TRUE(done.success());
  };
  run_batch(warmup);
  [[maybe_unused]] const int fds_before = OpenFds();

  v1::CreateBatchRequest request;
  for (int i = 0; i < 1000; ++i) {
    *request.add_jobs() = Spec("cat", {}, absl::StrCat("job ", i));
  }
  request.mutable_options()->set_seal(true);
  run_batch(request);

#if !defined(JOBPOOL_UNDER_TSAN)
  // (ThreadSanitizer runs a symbolizer process of its own, a child with
  // pipes that come and go, so these are checked in the other builds.)
  EXPECT_EQ(OpenFds(), fds_before);
  // No child of ours is left, not even a zombie.
  errno = 0;
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
#endif
}

// A handler that ignores its token keeps its worker, and Stats says so.
TEST(CommandKindTest, OverdueHandlersAreCounted) {
  std::atomic<bool> release{false};
  Kind stubborn;
  stubborn.name = "stubborn";
  stubborn.run = [&release](const JobInput&,
                            JobContext&) -> absl::StatusOr<std::string> {
    while (!release.load()) absl::SleepFor(absl::Milliseconds(1));
    return std::string();
  };
  TestServer server({MakePoolConfig("default", 2)}, {}, {std::move(stubborn)});
  v1::JobSpec spec = Spec("stubborn");
  spec.mutable_timeout()->set_nanos(50'000'000);  // 50ms
  v1::SubmitRequest request;
  *request.mutable_job() = spec;
  v1::SubmitResponse submitted;
  auto context = Deadline(absl::Seconds(60));
  ASSERT_TRUE(server.stub().Submit(context.get(), request, &submitted).ok());
  EXPECT_TRUE(WaitUntil(
      [&] { return server.manager().Stats().pools(0).overdue() == 1; }));
  EXPECT_EQ(server.manager().Stats().pools(0).busy(), 1);
  release = true;
  EXPECT_TRUE(WaitUntil([&] {
    return server.manager().Stats().pools(0).totals().timed_out() == 1;
  }));
  EXPECT_EQ(server.manager().Stats().pools(0).overdue(), 0);
}

}  // namespace
}  // namespace jobpool
