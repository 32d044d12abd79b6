// soak: a bounded soak of one jobpoold by several client processes.
//
// Starts jobpoold, forks --clients processes that each run a mix for
// --duration (jobs that succeed, fail, throw, time out; batches; cancels;
// Tune up and down; one Release + Reboot), then checks:
//   - per client and on the server: admitted = succeeded + failed +
//     cancelled + timed_out + rejected (nothing admitted is lost), and the
//     clients' admitted jobs add up to the server's submitted;
//   - the server's RSS came back near its level after warm-up, and its file
//     descriptors and threads did not leak.
// Exits 1 if an invariant fails. Usage:
//   build/release/bench/soak [--duration=60s] [--clients=4]

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "client/client.h"

ABSL_FLAG(absl::Duration, duration, absl::Seconds(60), "how long to soak");
ABSL_FLAG(int, clients, 4, "client processes");

namespace {

using jobpool::v1::JobSpec;
using jobpool::v1::JobState;

struct Tally {
  int64_t admitted = 0, refused = 0, succeeded = 0, failed = 0, cancelled = 0,
          timed_out = 0, rejected = 0, calls = 0;

  void Count(JobState state) {
    ++admitted;
    switch (state) {
      case jobpool::v1::JOB_STATE_SUCCEEDED:
        ++succeeded;
        break;
      case jobpool::v1::JOB_STATE_FAILED:
        ++failed;
        break;
      case jobpool::v1::JOB_STATE_CANCELLED:
        ++cancelled;
        break;
      case jobpool::v1::JOB_STATE_TIMED_OUT:
        ++timed_out;
        break;
      case jobpool::v1::JOB_STATE_REJECTED:
        ++rejected;
        break;
      default:
        break;  // Not final: the invariant check will catch it.
    }
  }
  int64_t Ended() const {
    return succeeded + failed + cancelled + timed_out + rejected;
  }
  std::string Line() const {
    return absl::StrCat(admitted, " ", refused, " ", succeeded, " ", failed,
                        " ", cancelled, " ", timed_out, " ", rejected, " ",
                        calls);
  }
  static Tally Parse(const std::string& line) {
    std::vector<int64_t> v;
    for (absl::string_view f : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
      int64_t n = 0;
      (void)absl::SimpleAtoi(f, &n);
      v.push_back(n);
    }
    Tally t;
    if (v.size() == 8) {
      t = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
    }
    return t;
  }
};

JobSpec Spec(const std::string& kind,
             std::vector<std::pair<std::string, std::string>> params = {},
             std::string payload = "") {
  JobSpec spec;
  spec.set_kind(kind);
  for (auto& [k, v] : params) (*spec.mutable_params())[k] = v;
  spec.set_payload(std::move(payload));
  return spec;
}

JobSpec RandomJob(std::mt19937& rng) {
  switch (rng() % 6) {
    case 0:
      return Spec("sleep", {{"duration", absl::StrCat(rng() % 5, "ms")}});
    case 1:
      return Spec("echo", {}, std::string(rng() % 4096, 'e'));
    case 2:
      return Spec("sha256", {{"rounds", "2000"}}, "soak");
    case 3:
      return Spec("fail", {{"message", "soak"}});
    case 4:
      return Spec("fail", {{"how", "throw"}, {"message", "thrown"}});
    default: {
      JobSpec spec = Spec("sleep", {{"duration", "50ms"}});
      spec.mutable_timeout()->set_nanos(5'000'000);  // Times out.
      return spec;
    }
  }
}

// One client process's mix; returns its tally.
Tally RunClient(const std::string& address, int index, absl::Time until) {
  jobpool::ClientOptions options;
  options.servers = {address};
  options.max_attempts = 1;
  options.timeout = absl::Seconds(60);
  auto client = *jobpool::Client::Connect(options);
  std::mt19937 rng(static_cast<unsigned>(index) * 7919u + 1);
  Tally t;
  bool rebooted = false;
  for (int i = 0; absl::Now() < until; ++i) {
    ++t.calls;
    const auto what = rng() % 20;
    if (what < 12) {
      auto job = client->Run(RandomJob(rng));
      if (job.ok()) {
        t.Count(job->state());
      } else {
        ++t.refused;  // Overloaded or released: not admitted.
      }
    } else if (what < 15) {
      std::vector<JobSpec> jobs;
      for (int j = 0; j < 20; ++j) jobs.push_back(RandomJob(rng));
      auto batch = client->RunBatch(jobs);
      if (!batch.ok()) {
        ++t.refused;
        continue;
      }
      const auto& s = batch->summary();
      t.admitted += s.total();
      t.succeeded += s.succeeded();
      t.failed += s.failed();
      t.cancelled += s.cancelled();
      t.timed_out += s.timed_out();
      t.rejected += s.rejected();
    } else if (what < 18) {
      auto job = client->Submit(Spec("sleep", {{"duration", "200ms"}}));
      if (!job.ok()) {
        ++t.refused;
        continue;
      }
      (void)client->CancelJob(job->id());
      auto ended = client->WaitJob(job->id());
      if (ended.ok()) t.Count(ended->state());
    } else if (index == 1 || what == 18) {
      (void)client->Tune("default", 2 + static_cast<int>(rng() % 7));
    } else if (index == 0 && !rebooted &&
               absl::Now() > until - absl::GetFlag(FLAGS_duration) / 2) {
      (void)client->Release("default", absl::Seconds(5));
      (void)client->Reboot("default");
      rebooted = true;
    }
  }
  return t;
}

int64_t CountEntries(const std::string& dir) {
  int64_t n = 0;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const int clients = absl::GetFlag(FLAGS_clients);

  // jobpoold, on an ephemeral loopback port read from its first lines.
  int err[2];
  if (pipe(err) != 0) return 1;
  const pid_t server = fork();
  if (server == 0) {
    dup2(err[1], STDERR_FILENO);
    close(err[0]);
    close(err[1]);
    execl(JOBPOOLD_PATH, JOBPOOLD_PATH, "--listen=127.0.0.1:0", "--pool_size=4",
          "--max_blocking=64", "--retention=2s", "--expiry=500ms",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(err[1]);
  FILE* log = fdopen(err[0], "r");
  int port = 0;
  char line[512];
  while (port == 0 && std::fgets(line, sizeof line, log) != nullptr) {
    const std::string text = line;
    const auto at = text.find("(port ");
    if (at != std::string::npos) {
      (void)absl::SimpleAtoi(text.substr(at + 6, text.find(')', at) - at - 6),
                             &port);
    }
  }
  if (port == 0) {
    std::fprintf(stderr, "jobpoold did not start\n");
    return 1;
  }
  const std::string address = absl::StrCat("127.0.0.1:", port);
  const std::string proc = absl::StrCat("/proc/", server);

  // The clients are forked before this process touches gRPC.
  const absl::Time until = absl::Now() + duration;
  std::vector<std::pair<pid_t, int>> children;
  for (int i = 0; i < clients; ++i) {
    int out[2];
    if (pipe(out) != 0) return 1;
    const pid_t pid = fork();
    if (pid == 0) {
      close(out[0]);
      const std::string result = RunClient(address, i, until).Line() + "\n";
      (void)!write(out[1], result.data(), result.size());
      _exit(0);
    }
    close(out[1]);
    children.emplace_back(pid, out[0]);
  }

  jobpool::ClientOptions options;
  options.servers = {address};
  auto observer = *jobpool::Client::Connect(options);
  // The baseline: after a short warm-up under load.
  absl::SleepFor(std::min(duration / 6, absl::Seconds(10)));
  const auto warm = observer->Stats();
  const int64_t base_fds = CountEntries(proc + "/fd");
  const int64_t base_rss = warm.ok() ? warm->rss_bytes() : 0;
  const int base_threads = warm.ok() ? warm->threads() : 0;
  int64_t peak_rss = 0;
  while (absl::Now() < until) {
    auto stats = observer->Stats();
    if (stats.ok()) peak_rss = std::max(peak_rss, stats->rss_bytes());
    absl::SleepFor(absl::Milliseconds(500));
  }

  Tally all;
  bool ok = true;
  for (int i = 0; i < clients; ++i) {
    auto [pid, fd] = children[static_cast<size_t>(i)];
    FILE* in = fdopen(fd, "r");
    std::string text;
    if (std::fgets(line, sizeof line, in) != nullptr) text = line;
    fclose(in);
    int status = 0;
    waitpid(pid, &status, 0);
    const Tally t = Tally::Parse(text);
    std::printf(
        "client %d: %lld calls, %lld admitted = %lld succeeded + %lld failed "
        "+ %lld cancelled + %lld timed out + %lld rejected; %lld refused\n",
        i, static_cast<long long>(t.calls), static_cast<long long>(t.admitted),
        static_cast<long long>(t.succeeded), static_cast<long long>(t.failed),
        static_cast<long long>(t.cancelled),
        static_cast<long long>(t.timed_out), static_cast<long long>(t.rejected),
        static_cast<long long>(t.refused));
    if (t.admitted != t.Ended() || t.calls == 0 || !WIFEXITED(status)) {
      std::printf("  INVARIANT FAILED for client %d\n", i);
      ok = false;
    }
    all.admitted += t.admitted;
    all.rejected += t.rejected;
    all.refused += t.refused;
  }

  // Idle: workers retire (expiry), results age out (retention).
  absl::SleepFor(absl::Seconds(3));
  (void)observer->Submit(Spec("noop"));  // Lets the manager evict.
  absl::SleepFor(absl::Seconds(1));
  auto end = observer->Stats();
  if (!end.ok()) {
    std::printf("Stats failed: %s\n", end.status().ToString().c_str());
    return 1;
  }
  const auto& s = end->totals();
  const int64_t ended =
      s.succeeded() + s.failed() + s.cancelled() + s.timed_out() + s.rejected();
  std::printf(
      "server: %lld submitted = %lld succeeded + %lld failed + %lld "
      "cancelled + %lld timed out + %lld rejected (%lld ended)\n",
      static_cast<long long>(s.submitted()),
      static_cast<long long>(s.succeeded()), static_cast<long long>(s.failed()),
      static_cast<long long>(s.cancelled()),
      static_cast<long long>(s.timed_out()),
      static_cast<long long>(s.rejected()), static_cast<long long>(ended));
  // Every job the server recorded is known to a client by its final state,
  // or was refused to its caller while queued (the server records those as
  // rejected; the caller got the error). The observer's noop is one more.
  const int64_t refused_after_queueing = s.rejected() - all.rejected;
  if (s.submitted() != ended ||
      s.submitted() != all.admitted + 1 + refused_after_queueing ||
      refused_after_queueing < 0 || refused_after_queueing > all.refused) {
    std::printf(
        "  INVARIANT FAILED: server %lld submitted, clients %lld "
        "admitted + %lld refused after queueing (+1 observer job)\n",
        static_cast<long long>(s.submitted()),
        static_cast<long long>(all.admitted),
        static_cast<long long>(refused_after_queueing));
    ok = false;
  }
  const int64_t end_fds = CountEntries(proc + "/fd");
  const int threads = end->threads();
  std::printf(
      "server RSS: %.1f MiB after warm-up, %.1f MiB peak, %.1f MiB at the "
      "end; fds %lld -> %lld; threads %d -> %d; retained jobs %lld\n",
      static_cast<double>(base_rss) / (1 << 20),
      static_cast<double>(peak_rss) / (1 << 20),
      static_cast<double>(end->rss_bytes()) / (1 << 20),
      static_cast<long long>(base_fds), static_cast<long long>(end_fds),
      base_threads, threads, static_cast<long long>(end->retained_jobs()));
  // Client connections have closed by now; the server holds only its own
  // descriptors and the observer's connection.
  if (end_fds > base_fds) {
    std::printf("  LEAK: file descriptors grew\n");
    ok = false;
  }
  // Idle workers have retired (--expiry), so no more threads than under
  // load.
  if (threads > base_threads) {
    std::printf("  LEAK: threads grew\n");
    ok = false;
  }
  if (end->rss_bytes() > base_rss + (int64_t{64} << 20)) {
    std::printf("  LEAK: RSS did not come back near its warm level\n");
    ok = false;
  }
  kill(server, SIGTERM);
  waitpid(server, nullptr, 0);
  std::printf("%s\n", ok ? "invariants: OK" : "invariants: FAILED");
  return ok ? 0 : 1;
}
