#ifndef JOBPOOL_BENCH_HARNESS_H_
#define JOBPOOL_BENCH_HARNESS_H_

// A small harness for side-by-side runs: each variant runs in a forked child
// so that its peak RSS is its own, and the child reports its wall time.

#include <cstdint>
#include <functional>
#include <string>

namespace jobpool::bench {

struct Measurement {
  bool ok = false;
  double seconds = 0;       // as timed by the variant itself
  double peak_rss_mib = 0;  // the child's maximum resident set size
  double cpu_seconds = 0;   // user + system time of the child
};

// Runs `variant` in a child process. `variant` returns the seconds it
// measured, or a negative number on failure.
Measurement RunIsolated(const std::function<double()>& variant);

// RunIsolated() `runs` times; the fastest run, or the first failure.
Measurement BestOf(int runs, const std::function<double()>& variant);

// Counts finished tasks and wakes one waiter when the last one is done.
// One relaxed atomic decrement per task on the hot path.
class Countdown {
 public:
  explicit Countdown(int64_t count);
  Countdown(const Countdown&) = delete;
  Countdown& operator=(const Countdown&) = delete;
  void Done();
  void Wait();

 private:
  struct State;
  State* state_;
};

// Busy work of about `micros` microseconds (calibrated once per process).
void Spin(double micros);

// Seconds since an arbitrary epoch, from a monotonic clock.
double Now();

}  // namespace jobpool::bench

#endif  // JOBPOOL_BENCH_HARNESS_H_
