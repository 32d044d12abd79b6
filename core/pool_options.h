#ifndef JOBPOOL_CORE_POOL_OPTIONS_H_
#define JOBPOOL_CORE_POOL_OPTIONS_H_

#include <exception>
#include <functional>

#include "absl/base/log_severity.h"
#include "absl/functional/any_invocable.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace jobpool {

// A unit of work. Move-only callables are fine; small ones are stored
// without a heap allocation.
using Task = absl::AnyInvocable<void()>;

// Receives the exception a task threw. Runs on the worker thread that ran
// the task; the worker carries on afterwards.
using PanicHandler = std::function<void(std::exception_ptr)>;

// A log sink. Called from pool threads; must be thread-safe.
using Logger = std::function<void(absl::LogSeverity, absl::string_view)>;

// PoolOptions
//
// How a Pool behaves. The defaults match ants v2's: blocking submission with
// no limit on waiters, idle workers retired after one second, no
// pre-allocation, exceptions logged.
struct PoolOptions {
  // How long a worker may stay idle before the purger retires it.
  // Zero means the default (one second); negative is an InvalidArgument.
  // (ants: WithExpiryDuration)
  absl::Duration expiry = absl::Seconds(1);

  // Never retire idle workers: once started, a worker lives until Release()
  // or a Tune() below the number of workers. (ants: WithDisablePurge)
  bool disable_purge = false;

  // Reserve storage for `size` workers up front, so the first burst pays no
  // allocation for worker bookkeeping. Threads still start on demand.
  // Requires a bounded pool. (ants: WithPreAlloc)
  bool prealloc = false;

  // Submit never waits: when no worker is free it fails at once with
  // kResourceExhausted. (ants: WithNonblocking)
  bool nonblocking = false;

  // At most this many submissions wait for a worker at the same time; the
  // next one fails at once with kResourceExhausted. Zero means no limit;
  // negative is an InvalidArgument. (ants: WithMaxBlockingTasks)
  int max_blocking_tasks = 0;

  // Called with the exception when a task throws. When empty, the exception
  // is logged. Either way the worker survives. (ants: WithPanicHandler)
  PanicHandler panic_handler;

  // Where the pool logs. When empty, messages go to stderr. (ants: WithLogger)
  Logger logger;
};

}  // namespace jobpool

#endif  // JOBPOOL_CORE_POOL_OPTIONS_H_
