// jobpoold over the network, beside a plain gRPC echo service in the same
// process and run (the ceiling of gRPC itself on this machine):
//   1. Submit(noop, wait_for_result) with 1, 16, 64 and 256 calls in flight:
//      jobs/s and p50/p99 latency, against Echo at the same concurrency;
//   2. a 100,000-job noop batch through RunBatch, against a server stream of
//      100,000 small messages;
//   3. jobpoold's RSS and threads idle and with 10,000 waiting submitters
//      (the real binary, read from /proc/<pid>/status).

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "jobpool/bench/echo.grpc.pb.h"
#include "jobpool/v1/jobpool.grpc.pb.h"
#include "server/job_manager.h"
#include "server/kind_registry.h"
#include "server/server.h"
#include "tests/e2e/jobpoold_process.h"

ABSL_FLAG(absl::Duration, duration, absl::Seconds(3),
          "how long each concurrency level runs");
ABSL_FLAG(std::vector<std::string>, inflight,
          std::vector<std::string>({"1", "16", "64", "256"}),
          "calls in flight");
ABSL_FLAG(int, batch, 100000, "jobs in the batch / messages in the stream");
ABSL_FLAG(int, waiters, 10000, "waiting submitters for the RSS measurement");

namespace jobpool::bench {
namespace {

class EchoService final : public jobpool::bench::Echo::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const EchoMessage* request,
                                 EchoMessage* response) override {
    response->set_payload(request->payload());
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerWriteReactor<EchoMessage>* Stream(
      grpc::CallbackServerContext*, const StreamRequest* request) override {
    class Writer : public grpc::ServerWriteReactor<EchoMessage> {
     public:
      explicit Writer(int count) : left_(count) {
        message_.set_payload("x");
        Next();
      }
      void OnWriteDone(bool ok) override {
        if (!ok) {
          Finish(grpc::Status::CANCELLED);
          return;
        }
        Next();
      }
      void OnDone() override { delete this; }

     private:
      void Next() {
        if (left_-- > 0) {
          StartWrite(&message_);
        } else {
          Finish(grpc::Status::OK);
        }
      }
      int left_;
      EchoMessage message_;
    };
    return new Writer(request->count());
  }
};

struct LoadResult {
  double rate = 0;
  absl::Duration p50;
  absl::Duration p99;
};

// Keeps `inflight` calls going for `duration`; `start` begins one call and
// calls `done` when it ends.
LoadResult RunClosedLoop(
    int inflight, absl::Duration duration,
    const std::function<void(std::function<void(bool)>)>& start) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<absl::Duration> latencies;
  latencies.reserve(1 << 20);
  int active = 0;
  int64_t errors = 0;
  const absl::Time end = absl::Now() + duration;
  std::function<void()> launch = [&] {
    const absl::Time began = absl::Now();
    start([&, began](bool ok) {
      const absl::Time now = absl::Now();
      bool again;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (ok) {
          latencies.push_back(now - began);
        } else {
          ++errors;
        }
        again = now < end;
        if (!again) {
          --active;
          cv.notify_all();
        }
      }
      if (again) launch();
    });
  };
  const absl::Time t0 = absl::Now();
  {
    std::lock_guard<std::mutex> lock(mu);
    active = inflight;
  }
  for (int i = 0; i < inflight; ++i) launch();
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return active == 0; });
  const double seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  LoadResult result;
  if (latencies.empty()) return result;
  std::sort(latencies.begin(), latencies.end());
  result.rate = static_cast<double>(latencies.size()) / seconds;
  result.p50 = latencies[latencies.size() / 2];
  result.p99 = latencies[latencies.size() * 99 / 100];
  if (errors > 0)
    std::fprintf(stderr, "  (%lld errors)\n", static_cast<long long>(errors));
  return result;
}

std::string Ms(absl::Duration d) {
  return absl::StrCat(absl::ToDoubleMilliseconds(d));
}

std::pair<int64_t, int> ProcStatus(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  int64_t rss_kib = 0;
  int threads = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> parts =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (parts.size() >= 2 && parts[0] == "VmRSS:")
      (void)absl::SimpleAtoi(parts[1], &rss_kib);
    if (parts.size() >= 2 && parts[0] == "Threads:")
      (void)absl::SimpleAtoi(parts[1], &threads);
  }
  return {rss_kib * 1024, threads};
}

