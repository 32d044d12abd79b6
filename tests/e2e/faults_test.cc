// Faults survived, with the real binaries: clients that die mid-call, SIGTERM
// under load, handlers and programs that misbehave, a reader that stops
// reading, and Release while a thousand submitters wait.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "jobpool/v1/jobpool.grpc.pb.h"
#include "tests/e2e/jobctl_process.h"
#include "tests/e2e/jobpoold_process.h"
#include "tests/testing/http_get.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait_until.h"

namespace jobpool {
namespace {

using ::jobpool::testing::HttpGet;
using ::jobpool::testing::IsOk;
using ::jobpool::testing::JobctlProcess;
using ::jobpool::testing::JobpooldProcess;
using ::jobpool::testing::StatusIs;
using ::jobpool::testing::WaitUntil;
using ::testing::HasSubstr;

std::unique_ptr<Client> ConnectTo(const JobpooldProcess& server,
                                  int attempts = 4) {
  ClientOptions options;
  options.servers = {server.address()};
  options.max_attempts = attempts;
  options.timeout = absl::Seconds(60);
  auto client = Client::Connect(options);
  EXPECT_THAT(client.status(), IsOk());
  return *std::move(client);
}

std::unique_ptr<v1::JobPool::Stub> StubTo(const JobpooldProcess& server) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  return v1::JobPool::NewStub(grpc::CreateCustomChannel(
      server.address(), grpc::InsecureChannelCredentials(), args));
}

v1::JobSpec Spec(const std::string& kind,
                 std::vector<std::pair<std::string, std::string>> params = {},
                 std::string payload = "") {
  v1::JobSpec spec;
  spec.set_kind(kind);
  for (auto& [name, value] : params) (*spec.mutable_params())[name] = value;
  spec.set_payload(std::move(payload));
  return spec;
}

// The value of the metric line starting with `series` in a scrape, or -1.
double Metric(int port, const std::string& series) {
  const std::string text = HttpGet(port, "/metrics").body;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, series)) continue;
    double value = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) {
      return value;
    }
  }
  return -1;
}

TEST(FaultsTest, AClientKilledInWaitBatchFreesItsWaiterAndTheJobsRunOn) {
  JobpooldProcess server({"--pool_size=4", "--metrics_listen=127.0.0.1:0"});
  const int metrics = server.ReadPort("metrics on");
  ASSERT_GT(metrics, 0) << server.log();
  auto client = ConnectTo(server);
  v1::BatchOptions options;
  options.set_seal(true);
  auto batch = client->CreateBatch(
      std::vector<v1::JobSpec>(4, Spec("sleep", {{"duration", "5s"}})),
      options);
  ASSERT_THAT(batch.status(), IsOk());

  JobctlProcess waiter(
      {absl::StrCat("--server=", server.address()), "wait", batch->batch_id()});
  const std::string in_flight =
      "jobpool_grpc_server_in_flight{method=\"/jobpool.v1.JobPool/"
      "WaitBatch\"}";
  ASSERT_TRUE(WaitUntil([&] { return Metric(metrics, in_flight) == 1; }));
  waiter.Signal(SIGKILL);  // The client dies without a word to the server.
  (void)waiter.Wait();
  // The server notices the dead caller and frees its call while the jobs
  // are still running.
  ASSERT_TRUE(WaitUntil([&] { return Metric(metrics, in_flight) == 0; }));
  auto now = client->GetBatch(batch->batch_id());
  ASSERT_THAT(now.status(), IsOk());
  EXPECT_FALSE(now->complete());

  auto done = client->WaitBatch(batch->batch_id(), /*include_jobs=*/true);
  ASSERT_THAT(done.status(), IsOk());
  EXPECT_EQ(done->summary().succeeded(), 4);
  for (const std::string& id : batch->job_ids()) {
    auto job = client->GetJob(id);
    ASSERT_THAT(job.status(), IsOk());
    EXPECT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED);
  }
}

TEST(FaultsTest, AClientKilledInABlockedSubmitIsWithdrawn) {
  JobpooldProcess server({"--pool_size=1"});
  auto client = ConnectTo(server);
  // Long enough for a jobctl to start and block behind it, even under ASan.
  auto running = client->Submit(Spec("sleep", {{"duration", "5s"}}));
  ASSERT_THAT(running.status(), IsOk());

  JobctlProcess submitter(
      {absl::StrCat("--server=", server.address()), "submit", "--kind=noop"});
  auto waiting = [&] {
    auto stats = client->Stats();
    return stats.ok() ? stats->pools(0).waiting() : -1;
  };
  ASSERT_TRUE(WaitUntil([&] { return waiting() == 1; }));
  submitter.Signal(SIGKILL);
  (void)submitter.Wait();
  ASSERT_TRUE(WaitUntil([&] { return waiting() == 0; }));

  auto job = client->WaitJob(running->id());
  ASSERT_THAT(job.status(), IsOk());
  EXPECT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED);
  auto stats = client->Stats();
  ASSERT_THAT(stats.status(), IsOk());
  // The withdrawn job is accounted for, not lost.
  const v1::JobTotals& t = stats->totals();
  EXPECT_EQ(t.submitted(), 2);
  EXPECT_EQ(t.succeeded(), 1);
  EXPECT_EQ(t.cancelled(), 1);
}

