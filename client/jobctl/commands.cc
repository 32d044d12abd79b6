#include "client/jobctl/commands.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "client/jobctl/job_lines.h"
#include "client/jobctl/output.h"
#include "client/jobctl/progress_bar.h"
#include "jobpool/cli/v1/jobctl.pb.h"
#include "proto/proto_time.h"

namespace jobpool::jobctl {
namespace {

// Failed jobs a batch report lists.
constexpr size_t kMaxFailuresShown = 10;

std::atomic<bool> interrupted{false};

extern "C" void OnInterrupt(int /*signal*/) {
  interrupted.store(true);
  std::signal(SIGINT, SIG_DFL);  // A second Ctrl-C ends jobctl at once.
}

absl::StatusOr<absl::Duration> ParseDuration(const std::string& text,
                                             absl::string_view flag) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": \"", text, "\" is not a duration (e.g. 500ms, 2s, 1m)"));
  }
  return d;
}

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  std::ostringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
    return text.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read \"", path, "\""));
  }
  text << in.rdbuf();
  return text.str();
}

// The job that --kind, --param, --payload... describe.
absl::StatusOr<v1::JobSpec> MakeSpec(const JobFlags& flags) {
  if (flags.kind.empty()) {
    return absl::InvalidArgumentError("--kind is required");
  }
  v1::JobSpec spec;
  spec.set_kind(flags.kind);
  for (const std::string& param : flags.params) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(param, absl::MaxSplits('=', 1));
    if (kv.first.empty() || !absl::StrContains(param, '=')) {
      return absl::InvalidArgumentError(
          absl::StrCat("--param \"", param, "\": want KEY=VALUE"));
    }
    (*spec.mutable_params())[kv.first] = kv.second;
  }
  if (!flags.payload.empty() && !flags.payload_file.empty()) {
    return absl::InvalidArgumentError(
        "give --payload or --payload-file, not both");
  }
  if (!flags.payload_file.empty()) {
    auto payload = ReadAll(flags.payload_file);
    if (!payload.ok()) return payload.status();
    spec.set_payload(*std::move(payload));
  } else {
    spec.set_payload(flags.payload);
  }
  if (!flags.job_timeout.empty()) {
    auto timeout = ParseDuration(flags.job_timeout, "--job-timeout");
    if (!timeout.ok()) return timeout.status();
    ToProto(*timeout, spec.mutable_timeout());
  }
  spec.set_idempotency_key(flags.idempotency_key);
  return spec;
}

void Add(const v1::BatchSummary& from, v1::BatchSummary* to) {
  to->set_total(to->total() + from.total());
  to->set_pending(to->pending() + from.pending());
  to->set_running(to->running() + from.running());
  to->set_succeeded(to->succeeded() + from.succeeded());
  to->set_failed(to->failed() + from.failed());
  to->set_cancelled(to->cancelled() + from.cancelled());
  to->set_timed_out(to->timed_out() + from.timed_out());
  to->set_rejected(to->rejected() + from.rejected());
}

// Exit code of a finished job: 0 only if it succeeded.
int JobExit(const v1::Job& job) {
  return job.state() == v1::JOB_STATE_SUCCEEDED ? kExitOk : kExitJobFailed;
}

int PrintJob(const Cli& cli, const v1::Job& job, bool raw) {
  if (raw && !cli.Json()) {
    std::fwrite(job.output().data(), 1, job.output().size(), stdout);
  } else {
    cli.Print(job, FormatJob(job));
  }
  return JobExit(job);
}

std::string Label(const Target& target) {
  return target.endpoint.empty() ? "" : absl::StrCat(target.endpoint, "  ");
}

// Runs `each` for every target; the exit code is the first failure's.
template <typename Fn>
int ForEachTarget(Cli& cli, Fn each) {
  int exit_code = kExitOk;
  for (const Target& target : cli.Targets()) {
    const int code = each(target);
    if (exit_code == kExitOk) exit_code = code;
  }
  return exit_code;
}

}  // namespace

void InstallInterruptHandler() { std::signal(SIGINT, OnInterrupt); }

