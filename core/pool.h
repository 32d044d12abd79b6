#ifndef JOBPOOL_CORE_POOL_H_
#define JOBPOOL_CORE_POOL_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/internal/mutex.h"
#include "core/pool_errors.h"
#include "core/pool_options.h"

namespace jobpool {

namespace internal {
struct Worker;
}  // namespace internal

// Identifies a submission made with Pool::SubmitAsync().
enum class Ticket : uint64_t {};

// Called once with the outcome of an asynchronous submission: OK when a
// worker took the task (on that worker's thread, just before the task runs),
// or the reason it never will (on the thread that called Release() or
// Cancel()).
using AdmitCallback = absl::AnyInvocable<void(absl::Status)>;

// A consistent snapshot of a pool's counters, taken under its lock.
struct PoolStats {
  int capacity = 0;       // Cap(): -1 when unbounded
  int running = 0;        // Running(): workers alive, busy or idle
  int busy = 0;           // workers executing a task right now
  int idle = 0;           // workers parked, waiting for a task
  int free = 0;           // Free(): capacity - running, -1 when unbounded
  int waiting = 0;        // Waiting(): submissions queued for a worker
  bool closed = false;    // IsClosed()
  int64_t spawned = 0;    // worker threads started since Create()
  int64_t purged = 0;     // idle workers retired by the purger
  int64_t panics = 0;     // tasks that threw
  int64_t completed = 0;  // tasks that returned or threw
};

// Pool
//
// Runs submitted tasks on at most `Cap()` worker threads, started on demand
// and retired after `PoolOptions::expiry` of idleness. A C++ port of ants'
// Pool: a submission either hands its task to a free worker, starts a new
// one while fewer than `Cap()` exist, or waits (in FIFO order) until a
// worker finishes; there is no unbounded queue behind the workers.
//
// Beyond ants, SubmitAsync() queues a submission without parking the calling
// thread and reports the admission through a callback, so that thousands of
// waiting remote requests cost memory rather than threads; and Tune() works
// on a pre-allocated pool too.
//
// Example:
//   auto pool = jobpool::Pool::Create(8);
//   if (!pool.ok()) return pool.status();
//   absl::Status s = (*pool)->Submit([] { DoWork(); });
//
// Errors are those of pool_errors.h. A task that throws is caught; the
// exception goes to PoolOptions::panic_handler and the worker survives.
// A task that submits to its own full, blocking pool waits for itself, as
// in ants.
//
// Thread safety: every method may be called concurrently. Counters are exact:
// each is read under the pool's lock.
class Pool {
 public:
  // Makes a pool of at most `size` workers; `size` <= 0 means unbounded.
  // Fails with kInvalidArgument on bad options (negative expiry or
  // max_blocking_tasks, prealloc on an unbounded pool).
  static absl::StatusOr<std::unique_ptr<Pool>> Create(int size,
                                                      PoolOptions options = {});

  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Releases the pool and waits for running tasks to finish.
  ~Pool();

  // Runs `task` on a worker, waiting for one to be free unless the pool is
  // non-blocking. Fails with kFailedPrecondition when the pool is closed
  // (also when Release() happens while waiting), with kResourceExhausted
  // when no worker is free and waiting is not allowed, and with
  // kInvalidArgument for an empty task. OK means a worker has the task.
  absl::Status Submit(Task task);

  // As Submit(), but never parks the caller. An immediate rejection is
  // returned and `on_admit` is dropped uncalled. Otherwise the submission is
  // admitted now or queued, and `on_admit` is called exactly once, as
  // AdmitCallback describes; the returned Ticket can withdraw it while it is
  // still queued. Queued submissions count in Waiting() and against
  // max_blocking_tasks, exactly like parked Submit() calls.
  absl::StatusOr<Ticket> SubmitAsync(Task task, AdmitCallback on_admit);

  // Withdraws a queued submission: its task is dropped and its callback gets
  // kCancelled on this thread. Returns false when the ticket is no longer
  // queued (admitted, rejected, cancelled or unknown).
  bool Cancel(Ticket ticket);

  int Cap() const;      // capacity; -1 when unbounded
  int Running() const;  // workers alive, busy or idle (as ants)
  int Free() const;     // Cap() - Running(); -1 when unbounded
  int Waiting() const;  // submissions waiting for a worker
  bool IsClosed() const;
  PoolStats Stats() const;

  // Changes the capacity to `size` > 0. Growing admits waiting submissions
  // at once; shrinking retires idle workers at once and busy ones as they
  // finish their task, never interrupting one. Works on unbounded and
  // pre-allocated pools. Fails with kInvalidArgument when `size` <= 0.
  absl::Status Tune(int size);

