#ifndef JOBPOOL_CORE_INTERNAL_WORKER_H_
#define JOBPOOL_CORE_INTERNAL_WORKER_H_

// Worker
//
// One worker thread's mailbox: a task slot and a signal word. The pool
// hands a worker to exactly one party at a time (a submitter that claimed
// it, or the purger/Release that retires it), so the slot needs no lock: the
// owner fills it, then publishes with Give() or Stop(); the worker reads it
// after Await() returns. Waiting spins briefly, then sleeps in the kernel,
// so an idle worker costs no CPU.

#include <atomic>
#include <cstdint>
#include <thread>

#include "absl/time/time.h"
#include "core/pool.h"
#include "core/pool_options.h"

namespace jobpool::internal {

struct Worker {
  enum Signal : uint32_t { kNone = 0, kTask = 1, kStop = 2 };

  // Publishes `task` (filled in `task`/`on_admit` beforehand) to the worker.
  void Give() {
    signal.store(kTask, std::memory_order_release);
    signal.notify_one();
  }

  // Asks the worker's thread to exit.
  void Stop() {
    signal.store(kStop, std::memory_order_release);
    signal.notify_one();
  }

  // Blocks until Give() or Stop(); consumes and returns the signal.
  Signal Await() {
    uint32_t s;
    while ((s = signal.load(std::memory_order_acquire)) == kNone) {
      signal.wait(kNone, std::memory_order_acquire);
    }
    signal.store(kNone, std::memory_order_relaxed);
    return static_cast<Signal>(s);
  }

  std::thread thread;
  Task task;
  AdmitCallback on_admit;  // set for admitted SubmitAsync() submissions
  std::atomic<uint32_t> signal{kNone};
  absl::Time last_used;  // guarded by the pool's lock while idle
};

}  // namespace jobpool::internal

#endif  // JOBPOOL_CORE_INTERNAL_WORKER_H_