absl::Status Cli::Init(const GlobalFlags& flags) {
  json_ = flags.json;
  ClientOptions options;
  options.servers = absl::StrSplit(flags.servers, ',', absl::SkipWhitespace());
  for (std::string& server : options.servers) {
    server = std::string(absl::StripAsciiWhitespace(server));
  }
  if (!flags.timeout.empty()) {
    auto timeout = ParseDuration(flags.timeout, "--timeout");
    if (!timeout.ok()) return timeout.status();
    if (*timeout == absl::ZeroDuration()) {
      return absl::InvalidArgumentError("--timeout must be positive");
    }
    options.timeout = *timeout;
    wait_ = *timeout;
  }
  options.token = flags.token;
  if (!flags.token_file.empty()) {
    auto token = ReadAll(flags.token_file);
    if (!token.ok()) return token.status();
    options.token = std::string(absl::StripAsciiWhitespace(*token));
  }
  options.tls.enabled =
      flags.tls || !flags.tls_ca.empty() || !flags.tls_cert.empty();
  options.tls.ca_file = flags.tls_ca;
  options.tls.cert_file = flags.tls_cert;
  options.tls.key_file = flags.tls_key;
  options.tls.server_name = flags.tls_server_name;
  options.max_attempts = flags.attempts;
  auto client = Client::Connect(std::move(options));
  if (!client.ok()) return client.status();
  client_ = *std::move(client);
  return absl::OkStatus();
}

std::vector<Target> Cli::Targets() {
  std::vector<std::string> endpoints = client_->Endpoints();
  if (endpoints.size() <= 1) return {Target{}};
  std::vector<Target> out;
  out.reserve(endpoints.size());
  for (std::string& endpoint : endpoints) {
    out.push_back(Target{std::move(endpoint)});
  }
  return out;
}

