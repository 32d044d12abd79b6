// jobctl: the command-line client of a jobpool service.
//
//   jobctl submit --kind=echo --payload=hi --wait
//   jobctl batch --kind=sleep --param=duration=10ms --count=10000
//   jobctl tune --size=64
//   jobctl stats --watch
//
// `jobctl --help` and `jobctl SUBCOMMAND --help` describe every flag.

#include <cstdio>
#include <exception>
#include <string>

#include "CLI/CLI.hpp"
#include "client/jobctl/commands.h"
#include "client/jobctl/output.h"

namespace jobpool::jobctl {
namespace {

constexpr char kFooter[] =
    "Exit codes: 0 ok; 1 a job did not succeed (or an unexpected error); "
    "2 usage error or bad request; 3 server unreachable, draining or too "
    "slow (--timeout); 4 rejected: pool overloaded or released; 5 not found; "
    "6 authentication or permission.";

void AddJobFlags(CLI::App* command, JobFlags* job) {
  command->add_option("--kind", job->kind, "job kind (see `jobctl kinds`)");
  command->add_option("--param", job->params,
                      "a parameter KEY=VALUE (repeatable)");
  command->add_option("--payload", job->payload, "the job's input, as text");
  command->add_option("--payload-file", job->payload_file,
                      "read the job's input from a file (- for stdin)");
  command->add_option("--job-timeout", job->job_timeout,
                      "longest the job may run, e.g. 5s");
  command->add_option("--idempotency-key", job->idempotency_key,
                      "resubmitting the same key returns the same job");
}

int Main(int argc, char** argv) {
  CLI::App app{"jobctl: run jobs on a jobpool service and manage its pools"};
  app.footer(kFooter);
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", "jobctl 0.1.0");

  GlobalFlags global;
  app.add_option("--server", global.servers,
                 "HOST:PORT, several comma-separated (round-robin), or a "
                 "gRPC target such as dns:///name:port")
      ->envname("JOBPOOL_SERVER")
      ->capture_default_str();
  app.add_flag("--json", global.json,
               "machine-readable output: one JSON object per line");
  app.add_option("--timeout", global.timeout,
                 "deadline of each call, waits included (default: 30s per "
                 "call, waits unbounded)");
  app.add_option("--token", global.token, "bearer token")
      ->envname("JOBPOOL_TOKEN");
  app.add_option("--token-file", global.token_file,
                 "read the bearer token from a file");
  app.add_flag("--tls", global.tls, "connect with TLS (system roots)");
  app.add_option("--tls-ca", global.tls_ca, "PEM file of trusted CAs");
  app.add_option("--tls-cert", global.tls_cert,
                 "PEM client certificate (mTLS)");
  app.add_option("--tls-key", global.tls_key, "PEM client key (mTLS)");
  app.add_option("--tls-server-name", global.tls_server_name,
                 "name the server's certificate must carry");
  app.add_option("--attempts", global.attempts,
                 "attempts per call on UNAVAILABLE or RESOURCE_EXHAUSTED")
      ->check(CLI::Range(1, 5))
      ->capture_default_str();

  SubmitFlags submit;
  CLI::App* submit_cmd = app.add_subcommand("submit", "submit one job");
  AddJobFlags(submit_cmd, &submit.job);
  submit_cmd->add_option("--pool", submit.pool, "pool (default: default)");
  submit_cmd->add_flag("--wait", submit.wait, "wait for the job's result");
  submit_cmd->add_flag("--raw", submit.raw,
                       "with --wait: print only the job's output bytes");

  BatchFlags batch;
  CLI::App* batch_cmd = app.add_subcommand(
      "batch", "run a batch of jobs, with a progress bar on a terminal");
  AddJobFlags(batch_cmd, &batch.job);
  batch_cmd->add_option("--file", batch.file,
                        "JSON-lines file of jobs (- for stdin), e.g. "
                        "{\"kind\":\"echo\",\"text\":\"hi\"}");
  batch_cmd
      ->add_option("--count", batch.count,
                   "with --kind: how many copies of the job")
      ->capture_default_str();
  batch_cmd->add_option("--pool", batch.pool, "pool (default: default)");
  batch_cmd->add_flag("--fail-fast", batch.fail_fast,
                      "cancel the rest when one job does not succeed");
  batch_cmd->add_flag("--no-progress", batch.no_progress,
                      "no progress bar, even on a terminal");
  batch_cmd
      ->add_option("--split", batch.split,
                   "run the jobs as this many batches, spread over the "
                   "replicas by round-robin (default: one per server "
                   "given; a batch lives on one replica)")
      ->check(CLI::NonNegativeNumber);

  std::string id;
  bool raw = false;
  CLI::App* get_cmd = app.add_subcommand("get", "show a job");
  get_cmd->add_option("id", id, "job id")->required();
  CLI::App* wait_cmd =
      app.add_subcommand("wait", "wait for a job or a batch to end");
  wait_cmd->add_option("id", id, "job id or batch id")->required();
  wait_cmd->add_flag("--raw", raw, "print only the job's output bytes");
  CLI::App* cancel_cmd = app.add_subcommand("cancel", "cancel a job");
  cancel_cmd->add_option("id", id, "job id")->required();

  std::string pool = "default";
  int size = 0;
  CLI::App* tune_cmd =
      app.add_subcommand("tune", "resize a pool (on every server given)");
  tune_cmd->add_option("--pool", pool, "pool")->capture_default_str();
  tune_cmd->add_option("--size", size, "new capacity")
      ->required()
      ->check(CLI::PositiveNumber);
  CLI::App* reboot_cmd =
      app.add_subcommand("reboot", "reopen a released pool (every server)");
  reboot_cmd->add_option("--pool", pool, "pool")->capture_default_str();
  std::string drain = "0s";
  CLI::App* release_cmd = app.add_subcommand(
      "release", "close a pool: waiting jobs are rejected (every server)");
  release_cmd->add_option("--pool", pool, "pool")->capture_default_str();
  release_cmd->add_option("--drain", drain, "how long to wait for running jobs")
      ->capture_default_str();

  bool watch = false;
  std::string interval = "1s";
  int count = 0;
  CLI::App* stats_cmd =
      app.add_subcommand("stats", "show the pools' statistics");
  stats_cmd->add_flag("--watch", watch,
                      "keep showing them (redrawn in place on a terminal)");
  stats_cmd->add_option("--interval", interval, "with --watch: how often")
      ->capture_default_str();
  stats_cmd->add_option("--count", count,
                        "with --watch: stop after this many (0: never)");

  CLI::App* health_cmd =
      app.add_subcommand("health",
                         "check the servers' health (exit 0 when "
                         "every one is SERVING)");
  CLI::App* kinds_cmd = app.add_subcommand("kinds", "list the job kinds");

  BenchFlags bench;
  CLI::App* bench_cmd = app.add_subcommand(
      "bench",
      "the seed benchmark over the network: JOBS sleep jobs on a "
      "pool of WORKERS, timed");
  bench_cmd->add_option("--jobs", bench.jobs, "jobs")->capture_default_str();
  bench_cmd
      ->add_option("--workers", bench.workers,
                   "pool capacity for the run (0: as it is); restored "
                   "afterwards")
      ->capture_default_str();
  bench_cmd->add_option("--duration", bench.duration, "each job's sleep")
      ->capture_default_str();
  bench_cmd->add_option("--pool", bench.pool, "pool (default: default)");
  bench_cmd->add_flag("--keep-size", bench.keep_size,
                      "leave the pool at --workers afterwards");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  Cli cli;
  if (absl::Status status = cli.Init(global); !status.ok()) {
    return cli.Fail(status);
  }
  if (submit_cmd->parsed()) return Submit(cli, submit);
  if (batch_cmd->parsed()) return Batch(cli, batch);
  if (get_cmd->parsed()) return Get(cli, id);
  if (wait_cmd->parsed()) return Wait(cli, id, raw);
  if (cancel_cmd->parsed()) return Cancel(cli, id);
  if (tune_cmd->parsed()) return Tune(cli, pool, size);
  if (reboot_cmd->parsed()) return Reboot(cli, pool);
  if (release_cmd->parsed()) return Release(cli, pool, drain);
  if (stats_cmd->parsed()) return Stats(cli, watch, interval, count);
  if (health_cmd->parsed()) return Health(cli);
  if (kinds_cmd->parsed()) return Kinds(cli);
  if (bench_cmd->parsed()) return Bench(cli, bench);
  return kExitUsage;
}

}  // namespace
}  // namespace jobpool::jobctl

int main(int argc, char** argv) {
  try {
    return jobpool::jobctl::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jobctl: internal error: %s\n", e.what());
    return jobpool::jobctl::kExitJobFailed;
  }
}
