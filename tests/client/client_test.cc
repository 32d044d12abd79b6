// jobpool::Client against real servers on loopback: every method, every
// error code as the right absl::Status, retries, and three replicas behind
// one round_robin client.

#include "client/client.h"

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/test_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait_until.h"

namespace jobpool {
namespace {

using ::jobpool::testing::IsOk;
using ::jobpool::testing::MakePoolConfig;
using ::jobpool::testing::Spec;
using ::jobpool::testing::StatusIs;
using ::jobpool::testing::TestServer;
using ::jobpool::testing::WaitUntil;
using ::testing::HasSubstr;
using HealthResponse = grpc::health::v1::HealthCheckResponse;

std::unique_ptr<Client> ConnectTo(std::vector<std::string> servers,
                                  int max_attempts = 4) {
  ClientOptions options;
  options.servers = std::move(servers);
  options.max_attempts = max_attempts;
  options.timeout = absl::Seconds(60);
  auto client = Client::Connect(options);
  EXPECT_THAT(client.status(), IsOk());
  return client.ok() ? *std::move(client) : nullptr;
}

std::unique_ptr<Client> ConnectTo(TestServer& server, int max_attempts = 4) {
  return ConnectTo({server.address()}, max_attempts);
}

PoolOptions Nonblocking() {
  PoolOptions options;
  options.nonblocking = true;
  return options;
}

int64_t Rejected(TestServer& server) {
  return server.manager().Stats().totals().rejected();
}

TEST(ClientTest, SubmitRunGetWaitCancel) {
  TestServer server;
  auto client = ConnectTo(server);

  auto admitted = client->Submit(Spec("echo", {}, "hi"));
  ASSERT_THAT(admitted.status(), IsOk());
  EXPECT_EQ(admitted->kind(), "echo");
  auto waited = client->WaitJob(admitted->id());
  ASSERT_THAT(waited.status(), IsOk());
  EXPECT_EQ(waited->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(waited->output(), "hi");
  auto got = client->GetJob(admitted->id());
  ASSERT_THAT(got.status(), IsOk());
  EXPECT_EQ(got->output(), "hi");

  auto ran = client->Run(Spec("fail", {{"message", "no"}}));
  ASSERT_THAT(ran.status(), IsOk());  // A failed job is not an RPC error.
  EXPECT_EQ(ran->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(ran->error(), "no");

  auto sleeper = client->Submit(Spec("sleep", {{"duration", "60s"}}));
  ASSERT_THAT(sleeper.status(), IsOk());
  ASSERT_THAT(client->CancelJob(sleeper->id()).status(), IsOk());
  auto cancelled = client->WaitJob(sleeper->id());
  ASSERT_THAT(cancelled.status(), IsOk());
  EXPECT_EQ(cancelled->state(), v1::JOB_STATE_CANCELLED);
}

TEST(ClientTest, ErrorsKeepTheirCodes) {
  TestServer server({MakePoolConfig("default", 1, Nonblocking()),
                     MakePoolConfig("spare", 1)});
  auto client = ConnectTo(server, /*max_attempts=*/1);

  EXPECT_THAT(
      client->Submit(Spec("no-such-kind")).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no-such-kind")));
  EXPECT_THAT(client->Submit(Spec("noop"), "no-such-pool").status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(client->GetJob("test/default/999").status(),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(client->WaitBatch("test/batch/999").status(),
              StatusIs(absl::StatusCode::kNotFound));

  auto sleeper = client->Submit(Spec("sleep", {{"duration", "60s"}}));
  ASSERT_THAT(sleeper.status(), IsOk());
  EXPECT_THAT(client->Submit(Spec("noop")).status(),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(client->WaitJob(sleeper->id(), absl::Milliseconds(100)).status(),
              StatusIs(absl::StatusCode::kDeadlineExceeded));

  v1::JobSpec keyed = Spec("noop");
  keyed.set_idempotency_key("k1");
  ASSERT_THAT(client->Submit(keyed, "spare").status(), IsOk());
  keyed.set_kind("echo");
  EXPECT_THAT(client->Submit(keyed, "spare").status(),
              StatusIs(absl::StatusCode::kAlreadyExists));

  ASSERT_THAT(client->Release("spare").status(), IsOk());
  EXPECT_THAT(client->Submit(Spec("noop"), "spare").status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(client->Tune("default", 0).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));

  server.manager().Drain();
  EXPECT_THAT(client->Submit(Spec("noop"), "spare").status(),
              StatusIs(absl::StatusCode::kUnavailable));
  server.manager().AwaitIdle(absl::Now());
}

TEST(ClientTest, UnreachableServerIsUnavailable) {
  // Port 1 on loopback: nothing listens there.
  auto client = ConnectTo({"127.0.0.1:1"}, /*max_attempts=*/2);
  EXPECT_THAT(client->Submit(Spec("noop")).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(client->Health().status(),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST(ClientTest, BadOptionsAreInvalidArgument) {
  ClientOptions options;
  options.servers = {};
  EXPECT_THAT(Client::Connect(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  options.servers = {"127.0.0.1:1", "no-port"};
  EXPECT_THAT(Client::Connect(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  options.servers = {"127.0.0.1:1"};
  options.max_attempts = 9;
  EXPECT_THAT(Client::Connect(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  options.max_attempts = 1;
  options.tls.enabled = true;
  options.tls.ca_file = "/nonexistent/ca.pem";
  EXPECT_THAT(Client::Connect(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CA")));
}

TEST(ClientTest, OverloadIsRetriedByTheServiceConfig) {
  TestServer server({MakePoolConfig("default", 1, Nonblocking())});
  auto once = ConnectTo(server, /*max_attempts=*/1);
  auto thrice = ConnectTo(server, /*max_attempts=*/3);
  ASSERT_THAT(once->Submit(Spec("sleep", {{"duration", "60s"}})).status(),
              IsOk());

  EXPECT_THAT(once->Submit(Spec("noop")).status(),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(Rejected(server), 1);
  // Every attempt reaches the server and is refused there.
  EXPECT_THAT(thrice->Submit(Spec("noop")).status(),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(Rejected(server), 4);
  server.manager().AwaitIdle(absl::Now());
}

TEST(ClientTest, BatchesAsRemoteWaitGroups) {
  TestServer server;
  auto client = ConnectTo(server);
  v1::BatchOptions open;
  auto created =
      client->CreateBatch({Spec("noop"), Spec("echo", {}, "x")}, open);
  ASSERT_THAT(created.status(), IsOk());
  EXPECT_EQ(created->job_ids_size(), 2);
  auto added = client->AddToBatch(created->batch_id(), {Spec("noop")});
  ASSERT_THAT(added.status(), IsOk());
  EXPECT_EQ(added->size(), 1u);
  auto before = client->GetBatch(created->batch_id());
  ASSERT_THAT(before.status(), IsOk());
  EXPECT_FALSE(before->complete());  // Not sealed.
  ASSERT_THAT(client->SealBatch(created->batch_id()), IsOk());
  auto done = client->WaitBatch(created->batch_id(), /*include_jobs=*/true);
  ASSERT_THAT(done.status(), IsOk());
  EXPECT_TRUE(done->success());
  EXPECT_EQ(done->jobs_size(), 3);

  auto sleepy = client->CreateBatch({Spec("sleep", {{"duration", "60s"}}),
                                     Spec("sleep", {{"duration", "60s"}})},
                                    open);
  ASSERT_THAT(sleepy.status(), IsOk());
  auto cancelled = client->CancelBatch(sleepy->batch_id());
  ASSERT_THAT(cancelled.status(), IsOk());
  auto ended = client->WaitBatch(sleepy->batch_id());
  ASSERT_THAT(ended.status(), IsOk());
  EXPECT_EQ(ended->summary().cancelled(), 2);
}

TEST(ClientTest, StartBatchCallsBackForEveryJob) {
  TestServer server;
  auto client = ConnectTo(server);
  std::vector<v1::JobSpec> jobs;
  for (int i = 0; i < 500; ++i) jobs.push_back(Spec("noop"));
  jobs.push_back(Spec("fail"));
  absl::Mutex mu;
  std::set<std::string> seen;
  BatchRunOptions options;
  options.on_job = [&](const v1::Job& job) {
    absl::MutexLock lock(&mu);
    seen.insert(job.id());
  };
  auto run = client->StartBatch(jobs, options);
  auto done = run->Wait();
  ASSERT_THAT(done.status(), IsOk());
  EXPECT_TRUE(run->Done());
  EXPECT_TRUE(done->complete());
  EXPECT_FALSE(done->success());
  EXPECT_EQ(done->summary().succeeded(), 500);
  EXPECT_EQ(done->summary().failed(), 1);
  EXPECT_EQ(run->Progress().failed(), 1);
  EXPECT_FALSE(run->BatchId().empty());
  absl::MutexLock lock(&mu);
  EXPECT_EQ(seen.size(), 501u);
}

TEST(ClientTest, BatchProgressModeAndCancel) {
  TestServer server({MakePoolConfig("default", 2)});
  auto client = ConnectTo(server);
  std::vector<v1::JobSpec> jobs(10, Spec("sleep", {{"duration", "60s"}}));
  std::atomic<int> snapshots{0};
  BatchRunOptions options;
  options.progress_interval = absl::Milliseconds(10);
  options.on_progress = [&](const v1::WaitBatchResponse&) { ++snapshots; };
  auto run = client->StartBatch(jobs, options);
  ASSERT_TRUE(WaitUntil([&] { return !run->BatchId().empty(); }));
  EXPECT_FALSE(run->WaitFor(absl::Milliseconds(1)));
  ASSERT_THAT(run->Cancel(), IsOk());
  auto done = run->Wait();
  ASSERT_THAT(done.status(), IsOk());
  EXPECT_EQ(done->summary().cancelled(), 10);
  EXPECT_GE(snapshots.load(), 1);  // At least the final summary.
}

TEST(ClientTest, AdminStatsKindsHealth) {
  TestServer server;
  auto client = ConnectTo(server);
  auto tuned = client->Tune("default", 7);
  ASSERT_THAT(tuned.status(), IsOk());
  EXPECT_EQ(tuned->capacity(), 7);
  auto released = client->Release("default", absl::Seconds(5));
  ASSERT_THAT(released.status(), IsOk());
  EXPECT_TRUE(released->drained());
  auto rebooted = client->Reboot("default");
  ASSERT_THAT(rebooted.status(), IsOk());
  EXPECT_EQ(rebooted->state(), v1::POOL_STATE_OPEN);

  auto stats = client->Stats();
  ASSERT_THAT(stats.status(), IsOk());
  EXPECT_EQ(stats->replica(), "test");
  EXPECT_GT(stats->peak_rss_bytes(), 0);
  EXPECT_GE(stats->peak_rss_bytes(), stats->rss_bytes());

  int snapshots = 0;
  EXPECT_THAT(client->WatchStats(absl::Milliseconds(100),
                                 [&](const v1::StatsResponse& s) {
                                   EXPECT_EQ(s.replica(), "test");
                                   return ++snapshots < 3;
                                 }),
              IsOk());
  EXPECT_EQ(snapshots, 3);

  auto kinds = client->ListKinds();
  ASSERT_THAT(kinds.status(), IsOk());
  std::set<std::string> names;
  for (const v1::KindInfo& kind : *kinds) names.insert(kind.name());
  EXPECT_TRUE(names.count("sleep"));

  auto health = client->Health();
  ASSERT_THAT(health.status(), IsOk());
  EXPECT_EQ(*health, HealthResponse::SERVING);
  // A running job keeps the drain (and so the server) going meanwhile.
  ASSERT_THAT(client->Submit(Spec("sleep", {{"duration", "2s"}})).status(),
              IsOk());
  std::thread drain([&server] { server.server().Drain(absl::Seconds(30)); });
  EXPECT_TRUE(WaitUntil([&] {
    auto now = client->Health();
    return now.ok() && *now == HealthResponse::NOT_SERVING;
  }));
  auto alive = client->Health(Target{}, "liveness");
  ASSERT_THAT(alive.status(), IsOk());
  EXPECT_EQ(*alive, HealthResponse::SERVING);
  drain.join();
}

TEST(ClientTest, DrainingServerIsNotServing) {
  TestServer server;
  auto client = ConnectTo(server);
  server.manager().Drain();
  // Health turns with Server::Drain(); the manager alone refuses jobs.
  EXPECT_THAT(client->Submit(Spec("noop")).status(),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST(ClientTest, RoundRobinOverThreeReplicasAndIdsGoHome) {
  std::vector<std::unique_ptr<TestServer>> servers;
  std::vector<std::string> addresses;
  for (int i = 0; i < 3; ++i) {
    ManagerOptions options;
    options.replica = absl::StrCat("r", i);
    servers.push_back(std::make_unique<TestServer>(
        std::vector<PoolConfig>{MakePoolConfig("default", 4)}, options));
    addresses.push_back(servers.back()->address());
  }
  auto client = ConnectTo(addresses);
  ASSERT_EQ(client->Endpoints().size(), 3u);

  // round_robin spreads calls over every ready replica.
  std::map<std::string, std::string> job_of_replica;
  for (int i = 0; i < 300 && job_of_replica.size() < 3; ++i) {
    auto job = client->Submit(Spec("echo", {}, absl::StrCat("job ", i)));
    ASSERT_THAT(job.status(), IsOk());
    job_of_replica[job->id().substr(0, 2)] = job->id();
  }
  ASSERT_EQ(job_of_replica.size(), 3u);

  // Each id is answered by its owner, by this client and by a fresh one
  // that has to find the owner first.
  auto fresh = ConnectTo(addresses);
  for (const auto& [replica, id] : job_of_replica) {
    for (Client* c : {client.get(), fresh.get()}) {
      auto job = c->WaitJob(id);
      ASSERT_THAT(job.status(), IsOk()) << id;
      EXPECT_EQ(job->id(), id);
      EXPECT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED);
    }
  }
  // So is a batch id.
  auto run = client->StartBatch({Spec("noop")});
  ASSERT_THAT(run->Wait().status(), IsOk());
  auto batch = fresh->GetBatch(run->BatchId());
  ASSERT_THAT(batch.status(), IsOk());
  EXPECT_TRUE(batch->success());

  // And an endpoint can be named for administration.
  std::set<std::string> replicas;
  for (const std::string& endpoint : client->Endpoints()) {
    auto stats = client->Stats(Target{endpoint});
    ASSERT_THAT(stats.status(), IsOk());
    replicas.insert(stats->replica());
  }
  EXPECT_EQ(replicas, (std::set<std::string>{"r0", "r1", "r2"}));
}

}  // namespace
}  // namespace jobpool