int Main() {
  KindRegistry kinds = KindRegistry::WithBuiltins();
  PoolConfig pool;
  pool.name = "default";
  pool.size = 8;
  auto manager = JobManager::Create({}, {pool}, &kinds);
  if (!manager.ok()) return 1;
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  auto jobpoold = Server::Start(options, manager->get());
  if (!jobpoold.ok()) return 1;

  EchoService echo_service;
  int echo_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &echo_port);
  builder.RegisterService(&echo_service);
  auto echo_server = builder.BuildAndStart();

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  auto jobs = v1::JobPool::NewStub(
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", (*jobpoold)->Port()),
                                grpc::InsecureChannelCredentials(), args));
  auto echo = jobpool::bench::Echo::NewStub(
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", echo_port),
                                grpc::InsecureChannelCredentials(), args));

  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  std::printf("## Submit(noop, wait_for_result) vs gRPC echo, %s per level\n\n",
              absl::FormatDuration(duration).c_str());
  std::printf(
      "| in flight | echo calls/s | echo p50 / p99 (ms) | jobpool jobs/s | "
      "jobpool p50 / p99 (ms) | jobpool / echo |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|\n");
  for (const std::string& level : absl::GetFlag(FLAGS_inflight)) {
    const int inflight = std::stoi(level);
    const LoadResult e = RunClosedLoop(inflight, duration, [&](auto done) {
      struct Call {
        grpc::ClientContext context;
        jobpool::bench::EchoMessage request, response;
      };
      auto* call = new Call;
      echo->async()->Echo(&call->context, &call->request, &call->response,
                          [call, done](grpc::Status s) {
                            delete call;
                            done(s.ok());
                          });
    });
    const LoadResult j = RunClosedLoop(inflight, duration, [&](auto done) {
      struct Call {
        grpc::ClientContext context;
        v1::SubmitRequest request;
        v1::SubmitResponse response;
      };
      auto* call = new Call;
      call->request.mutable_job()->set_kind("noop");
      call->request.set_wait_for_result(true);
      jobs->async()->Submit(&call->context, &call->request, &call->response,
                            [call, done](grpc::Status s) {
                              const bool ok =
                                  s.ok() && call->response.job().state() ==
                                                v1::JOB_STATE_SUCCEEDED;
                              delete call;
                              done(ok);
                            });
    });
    std::printf("| %d | %.0f | %s / %s | %.0f | %s / %s | %.2f |\n", inflight,
                e.rate, Ms(e.p50).c_str(), Ms(e.p99).c_str(), j.rate,
                Ms(j.p50).c_str(), Ms(j.p99).c_str(),
                e.rate > 0 ? j.rate / e.rate : 0.0);
    std::fflush(stdout);
  }

  const int n = absl::GetFlag(FLAGS_batch);
  std::printf("\n## %d-job noop batch via RunBatch vs a %d-message stream\n\n",
              n, n);
  double stream_rate = 0;
  {
    grpc::ClientContext context;
    jobpool::bench::StreamRequest request;
    request.set_count(n);
    const absl::Time t0 = absl::Now();
    auto reader = echo->Stream(&context, request);
    jobpool::bench::EchoMessage message;
    int got = 0;
    while (reader->Read(&message)) ++got;
    (void)reader->Finish();
    stream_rate = got / absl::ToDoubleSeconds(absl::Now() - t0);
  }
  double batch_rate = 0;
  {
    grpc::ClientContext context;
    v1::RunBatchRequest request;
    for (int i = 0; i < n; ++i) request.add_jobs()->set_kind("noop");
    const absl::Time t0 = absl::Now();
    auto reader = jobs->RunBatch(&context, request);
    v1::RunBatchResponse message;
    int got = 0;
    while (reader->Read(&message)) got += message.has_job() ? 1 : 0;
    const grpc::Status s = reader->Finish();
    if (!s.ok() || got != n)
      std::fprintf(stderr, "RunBatch: %d of %d\n", got, n);
    batch_rate = got / absl::ToDoubleSeconds(absl::Now() - t0);
  }
  std::printf("| stream msgs/s | RunBatch jobs/s | RunBatch / stream |\n");
  std::printf("|---:|---:|---:|\n| %.0f | %.0f | %.2f |\n", stream_rate,
              batch_rate, batch_rate / stream_rate);
  std::fflush(stdout);

  // 3. The real binary: RSS and threads idle, and with many waiters.
  const int waiters = absl::GetFlag(FLAGS_waiters);
  testing::JobpooldProcess process({"--pool_size=1"});
  if (process.port() == 0) return 1;
  auto remote = v1::JobPool::NewStub(grpc::CreateChannel(
      process.address(), grpc::InsecureChannelCredentials()));
  absl::SleepFor(absl::Milliseconds(200));
  const auto idle = ProcStatus(process.pid());
  {
    v1::SubmitRequest blocker;
    blocker.mutable_job()->set_kind("sleep");
    (*blocker.mutable_job()->mutable_params())["duration"] = "600s";
    v1::SubmitResponse response;
    grpc::ClientContext context;
    (void)remote->Submit(&context, blocker, &response);
  }
  struct Waiter {
    grpc::ClientContext context;
    v1::SubmitRequest request;
    v1::SubmitResponse response;
  };
  std::vector<Waiter> calls(static_cast<size_t>(waiters));
  std::atomic<int> finished{0};
  for (Waiter& w : calls) {
    w.request.mutable_job()->set_kind("noop");
    remote->async()->Submit(
        &w.context, &w.request, &w.response,
        [&finished](grpc::Status) { finished.fetch_add(1); });
  }
  for (int i = 0; i < 600; ++i) {
    v1::StatsResponse stats;
    grpc::ClientContext context;
    if (remote->Stats(&context, v1::StatsRequest(), &stats).ok() &&
        stats.pools(0).waiting() == waiters) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  const auto loaded = ProcStatus(process.pid());
  std::printf(
      "\n## jobpoold process (pool of 1)\n\n| state | RSS (MiB) | threads |\n");
  std::printf(
      "|---|---:|---:|\n| idle | %.1f | %d |\n| %d waiting submitters | %.1f | "
      "%d |\n",
      static_cast<double>(idle.first) / (1 << 20), idle.second, waiters,
      static_cast<double>(loaded.first) / (1 << 20), loaded.second);
  for (Waiter& w : calls) w.context.TryCancel();
  while (finished.load() < waiters) absl::SleepFor(absl::Milliseconds(10));
  process.Signal(SIGKILL);
  (void)process.Wait();
  (*jobpoold)->Shutdown();
  echo_server->Shutdown();
  return 0;
}

}  // namespace
}  // namespace jobpool::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return jobpool::bench::Main();
}
