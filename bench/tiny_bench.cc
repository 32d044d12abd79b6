// Tiny tasks: 1,000,000 no-op and 1,000,000 ~1 us tasks submitted from one
// thread onto pools of 2 and 8 workers. jobpool's Pool beside Boost.Asio's
// thread_pool and oneTBB's task_group (in an arena of the same size), each
// run in its own process.

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "bench/harness.h"
#include "boost/asio/post.hpp"
#include "boost/asio/thread_pool.hpp"
#include "core/pool.h"
#include "oneapi/tbb/global_control.h"
#include "oneapi/tbb/task_arena.h"
#include "oneapi/tbb/task_group.h"

ABSL_FLAG(int, tasks, 1'000'000, "tasks per run");
ABSL_FLAG(std::vector<std::string>, workers,
          std::vector<std::string>({"2", "8"}), "pool sizes");
ABSL_FLAG(double, work_us, 1.0, "length of the busy task, in microseconds");
ABSL_FLAG(int, runs, 3, "runs of each variant; the best is reported");
ABSL_FLAG(std::string, only, "",
          "run only the variants whose name contains this text");

namespace jobpool::bench {
namespace {

struct Params {
  int tasks;
  int workers;
  double work_us;  // 0: no-op
};

void Work(double work_us) {
  if (work_us > 0) Spin(work_us);
}

double RunJobpool(const Params& p) {
  auto pool = Pool::Create(p.workers);
  if (!pool.ok()) return -1;
  Countdown done(p.tasks);
  const double start = Now();
  for (int i = 0; i < p.tasks; ++i) {
    absl::Status s = (*pool)->Submit([&done, &p] {
      Work(p.work_us);
      done.Done();
    });
    if (!s.ok()) return -1;
  }
  done.Wait();
  return Now() - start;
}

// The non-parking form: submissions queue behind the workers (unbounded
// here, as Asio's queue is) instead of the submitter waiting for a worker.
double RunJobpoolAsync(const Params& p) {
  auto pool = Pool::Create(p.workers);
  if (!pool.ok()) return -1;
  Countdown done(p.tasks);
  const double start = Now();
  for (int i = 0; i < p.tasks; ++i) {
    auto ticket = (*pool)->SubmitAsync(
        [&done, &p] {
          Work(p.work_us);
          done.Done();
        },
        nullptr);
    if (!ticket.ok()) return -1;
  }
  done.Wait();
  return Now() - start;
}

double RunAsio(const Params& p) {
  boost::asio::thread_pool pool(static_cast<size_t>(p.workers));
  Countdown done(p.tasks);
  const double start = Now();
  for (int i = 0; i < p.tasks; ++i) {
    boost::asio::post(pool, [&done, &p] {
      Work(p.work_us);
      done.Done();
    });
  }
  done.Wait();
  const double elapsed = Now() - start;
  pool.join();
  return elapsed;
}

double RunTbb(const Params& p) {
  // TBB caps its threads at the core count unless told otherwise.
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism,
                              static_cast<size_t>(p.workers));
  tbb::task_arena arena(p.workers);
  double elapsed = 0;
  arena.execute([&] {
    tbb::task_group group;
    const double start = Now();
    for (int i = 0; i < p.tasks; ++i) {
      group.run([&p] { Work(p.work_us); });
    }
    group.wait();
    elapsed = Now() - start;
  });
  return elapsed;
}

int Main() {
  const int tasks = absl::GetFlag(FLAGS_tasks);
  const int runs = absl::GetFlag(FLAGS_runs);
  const double work_us = absl::GetFlag(FLAGS_work_us);
  if (tasks <= 0 || runs <= 0 || work_us <= 0) {
    std::fprintf(stderr, "tiny_bench: flags must be positive\n");
    return 2;
  }
  Spin(0);  // Calibrate before forking.
  std::printf(
      "tiny tasks: %d per run, submitted from one thread; best of %d\n\n",
      tasks, runs);
  std::printf(
      "| task | workers | variant | tasks/s | x Asio | peak RSS (MiB) |\n");
  std::printf("|---|---:|---|---:|---:|---:|\n");
  struct Variant {
    const char* name;
    double (*run)(const Params&);
  };
  const Variant variants[] = {{"jobpool Pool::Submit", RunJobpool},
                              {"jobpool Pool::SubmitAsync", RunJobpoolAsync},
                              {"boost::asio::thread_pool", RunAsio},
                              {"oneTBB task_group", RunTbb}};
  bool ok = true;
  for (const double work : {0.0, work_us}) {
    for (const std::string& w : absl::GetFlag(FLAGS_workers)) {
      const Params p{tasks, std::stoi(w), work};
      const std::string only = absl::GetFlag(FLAGS_only);
      std::vector<Measurement> results;
      for (const Variant& v : variants) {
        const bool skip = std::string(v.name).find(only) == std::string::npos;
        results.push_back(skip ? Measurement{}
                               : BestOf(runs, [&] { return v.run(p); }));
      }
      const double asio_rate = results[2].ok ? tasks / results[2].seconds : 0.0;
      for (size_t i = 0; i < results.size(); ++i) {
        const Measurement& m = results[i];
        const std::string task =
            work == 0 ? "no-op" : std::to_string(work).substr(0, 4) + " us";
        if (std::string(variants[i].name).find(only) == std::string::npos) {
          continue;
        }
        if (!m.ok) {
          std::printf("| %s | %d | %s | failed | | |\n", task.c_str(),
                      p.workers, variants[i].name);
          ok = false;
          continue;
        }
        const double rate = tasks / m.seconds;
        std::printf("| %s | %d | %s | %.0f | %.2f | %.1f |\n", task.c_str(),
                    p.workers, variants[i].name, rate,
                    asio_rate > 0 ? rate / asio_rate : 0.0, m.peak_rss_mib);
        std::fflush(stdout);
      }
    }
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace jobpool::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Tiny-task throughput: jobpool beside Boost.Asio and oneTBB.");
  absl::ParseCommandLine(argc, argv);
  return jobpool::bench::Main();
}