void Cli::Print(const google::protobuf::Message& message,
                const std::string& human) const {
  const std::string text = json_ ? ToJson(message) : human;
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

int Cli::Fail(const absl::Status& status, const std::string& endpoint) const {
  const int code = ExitCodeFor(status);
  // One line, whatever the server said.
  const std::string message =
      absl::StrReplaceAll(status.message(), {{"\n", " "}, {"\r", " "}});
  std::string code_name = absl::StatusCodeToString(status.code());
  absl::AsciiStrToUpper(&code_name);
  absl::StrReplaceAll({{" ", "_"}}, &code_name);
  std::fprintf(stderr, "jobctl: %s%s: %s\n",
               endpoint.empty() ? "" : absl::StrCat(endpoint, ": ").c_str(),
               code_name.c_str(), message.c_str());
  if (json_) {
    cli::v1::ErrorReport report;
    report.set_code(code_name);
    report.set_message(message);
    report.set_exit_code(code);
    report.set_endpoint(endpoint);
    Print(report, "");
  }
  return code;
}

int Submit(Cli& cli, const SubmitFlags& flags) {
  auto spec = MakeSpec(flags.job);
  if (!spec.ok()) return cli.Fail(spec.status());
  if (!flags.wait) {
    auto job = cli.Connection().Submit(*spec, flags.pool);
    if (!job.ok()) return cli.Fail(job.status());
    cli.Print(*job, FormatJob(*job));
    return kExitOk;
  }
  auto job = cli.Connection().Run(*spec, flags.pool, cli.WaitLimit());
  if (!job.ok()) return cli.Fail(job.status());
  return PrintJob(cli, *job, flags.raw);
}

int Batch(Cli& cli, const BatchFlags& flags) {
  std::vector<v1::JobSpec> jobs;
  if (!flags.file.empty()) {
    if (!flags.job.kind.empty()) {
      return cli.Fail(
          absl::InvalidArgumentError("give --file or --kind, not both"));
    }
    absl::StatusOr<std::vector<v1::JobSpec>> read;
    if (flags.file == "-") {
      read = ReadJobLines(std::cin, "stdin");
    } else {
      std::ifstream in(flags.file);
      if (!in) {
        return cli.Fail(absl::InvalidArgumentError(
            absl::StrCat("cannot read \"", flags.file, "\"")));
      }
      read = ReadJobLines(in, flags.file);
    }
    if (!read.ok()) return cli.Fail(read.status());
    jobs = *std::move(read);
  } else {
    auto spec = MakeSpec(flags.job);
    if (!spec.ok()) return cli.Fail(spec.status());
    if (flags.count < 1) {
      return cli.Fail(absl::InvalidArgumentError("--count must be at least 1"));
    }
    jobs.assign(static_cast<size_t>(flags.count), *spec);
  }
  if (jobs.empty()) {
    return cli.Fail(absl::InvalidArgumentError("no jobs in the file"));
  }

  // One RunBatch per part; several servers get one part each by default,
  // which round_robin (or a balancing proxy) spreads over the replicas.
  int parts = flags.split;
  if (parts <= 0) parts = static_cast<int>(cli.Targets().size());
  parts = static_cast<int>(
      std::min<size_t>(static_cast<size_t>(std::max(parts, 1)), jobs.size()));

  const bool bar = !cli.Json() && !flags.no_progress && isatty(STDERR_FILENO);
  absl::Mutex mu;
  std::vector<v1::Job> failures;
  InstallInterruptHandler();
  const absl::Time start = absl::Now();
  // Several servers: the parts go to them in turn (round_robin alone would
  // send them all to whichever replica connected first).
  const std::vector<Target> targets = cli.Targets();
  std::vector<std::unique_ptr<BatchRun>> runs;
  const size_t per_part = (jobs.size() + static_cast<size_t>(parts) - 1) /
                          static_cast<size_t>(parts);
  for (size_t first = 0; first < jobs.size(); first += per_part) {
    const size_t last = std::min(jobs.size(), first + per_part);
    BatchRunOptions options;
    options.pool = flags.pool;
    options.fail_fast = flags.fail_fast;
    options.endpoint = targets[runs.size() % targets.size()].endpoint;
    options.on_job = [&mu, &failures](const v1::Job& job) {
      if (job.state() == v1::JOB_STATE_SUCCEEDED) return;
      absl::MutexLock lock(&mu);
      if (failures.size() < kMaxFailuresShown) failures.push_back(job);
    };
    runs.push_back(cli.Connection().StartBatch(
        std::vector<v1::JobSpec>(
            std::make_move_iterator(jobs.begin() +
                                    static_cast<std::ptrdiff_t>(first)),
            std::make_move_iterator(jobs.begin() +
                                    static_cast<std::ptrdiff_t>(last))),
        std::move(options)));
  }
  const auto progress_now = [&runs] {
    v1::BatchSummary sum;
    for (const auto& run : runs) Add(run->Progress(), &sum);
    return sum;
  };
  const auto all_done = [&runs](absl::Duration wait) {
    for (const auto& run : runs) {
      if (!run->WaitFor(wait)) return false;
    }
    return true;
  };
  ProgressBar progress(stderr);
  bool cancelling = false;
  while (!all_done(absl::Milliseconds(100))) {
    if (interrupted.load() && !cancelling) {
      cancelling = true;
      if (bar) progress.Finish();
      for (const auto& run : runs) {
        std::fprintf(stderr, "jobctl: cancelling batch %s\n",
                     run->BatchId().c_str());
        const absl::Status cancelled = run->Cancel();
        if (!cancelled.ok()) return cli.Fail(cancelled);
      }
    }
    if (bar) progress.Draw(progress_now());
  }
  if (bar) {
    progress.Draw(progress_now());
    progress.Finish();
  }
  cli::v1::BatchReport report;
  v1::WaitBatchResponse& total = *report.mutable_batch();
  total.set_complete(true);
  total.set_success(true);
  total.set_sealed(true);
  std::vector<std::string> ids;
  std::map<std::string, int64_t> per_replica;
  for (const auto& run : runs) {
    auto done = run->Wait();
    if (!done.ok()) return cli.Fail(done.status());
    *report.add_parts() = *done;
    ids.push_back(done->batch_id());
    per_replica[done->batch_id().substr(0, done->batch_id().find('/'))] +=
        done->summary().total();
    Add(done->summary(), total.mutable_summary());
    total.set_complete(total.complete() && done->complete());
    total.set_success(total.success() && done->success());
  }
  total.set_batch_id(absl::StrJoin(ids, ","));
  const absl::Duration elapsed = absl::Now() - start;
  const double rate = static_cast<double>(total.summary().total()) /
                      std::max(1e-9, absl::ToDoubleSeconds(elapsed));
  ToProto(elapsed, report.mutable_elapsed());
  report.set_jobs_per_second(rate);
  std::vector<std::string> lines = {absl::StrCat(
      runs.size() == 1 ? "batch " : "batches ",
      runs.size() <= 3
          ? total.batch_id()
          : absl::StrCat(runs.size(), " on ", per_replica.size(), " replicas"),
      ": ", FormatSummary(total.summary()), " in ", HumanDuration(elapsed),
      " (", static_cast<int64_t>(rate), " jobs/s)")};
  if (runs.size() > 1) {
    lines.push_back(absl::StrCat(
        "  jobs per replica: ",
        absl::StrJoin(per_replica, ", ", absl::PairFormatter(" "))));
  }
  {
    absl::MutexLock lock(&mu);
    for (const v1::Job& job : failures) {
      *report.add_failures() = job;
      lines.push_back(absl::StrCat("  ", job.id(), " ", StateName(job.state()),
                                   ": ", job.error()));
    }
  }
  cli.Print(report, absl::StrJoin(lines, "\n"));
  return total.success() ? kExitOk : kExitJobFailed;
}

int Get(Cli& cli, const std::string& id) {
  auto job = cli.Connection().GetJob(id);
  if (!job.ok()) return cli.Fail(job.status());
  cli.Print(*job, FormatJob(*job));
  return kExitOk;
}

int Wait(Cli& cli, const std::string& id, bool raw) {
  if (absl::StrContains(id, "/batch/")) {
    auto batch = cli.Connection().WaitBatch(id, false, cli.WaitLimit());
    if (!batch.ok()) return cli.Fail(batch.status());
    const v1::BatchSummary& s = batch->summary();
    cli.Print(*batch, absl::StrCat("batch ", id, ": ", s.total(), " jobs: ",
                                   s.succeeded(), " succeeded, ", s.failed(),
                                   " failed, ", s.cancelled(), " cancelled, ",
                                   s.timed_out(), " timed out"));
    return batch->success() ? kExitOk : kExitJobFailed;
  }
  auto job = cli.Connection().WaitJob(id, cli.WaitLimit());
  if (!job.ok()) return cli.Fail(job.status());
  return PrintJob(cli, *job, raw);
}

int Cancel(Cli& cli, const std::string& id) {
  auto job = cli.Connection().CancelJob(id);
  if (!job.ok()) return cli.Fail(job.status());
  cli.Print(*job, FormatJob(*job));
  return kExitOk;
}

int Tune(Cli& cli, const std::string& pool, int size) {
  return ForEachTarget(cli, [&](const Target& target) {
    auto stats = cli.Connection().Tune(pool, size, target);
    if (!stats.ok()) return cli.Fail(stats.status(), target.endpoint);
    cli.Print(*stats,
              absl::StrCat(Label(target), "pool ", stats->name(), ": capacity ",
                           stats->capacity(), ", running ", stats->running(),
                           ", waiting ", stats->waiting()));
    return kExitOk;
  });
}

int Reboot(Cli& cli, const std::string& pool) {
  return ForEachTarget(cli, [&](const Target& target) {
    auto stats = cli.Connection().Reboot(pool, target);
    if (!stats.ok()) return cli.Fail(stats.status(), target.endpoint);
    cli.Print(*stats, absl::StrCat(Label(target), "pool ", stats->name(),
                                   ": open, capacity ", stats->capacity()));
    return kExitOk;
  });
}

int Release(Cli& cli, const std::string& pool, const std::string& drain) {
  auto timeout = ParseDuration(drain, "--drain");
  if (!timeout.ok()) return cli.Fail(timeout.status());
  return ForEachTarget(cli, [&](const Target& target) {
    auto released = cli.Connection().Release(pool, *timeout, target);
    if (!released.ok()) return cli.Fail(released.status(), target.endpoint);
    cli.Print(*released,
              absl::StrCat(Label(target), "pool ", released->pool().name(),
                           ": released, ",
                           released->drained()
                               ? "every worker has exited"
                               : "jobs still running past the drain time"));
    return kExitOk;
  });
}

int Stats(Cli& cli, bool watch, const std::string& interval, int count) {
  if (!watch) {
    return ForEachTarget(cli, [&](const Target& target) {
      auto stats = cli.Connection().Stats(target);
      if (!stats.ok()) return cli.Fail(stats.status(), target.endpoint);
      cli.Print(*stats, FormatStats(*stats));
      return kExitOk;
    });
  }
  auto every = ParseDuration(interval, "--interval");
  if (!every.ok()) return cli.Fail(every.status());
  const bool redraw = !cli.Json() && isatty(STDOUT_FILENO);
  int shown = 0;
  const absl::Status status =
      cli.Connection().WatchStats(*every, [&](const v1::StatsResponse& stats) {
        if (redraw) std::fputs("\x1b[H\x1b[2J", stdout);  // Home, clear.
        cli.Print(stats, redraw ? FormatStats(stats)
                                : absl::StrCat(FormatStats(stats), "\n"));
        ++shown;
        return count <= 0 || shown < count;
      });
  if (!status.ok()) return cli.Fail(status);
  return kExitOk;
}

int Health(Cli& cli) {
  return ForEachTarget(cli, [&](const Target& target) {
    auto serving = cli.Connection().Health(target);
    if (!serving.ok()) return cli.Fail(serving.status(), target.endpoint);
    const std::string name =
        grpc::health::v1::HealthCheckResponse::ServingStatus_Name(*serving);
    cli::v1::HealthReport report;
    report.set_endpoint(target.endpoint);
    report.set_status(name);
    cli.Print(report, absl::StrCat(Label(target), name));
    return *serving == grpc::health::v1::HealthCheckResponse::SERVING
               ? kExitOk
               : kExitUnreachable;
  });
}

int Kinds(Cli& cli) {
  auto kinds = cli.Connection().ListKinds();
  if (!kinds.ok()) return cli.Fail(kinds.status());
  v1::ListKindsResponse response;
  std::vector<std::string> lines;
  for (const v1::KindInfo& kind : *kinds) {
    *response.add_kinds() = kind;
    lines.push_back(
        absl::StrFormat("%-10s %s", kind.name(), kind.description()));
  }
  cli.Print(response, absl::StrJoin(lines, "\n"));
  return kExitOk;
}

int Bench(Cli& cli, const BenchFlags& flags) {
  if (cli.Targets().size() != 1) {
    return cli.Fail(absl::InvalidArgumentError(
        "bench measures one replica: give one --server"));
  }
  if (flags.jobs < 1 || flags.workers < 0) {
    return cli.Fail(absl::InvalidArgumentError(
        "--jobs must be at least 1 and --workers at least 0"));
  }
  auto duration = ParseDuration(flags.duration, "--duration");
  if (!duration.ok()) return cli.Fail(duration.status());
  Client& client = cli.Connection();
  const std::string pool = flags.pool.empty() ? "default" : flags.pool;

  auto before = client.Stats();
  if (!before.ok()) return cli.Fail(before.status());
  int capacity = 0;
  for (const v1::PoolStats& p : before->pools()) {
    if (p.name() == pool) capacity = p.capacity();
  }
  int workers = capacity;
  if (flags.workers > 0 && flags.workers != capacity) {
    auto tuned = client.Tune(pool, flags.workers);
    if (!tuned.ok()) return cli.Fail(tuned.status());
    workers = flags.workers;
  }

  v1::JobSpec spec;
  spec.set_kind(flags.kind);
  (*spec.mutable_params())["duration"] = flags.duration;
  BatchRunOptions options;
  options.pool = flags.pool;
  options.progress_interval = absl::Milliseconds(200);
  const bool bar = !cli.Json() && isatty(STDERR_FILENO);
  ProgressBar progress(stderr);
  if (bar) {
    options.on_progress = [&progress](const v1::WaitBatchResponse& now) {
      progress.Draw(now.summary());
    };
  }
  const absl::Time start = absl::Now();
  auto done = client.RunBatch(
      std::vector<v1::JobSpec>(static_cast<size_t>(flags.jobs), spec),
      std::move(options));
  const absl::Duration elapsed = absl::Now() - start;
  if (bar) progress.Finish();
  auto after = client.Stats();
  if (workers != capacity && !flags.keep_size && capacity > 0) {
    (void)client.Tune(pool, capacity);
  }
  if (!done.ok()) return cli.Fail(done.status());
  if (!after.ok()) return cli.Fail(after.status());

  cli::v1::BenchReport report;
  report.set_jobs(flags.jobs);
  report.set_workers(workers);
  ToProto(*duration, report.mutable_job_duration());
  ToProto(elapsed, report.mutable_elapsed());
  const absl::Duration ideal =
      workers > 0 ? *duration * ((flags.jobs + workers - 1) / workers)
                  : absl::ZeroDuration();
  ToProto(ideal, report.mutable_ideal());
  report.set_jobs_per_second(static_cast<double>(flags.jobs) /
                             std::max(1e-9, absl::ToDoubleSeconds(elapsed)));
  report.set_server_peak_rss_bytes(after->peak_rss_bytes());
  report.set_server_threads(after->threads());
  *report.mutable_summary() = done->summary();
  cli.Print(
      report,
      absl::StrCat(
          flags.jobs, " x ", flags.kind, " ", flags.duration, " on ", workers,
          " workers (", after->replica(), "): ", HumanDuration(elapsed),
          " (ideal ", HumanDuration(ideal), ", ",
          absl::StrFormat("%.2fx", ideal > absl::ZeroDuration()
                                       ? absl::FDivDuration(elapsed, ideal)
                                       : 0.0),
          "), ", static_cast<int64_t>(report.jobs_per_second()),
          " jobs/s; server peak RSS ", HumanBytes(after->peak_rss_bytes()),
          ", threads ", after->threads(), "\n",
          FormatSummary(done->summary())));
  return done->success() ? kExitOk : kExitJobFailed;
}

}  // namespace jobpool::jobctl