  // Closes the pool: new submissions fail with kFailedPrecondition, waiting
  // ones are woken with it, idle workers exit and busy ones exit after their
  // task. Does not wait. Calling it again does nothing.
  void Release();

  // Release(), then waits up to `timeout` for every worker to exit. Fails
  // with kDeadlineExceeded if some are still running a task by then, and
  // with kFailedPrecondition if the pool was already closed.
  absl::Status ReleaseTimeout(absl::Duration timeout);

  // Reopens a closed pool; does nothing on an open one. Any number of times.
  void Reboot();

 private:
  // A submission queued for a worker.
  struct Waiter {
    Task task;
    AdmitCallback on_admit;  // for Submit(), wakes the parked caller
    uint64_t ticket = 0;     // 0 for Submit()
  };
  // A deque, not a list: no allocation per queued submission. Cancel() finds
  // its ticket by a scan, which is rare and bounded by the queue length.
  using WaiterList = std::deque<Waiter>;

  // A worker reserved for one task under the lock. `start` says its thread
  // must be started; that and the hand-over happen after unlocking.
  struct Claim {
    internal::Worker* worker = nullptr;
    bool start = false;
  };

  friend class MultiPool;

  Pool(int size, PoolOptions options);

  // Submit(), except that `task` is left with the caller when the pool
  // rejects it at once (so MultiPool can offer it to another pool).
  absl::Status SubmitOrKeep(Task& task);

  // Reserves an idle worker, or a new one if capacity allows. Returns a
  // null worker when every worker is busy and the pool is full.
  Claim ClaimLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether a submission that found no worker may queue.
  absl::Status MayWaitLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Waiter TakeFirstWaiterLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands `task` to a claimed worker, starting its thread if needed. If the
  // thread cannot start, the claim is undone, kResourceExhausted returned
  // and `on_admit` left with the caller; otherwise `on_admit` is taken.
  absl::Status Dispatch(Claim claim, Task task, AdmitCallback& on_admit)
      ABSL_LOCKS_EXCLUDED(mu_);

  void WorkerLoop(internal::Worker* worker) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs and destroys `task`. Returns false if it threw.
  bool RunTask(Task& task);
  void HandlePanic(std::exception_ptr exception) const;
  // Takes up to `count` workers off the idle stack, longest idle first, and
  // counts them out of Running(). The caller Stop()s them after unlocking.
  std::vector<internal::Worker*> RetireIdleLocked(size_t count)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void StopAll(const std::vector<internal::Worker*>& workers);
  // Joins threads that have exited, so that their stacks are freed.
  void ReapExited() ABSL_LOCKS_EXCLUDED(mu_);

  // Marks the pool closed and wakes everyone. False if it already was.
  bool Close() ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until every thread of the pool has exited, or kDeadlineExceeded.
  absl::Status WaitForExit(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);
  void StartPurger() ABSL_EXCLUSIVE_LOCKS_REQUIRED(admin_mu_);
  void PurgeLoop(uint64_t generation) ABSL_LOCKS_EXCLUDED(mu_);
  void Log(absl::LogSeverity severity, absl::string_view message) const;

  // Constant after construction.
  const PoolOptions options_;

  // Serialises Reboot() and ~Pool() around the purger thread.
  internal::Mutex admin_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::thread purger_ ABSL_GUARDED_BY(admin_mu_);

  mutable internal::Mutex mu_;
  int capacity_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;       // workers in service
  int live_threads_ ABSL_GUARDED_BY(mu_) = 0;  // threads not yet exited
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  int purgers_alive_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // bumped by Reboot()
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 1;
  // Idle workers, least recently used first; claims pop the back.
  std::vector<internal::Worker*> idle_ ABSL_GUARDED_BY(mu_);
  // Submissions waiting for a worker, oldest first.
  WaiterList waiting_ ABSL_GUARDED_BY(mu_);
  // Every Worker object ever made; owned here, reused after its thread ends.
  std::vector<std::unique_ptr<internal::Worker>> workers_ ABSL_GUARDED_BY(mu_);
  std::vector<internal::Worker*> exited_ ABSL_GUARDED_BY(mu_);  // to join
  std::vector<internal::Worker*> spare_ ABSL_GUARDED_BY(mu_);   // joined
  int64_t spawned_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t purged_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t panics_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  internal::CondVar exited_cv_;  // a thread exited, or the purger stopped
  internal::CondVar purge_cv_;   // the purger should look again
};

}  // namespace jobpool

#endif  // JOBPOOL_CORE_POOL_H_