TEST(FaultsTest, SigtermUnderLoadAnswersEveryAdmittedJob) {
  JobpooldProcess server({"--pool_size=4", "--grace_period=60s"});
  ASSERT_GT(server.port(), 0) << server.log();
  constexpr int kCallers = 8;
  constexpr int kMaxRunsEach = 500;
  std::atomic<int> succeeded{0};
  std::atomic<int> refused{0};
  std::atomic<int> other{0};
  absl::Mutex mu;
  std::vector<std::string> errors;
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&] {
      auto client = ConnectTo(server, /*attempts=*/1);
      for (int n = 0; n < kMaxRunsEach; ++n) {
        auto job = client->Run(Spec("sleep", {{"duration", "20ms"}}));
        if (job.ok() && job->state() == v1::JOB_STATE_SUCCEEDED) {
          ++succeeded;
        } else if (absl::IsUnavailable(job.status()) ||
                   absl::IsCancelled(job.status())) {
          // Refused while draining, or caught by the final close: not
          // admitted (the server's own count below proves it).
          ++refused;
          return;
        } else {
          ++other;
          absl::MutexLock lock(&mu);
          errors.push_back(job.ok() ? job->error() : job.status().ToString());
          return;
        }
      }
    });
  }
  ASSERT_TRUE(WaitUntil([&] { return succeeded >= 40; }));
  server.Signal(SIGTERM);
  for (std::thread& t : callers) t.join();
  const int code = server.Wait();
  EXPECT_EQ(other, 0) << ::testing::PrintToString(errors) << server.log();
  EXPECT_GT(refused, 0);
  EXPECT_EQ(code, 0) << server.log();
  // Every job the server admitted succeeded, and its caller was told so.
  EXPECT_THAT(server.log(),
              HasSubstr(absl::StrCat(
                  "every admitted job finished (", succeeded.load(),
                  " submitted: ", succeeded.load(), " succeeded, 0 failed")));
}

// A jobpoold with misbehaving command kinds.
JobpooldProcess CommandServer(const std::string& marker) {
  const std::string path = ::testing::TempDir() + "/faults.textproto";
  std::ofstream(path) << absl::StrCat(R"(
    commands {
      name: "segv"
      argv: "/bin/sh" argv: "-c" argv: "kill -SEGV $$"
    }
    commands {
      name: "stubborn"
      argv: "/bin/sh" argv: "-c" argv: "trap '' TERM; touch \"$MARK\"; sleep 30"
      env { key: "MARK" value: ")",
                                      marker, R"(" }
      kill_grace { nanos: 200000000 }
    }
    commands {
      name: "closer"
      argv: "/bin/sh" argv: "-c"
      argv: "exec 1>&- 0<&-; sleep 0.2; echo finished >&2"
    })");
  return JobpooldProcess({"--pool_size=4", absl::StrCat("--config=", path)});
}

