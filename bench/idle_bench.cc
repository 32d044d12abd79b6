// Does an idle pool use CPU? Runs a burst on a pool of 8, then measures the
// process's CPU time while the pool sits idle (workers parked, purger asleep),
// once with the default purge and once with purge disabled.

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/harness.h"
#include "core/pool.h"
#include "core/wait_group.h"

ABSL_FLAG(int, idle_ms, 3000, "how long the pool sits idle");
ABSL_FLAG(int, workers, 8, "pool size");

namespace jobpool::bench {
namespace {

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) /
             1e6;
}

// Returns the CPU seconds used while idle, or -1.
double IdleCpu(bool disable_purge) {
  PoolOptions options;
  options.disable_purge = disable_purge;
  const int workers = absl::GetFlag(FLAGS_workers);
  auto pool = Pool::Create(workers, options);
  if (!pool.ok()) return -1;
  WaitGroup wg;
  wg.Add(workers * 100);
  for (int i = 0; i < workers * 100; ++i) {
    if (!(*pool)->Submit([&wg] { wg.Done(); }).ok()) return -1;
  }
  wg.Wait();
  const double before = CpuSeconds();
  std::this_thread::sleep_for(
      std::chrono::milliseconds(absl::GetFlag(FLAGS_idle_ms)));
  return CpuSeconds() - before;
}

}  // namespace
}  // namespace jobpool::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int idle_ms = absl::GetFlag(FLAGS_idle_ms);
  std::printf("idle pool of %d workers, %d ms idle\n\n",
              absl::GetFlag(FLAGS_workers), idle_ms);
  std::printf("| purge | CPU while idle (ms) | CPU share |\n|---|---:|---:|\n");
  for (const bool disabled : {false, true}) {
    const jobpool::bench::Measurement m = jobpool::bench::RunIsolated(
        [disabled] { return jobpool::bench::IdleCpu(disabled); });
    if (!m.ok) {
      std::printf("| %s | failed | |\n", disabled ? "disabled" : "default");
      return 1;
    }
    std::printf("| %s | %.2f | %.4f%% |\n",
                disabled ? "disabled" : "1 s expiry", m.seconds * 1e3,
                100.0 * m.seconds / (idle_ms / 1e3));
  }
  return 0;
}
