#include "bench/harness.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>

namespace jobpool::bench {

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Measurement RunIsolated(const std::function<double()>& variant) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return {};
  if (pid == 0) {
    close(fds[0]);
    const double seconds = variant();
    const ssize_t n = write(fds[1], &seconds, sizeof seconds);
    _exit(n == sizeof seconds && seconds >= 0 ? 0 : 1);
  }
  close(fds[1]);
  double seconds = -1;
  const ssize_t n = read(fds[0], &seconds, sizeof seconds);
  close(fds[0]);
  int status = 0;
  rusage usage{};
  if (wait4(pid, &status, 0, &usage) != pid) return {};
  Measurement m;
  m.ok = n == sizeof seconds && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  m.seconds = seconds;
  m.peak_rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;
  m.cpu_seconds =
      static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
      static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) /
          1e6;
  return m;
}

Measurement BestOf(int runs, const std::function<double()>& variant) {
  Measurement best;
  for (int r = 0; r < runs; ++r) {
    Measurement m = RunIsolated(variant);
    if (!m.ok) return m;
    if (!best.ok || m.seconds < best.seconds) best = m;
  }
  return best;
}

struct Countdown::State {
  explicit State(int64_t n) : left(n) {}
  std::atomic<int64_t> left;
  std::mutex mu;
  std::condition_variable zero;
  bool done = false;
};

Countdown::Countdown(int64_t count) : state_(new State(count)) {}

void Countdown::Done() {
  if (state_->left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->done = true;
    state_->zero.notify_all();
  }
}

void Countdown::Wait() {
  {
    std::unique_lock<std::mutex> lock(state_->mu);
    state_->zero.wait(lock, [this] { return state_->done; });
  }
  delete state_;
  state_ = nullptr;
}

namespace {

std::atomic<uint64_t> sink{0};

uint64_t SpinIterations(uint64_t n) {
  uint64_t x = 88172645463325252ull;
  for (uint64_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}

double IterationsPerMicro() {
  static const double rate = [] {
    const uint64_t n = 20'000'000;
    const double start = Now();
    sink.fetch_add(SpinIterations(n), std::memory_order_relaxed);
    return static_cast<double>(n) / ((Now() - start) * 1e6);
  }();
  return rate;
}

}  // namespace

void Spin(double micros) {
  const auto n = static_cast<uint64_t>(micros * IterationsPerMicro());
  sink.fetch_add(SpinIterations(n), std::memory_order_relaxed);
}

}  // namespace jobpool::bench
