// The seed benchmark: 10,000 jobs that each sleep 10 ms on 1,000 workers,
// waited with a WaitGroup. The ideal is jobs / workers * sleep = 0.1 s.
// Runs jobpool's Pool beside one std::thread per job and Boost.Asio's
// thread_pool, each in its own process so that peak RSS is its own.

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "bench/harness.h"
#include "boost/asio/post.hpp"
#include "boost/asio/thread_pool.hpp"
#include "core/pool.h"
#include "core/wait_group.h"

ABSL_FLAG(int, jobs, 10000, "number of jobs");
ABSL_FLAG(int, workers, 1000, "pool size");
ABSL_FLAG(int, sleep_ms, 10, "how long each job sleeps");
ABSL_FLAG(int, runs, 3, "runs of each variant; the best is reported");

namespace jobpool::bench {
namespace {

struct Params {
  int jobs;
  int workers;
  std::chrono::milliseconds sleep;
};

double RunJobpool(const Params& p) {
  const double start = Now();
  auto pool = Pool::Create(p.workers);
  if (!pool.ok()) return -1;
  WaitGroup wg;
  wg.Add(p.jobs);
  for (int i = 0; i < p.jobs; ++i) {
    absl::Status s = (*pool)->Submit([&wg, &p] {
      std::this_thread::sleep_for(p.sleep);
      wg.Done();
    });
    if (!s.ok()) return -1;
  }
  wg.Wait();
  return Now() - start;
}

double RunThreadPerJob(const Params& p) {
  const double start = Now();
  WaitGroup wg;
  wg.Add(p.jobs);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(p.jobs));
  for (int i = 0; i < p.jobs; ++i) {
    threads.emplace_back([&wg, &p] {
      std::this_thread::sleep_for(p.sleep);
      wg.Done();
    });
  }
  wg.Wait();
  const double elapsed = Now() - start;
  for (auto& t : threads) t.join();
  return elapsed;
}

double RunAsio(const Params& p) {
  const double start = Now();
  boost::asio::thread_pool pool(static_cast<size_t>(p.workers));
  WaitGroup wg;
  wg.Add(p.jobs);
  for (int i = 0; i < p.jobs; ++i) {
    boost::asio::post(pool, [&wg, &p] {
      std::this_thread::sleep_for(p.sleep);
      wg.Done();
    });
  }
  wg.Wait();
  const double elapsed = Now() - start;
  pool.join();
  return elapsed;
}

int Main() {
  const Params p{absl::GetFlag(FLAGS_jobs), absl::GetFlag(FLAGS_workers),
                 std::chrono::milliseconds(absl::GetFlag(FLAGS_sleep_ms))};
  const int runs = absl::GetFlag(FLAGS_runs);
  if (p.jobs <= 0 || p.workers <= 0 || p.sleep.count() < 0 || runs <= 0) {
    std::fprintf(stderr, "seed_bench: flags must be positive\n");
    return 2;
  }
  const double ideal =
      static_cast<double>((p.jobs + p.workers - 1) / p.workers) *
      static_cast<double>(p.sleep.count()) / 1000.0;
  std::printf(
      "seed benchmark: %d jobs x sleep %lld ms on %d workers; ideal %.3f s; "
      "best of %d runs\n\n",
      p.jobs, static_cast<long long>(p.sleep.count()), p.workers, ideal, runs);
  std::printf("| variant | elapsed (s) | x ideal | peak RSS (MiB) |\n");
  std::printf("|---|---:|---:|---:|\n");
  struct Row {
    const char* name;
    double (*run)(const Params&);
  };
  const Row rows[] = {{"jobpool Pool", RunJobpool},
                      {"boost::asio::thread_pool", RunAsio},
                      {"std::thread per job", RunThreadPerJob}};
  bool ok = true;
  for (const Row& row : rows) {
    const Measurement m = BestOf(runs, [&] { return row.run(p); });
    if (!m.ok) {
      std::printf("| %s | failed | | |\n", row.name);
      ok = false;
      continue;
    }
    std::printf("| %s | %.3f | %.2f | %.1f |\n", row.name, m.seconds,
                m.seconds / ideal, m.peak_rss_mib);
    std::fflush(stdout);
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace jobpool::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs the seed benchmark: jobpool beside Boost.Asio and thread-per-job.");
  absl::ParseCommandLine(argc, argv);
  return jobpool::bench::Main();
}
