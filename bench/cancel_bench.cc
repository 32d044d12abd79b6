// How quickly cancellation reaches running work: a job is submitted, seen
// RUNNING, cancelled with CancelJob, and timed until WaitJob reports it
// ended (its handler has returned, so its worker is free). Built-in sleep
// (60s), sha256 (10,000,000 rounds), and a command kind running
// /bin/sleep 60 (its process group killed); in-process server, real gRPC.

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "server/command_kind.h"
#include "server/job_manager.h"
#include "server/kind_registry.h"
#include "server/server.h"

ABSL_FLAG(int, runs, 20, "cancellations per kind");

namespace jobpool::bench {
namespace {

absl::Duration Percentile(std::vector<absl::Duration> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

int Main() {
  KindRegistry kinds = KindRegistry::WithBuiltins();
  CommandConfig sleeper;
  sleeper.name = "sleep_command";
  sleeper.argv = {"/bin/sleep", "60"};
  if (!kinds.Register(*MakeCommandKind(sleeper)).ok()) return 1;
  PoolConfig pool;
  pool.name = "default";
  pool.size = 4;
  auto manager = JobManager::Create({}, {pool}, &kinds);
  ServerOptions server_options;
  server_options.listen = "127.0.0.1:0";
  auto server = Server::Start(server_options, manager->get());
  if (!server.ok()) return 1;
  ClientOptions client_options;
  client_options.servers = {absl::StrCat("127.0.0.1:", (*server)->Port())};
  auto client = Client::Connect(client_options);

  struct Case {
    std::string name;
    v1::JobSpec spec;
  };
  std::vector<Case> cases(3);
  cases[0].name = "sleep 60s";
  cases[0].spec.set_kind("sleep");
  (*cases[0].spec.mutable_params())["duration"] = "60s";
  cases[1].name = "sha256 10M rounds";
  cases[1].spec.set_kind("sha256");
  (*cases[1].spec.mutable_params())["rounds"] = "10000000";
  cases[2].name = "command /bin/sleep 60";
  cases[2].spec.set_kind("sleep_command");

  std::printf("%-24s %10s %10s %10s\n", "job", "p50", "p90", "max");
  for (const Case& c : cases) {
    std::vector<absl::Duration> latencies;
    for (int i = 0; i < absl::GetFlag(FLAGS_runs); ++i) {
      auto job = (*client)->Submit(c.spec);
      if (!job.ok()) return 1;
      absl::SleepFor(absl::Milliseconds(20));  // Let it get going.
      const absl::Time start = absl::Now();
      if (!(*client)->CancelJob(job->id()).ok()) return 1;
      auto done = (*client)->WaitJob(job->id());
      const absl::Duration took = absl::Now() - start;
      if (!done.ok() || done->state() != v1::JOB_STATE_CANCELLED) {
        std::fprintf(stderr, "%s: not cancelled\n", c.name.c_str());
        return 1;
      }
      latencies.push_back(took);
    }
    std::printf("%-24s %8.2fms %8.2fms %8.2fms\n", c.name.c_str(),
                absl::ToDoubleMilliseconds(Percentile(latencies, 0.5)),
                absl::ToDoubleMilliseconds(Percentile(latencies, 0.9)),
                absl::ToDoubleMilliseconds(Percentile(latencies, 1.0)));
  }
  return 0;
}

}  // namespace
}  // namespace jobpool::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return jobpool::bench::Main();
}