TEST(FaultsTest, MisbehavingHandlersAndProgramsFailTheirJobOnly) {
  const std::string marker = ::testing::TempDir() + "/stubborn.started";
  unlink(marker.c_str());
  JobpooldProcess server = CommandServer(marker);
  ASSERT_GT(server.port(), 0) << server.log();
  auto client = ConnectTo(server);

  auto thrown =
      client->Run(Spec("fail", {{"how", "throw"}, {"message", "boom"}}));
  ASSERT_THAT(thrown.status(), IsOk());
  EXPECT_EQ(thrown->state(), v1::JOB_STATE_FAILED);
  EXPECT_THAT(thrown->error(), HasSubstr("boom"));

  auto segv = client->Run(Spec("segv"));
  ASSERT_THAT(segv.status(), IsOk());
  EXPECT_EQ(segv->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(segv->process().signal(), SIGSEGV);

  // Closing stdout (and stdin, with a payload still to write) early is not
  // the end: the job ends when the program does.
  auto closer = client->Run(Spec("closer", {}, std::string(1 << 20, 'x')));
  ASSERT_THAT(closer.status(), IsOk());
  EXPECT_EQ(closer->state(), v1::JOB_STATE_SUCCEEDED) << closer->error();
  EXPECT_EQ(closer->output(), "");
  EXPECT_THAT(closer->process().stderr_tail(), HasSubstr("finished"));

  // A program that ignores SIGTERM is killed after the grace.
  auto stubborn = client->Submit(Spec("stubborn"));
  ASSERT_THAT(stubborn.status(), IsOk());
  ASSERT_TRUE(WaitUntil([&] { return access(marker.c_str(), F_OK) == 0; }));
  ASSERT_THAT(client->CancelJob(stubborn->id()).status(), IsOk());
  auto killed = client->WaitJob(stubborn->id());
  ASSERT_THAT(killed.status(), IsOk());
  EXPECT_EQ(killed->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(killed->process().signal(), SIGKILL);

  // The server is unharmed.
  auto after = client->Run(Spec("echo", {}, "still here"));
  ASSERT_THAT(after.status(), IsOk());
  EXPECT_EQ(after->output(), "still here");
}

TEST(FaultsTest, ASlowStreamReaderDoesNotGrowTheServersQueue) {
  JobpooldProcess server({"--pool_size=4", "--max_message_bytes=67108864"});
  ASSERT_GT(server.port(), 0) << server.log();
  auto client = ConnectTo(server);
  auto stub = StubTo(server);
  constexpr int kJobs = 3000;
  v1::RunBatchRequest request;
  for (int i = 0; i < kJobs; ++i) {
    *request.add_jobs() = Spec("echo", {}, std::string(16 << 10, 'r'));
  }
  grpc::ClientContext context;
  auto reader = stub->RunBatch(&context, request);
  v1::RunBatchResponse message;
  ASSERT_TRUE(reader->Read(&message));
  const std::string batch_id = message.batch_id();

  // The reader stops while the whole batch (48 MiB of results) finishes.
  ASSERT_TRUE(WaitUntil([&] {
    auto batch = client->GetBatch(batch_id);
    return batch.ok() && batch->complete();
  }));
  auto stats = client->Stats();
  ASSERT_THAT(stats.status(), IsOk());
  // kMaxQueuedMessages results, and the final summary.
  EXPECT_LE(stats->stream_queued_messages(), 64 + 1);

  // Then reads: every result arrives, once, and the summary last.
  std::set<std::string> ids;
  bool complete = false;
  while (reader->Read(&message)) {
    if (message.has_job()) {
      EXPECT_EQ(message.job().state(), v1::JOB_STATE_SUCCEEDED);
      EXPECT_EQ(message.job().output().size(), size_t{16} << 10);
      EXPECT_FALSE(complete) << "a result after the summary";
      ids.insert(message.job().id());
    }
    if (message.has_progress()) complete = message.progress().complete();
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_TRUE(complete);
  EXPECT_EQ(ids.size(), size_t{kJobs});
}

TEST(FaultsTest, ReleaseAnswersAThousandWaitingSubmittersThenRebootServes) {
  JobpooldProcess server({"--pool_size=1"});
  ASSERT_GT(server.port(), 0) << server.log();
  auto client = ConnectTo(server);
  auto stub = StubTo(server);
  // Holds the only worker until cancelled below.
  auto running = client->Submit(Spec("sleep", {{"duration", "60s"}}));
  ASSERT_THAT(running.status(), IsOk());

  constexpr int kSubmitters = 1000;
  struct Call {
    grpc::ClientContext context;
    v1::SubmitRequest request;
    v1::SubmitResponse response;
  };
  std::vector<std::unique_ptr<Call>> calls;
  std::atomic<int> answered{0};
  std::atomic<int> failed_precondition{0};
  for (int i = 0; i < kSubmitters; ++i) {
    auto call = std::make_unique<Call>();
    call->context.set_deadline(
        absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
    *call->request.mutable_job() = Spec("noop");
    stub->async()->Submit(
        &call->context, &call->request, &call->response,
        [&](grpc::Status status) {
          if (status.error_code() == grpc::FAILED_PRECONDITION) {
            ++failed_precondition;
          }
          ++answered;
        });
    calls.push_back(std::move(call));
  }
  ASSERT_TRUE(WaitUntil([&] {
    auto stats = client->Stats();
    return stats.ok() && stats->pools(0).waiting() == kSubmitters;
  }));

  // Waits 50 ms for the running job (which goes on), answering every
  // waiting submitter at once.
  ASSERT_THAT(client->Release("default", absl::Milliseconds(50)).status(),
              IsOk());
  ASSERT_TRUE(WaitUntil([&] { return answered == kSubmitters; }));
  EXPECT_EQ(failed_precondition, kSubmitters);
  ASSERT_THAT(client->CancelJob(running->id()).status(), IsOk());

  ASSERT_THAT(client->Reboot("default").status(), IsOk());
  auto job = client->Run(Spec("echo", {}, "again"));
  ASSERT_THAT(job.status(), IsOk());
  EXPECT_EQ(job->output(), "again");
}

}  // namespace
}  // namespace jobpool
