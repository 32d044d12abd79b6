#include "core/pool.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <system_error>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "core/internal/handoff.h"
#include "core/internal/worker.h"
#include "core/status_macros.h"

namespace jobpool {

using internal::Handoff;
using internal::MutexLock;
using internal::Worker;

namespace {

constexpr absl::Duration kDefaultExpiry = absl::Seconds(1);

std::string Describe(std::exception_ptr exception) {
  try {
    std::rethrow_exception(std::move(exception));
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "exception of unknown type";
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Pool>> Pool::Create(int size,
                                                   PoolOptions options) {
  if (options.expiry < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("expiry must not be negative");
  }
  if (options.expiry == absl::ZeroDuration()) options.expiry = kDefaultExpiry;
  if (options.max_blocking_tasks < 0) {
    return absl::InvalidArgumentError(
        "max_blocking_tasks must not be negative");
  }
  if (options.prealloc && size <= 0) {
    return absl::InvalidArgumentError(
        "prealloc needs a bounded pool (size > 0)");
  }
  auto pool = absl::WrapUnique(new Pool(size, std::move(options)));
  if (!pool->options_.disable_purge) {
    MutexLock admin(&pool->admin_mu_);
    pool->StartPurger();
  }
  return pool;
}

Pool::Pool(int size, PoolOptions options)
    : options_(std::move(options)), capacity_(size > 0 ? size : -1) {
  if (options_.prealloc) {
    MutexLock lock(&mu_);
    const auto n = static_cast<size_t>(size);
    idle_.reserve(n);
    exited_.reserve(n);
    spare_.reserve(n);
    workers_.reserve(n);
    while (workers_.size() < n) {
      workers_.push_back(std::make_unique<Worker>());
      spare_.push_back(workers_.back().get());
    }
  }
}

Pool::~Pool() {
  Release();
  {
    MutexLock admin(&admin_mu_);
    if (purger_.joinable()) purger_.join();
  }
  MutexLock lock(&mu_);
  while (live_threads_ > 0) exited_cv_.Wait(&mu_);
  // Every worker thread is past its last use of the pool.
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
  }
}

absl::Status Pool::Submit(Task task) { return SubmitOrKeep(task); }

absl::Status Pool::SubmitOrKeep(Task& task) {
  if (!task) return absl::InvalidArgumentError("task is empty");
  Handoff handoff;
  Claim claim;
  {
    MutexLock lock(&mu_);
    if (closed_) return PoolClosedError();
    claim = ClaimLocked();
    if (claim.worker == nullptr) {
      JOBPOOL_RETURN_IF_ERROR(MayWaitLocked());
      waiting_.push_back(Waiter{std::move(task),
                                [&handoff](absl::Status status) {
                                  handoff.Deliver(std::move(status));
                                },
                                0});
    }
  }
  if (claim.worker == nullptr) return handoff.Await();
  AdmitCallback none;
  // `task` was moved only on the queueing path, which returned above.
  // NOLINTNEXTLINE(bugprone-use-after-move)
  return Dispatch(claim, std::move(task), none);
}

absl::StatusOr<Ticket> Pool::SubmitAsync(Task task, AdmitCallback on_admit) {
  if (!task) return absl::InvalidArgumentError("task is empty");
  Claim claim;
  uint64_t ticket;
  {
    MutexLock lock(&mu_);
    if (closed_) return PoolClosedError();
    ticket = next_ticket_++;
    claim = ClaimLocked();
    if (claim.worker == nullptr) {
      JOBPOOL_RETURN_IF_ERROR(MayWaitLocked());
      waiting_.push_back(Waiter{std::move(task), std::move(on_admit), ticket});
      return Ticket{ticket};
    }
  }
  JOBPOOL_RETURN_IF_ERROR(Dispatch(claim, std::move(task), on_admit));
  return Ticket{ticket};
}

bool Pool::Cancel(Ticket ticket) {
  Waiter waiter;
  {
    MutexLock lock(&mu_);
    const auto it = std::find_if(
        waiting_.begin(), waiting_.end(), [ticket](const Waiter& w) {
          return w.ticket == static_cast<uint64_t>(ticket);
        });
    if (it == waiting_.end()) return false;
    waiter = std::move(*it);
    waiting_.erase(it);
  }
  waiter.task = nullptr;
  if (waiter.on_admit) waiter.on_admit(SubmissionCancelledError());
  return true;
}

Pool::Claim Pool::ClaimLocked() {
  if (!idle_.empty()) {
    Worker* worker = idle_.back();
    idle_.pop_back();
    return {worker, false};
  }
  if (capacity_ > 0 && running_ >= capacity_) return {};
  Worker* worker;
  if (!spare_.empty()) {
    worker = spare_.back();
    spare_.pop_back();
  } else if (!exited_.empty()) {  // Dispatch() joins its old thread.
    worker = exited_.back();
    exited_.pop_back();
  } else {
    workers_.push_back(std::make_unique<Worker>());
    worker = workers_.back().get();
  }
  ++running_;
  ++live_threads_;
  ++spawned_;
  if (running_ == 1) purge_cv_.Signal();  // It may sleep with no deadline.
  return {worker, true};
}

absl::Status Pool::MayWaitLocked() const {
  if (options_.nonblocking) return PoolOverloadError();
  if (options_.max_blocking_tasks > 0 &&
      waiting_.size() >= static_cast<size_t>(options_.max_blocking_tasks)) {
    return PoolOverloadError();
  }
  return absl::OkStatus();
}

Pool::Waiter Pool::TakeFirstWaiterLocked() {
  Waiter waiter = std::move(waiting_.front());
  waiting_.pop_front();
  return waiter;
}

absl::Status Pool::Dispatch(Claim claim, Task task, AdmitCallback& on_admit) {
  Worker* worker = claim.worker;
  worker->task = std::move(task);
  if (!claim.start) {
    worker->on_admit = std::move(on_admit);
    worker->Give();
    return absl::OkStatus();
  }
  if (worker->thread.joinable()) worker->thread.join();
  worker->signal.store(Worker::kTask, std::memory_order_relaxed);
  // std::thread reports a failure to start only by throwing.
  std::string error;
  try {
    worker->on_admit = std::move(on_admit);
    worker->thread = std::thread(&Pool::WorkerLoop, this, worker);
    return absl::OkStatus();
  } catch (const std::system_error& e) {
    error = e.what();
  }
  on_admit = std::move(worker->on_admit);
  worker->on_admit = nullptr;
  worker->task = nullptr;
  worker->signal.store(Worker::kNone, std::memory_order_relaxed);
  {
    MutexLock lock(&mu_);
    --running_;
    --live_threads_;
    --spawned_;
    spare_.push_back(worker);
    exited_cv_.SignalAll();
  }
  std::string message = absl::StrCat("cannot start a worker thread: ", error);
  Log(absl::LogSeverity::kError, message);
  return absl::ResourceExhaustedError(message);
}

void Pool::WorkerLoop(Worker* worker) {
  bool retire = false;
  while (!retire && worker->Await() == Worker::kTask) {
    Task task = std::move(worker->task);
    worker->task = nullptr;
    AdmitCallback on_admit = std::move(worker->on_admit);
    worker->on_admit = nullptr;
    // Run this task, then queued ones, until there are none to take.
    for (;;) {
      if (on_admit) {
        on_admit(absl::OkStatus());
        on_admit = nullptr;
      }
      const bool ok = RunTask(task);
      MutexLock lock(&mu_);
      ++completed_;
      if (!ok) ++panics_;
      if (closed_ || (capacity_ > 0 && running_ > capacity_)) {
        --running_;
        retire = true;
        break;
      }
      if (waiting_.empty()) {
        worker->last_used = absl::Now();
        idle_.push_back(worker);
        break;
      }
      Waiter next = TakeFirstWaiterLocked();
      task = std::move(next.task);
      on_admit = std::move(next.on_admit);
    }
  }
  MutexLock lock(&mu_);
  --live_threads_;
  exited_.push_back(worker);
  exited_cv_.SignalAll();
}

bool Pool::RunTask(Task& task) {
  bool ok = true;
  try {
    task();
  } catch (...) {  // The one place where a task's exception is caught.
    ok = false;
    HandlePanic(std::current_exception());
  }
  task = nullptr;
  return ok;
}

void Pool::HandlePanic(std::exception_ptr exception) const {
  if (!options_.panic_handler) {
    Log(absl::LogSeverity::kError,
        absl::StrCat("task threw: ", Describe(std::move(exception))));
    return;
  }
  try {
    options_.panic_handler(std::move(exception));
  } catch (...) {
    Log(absl::LogSeverity::kError,
        absl::StrCat("panic handler threw: ",
                     Describe(std::current_exception())));
  }
}

std::vector<Worker*> Pool::RetireIdleLocked(size_t count) {
  count = std::min(count, idle_.size());
  const auto end = idle_.begin() + static_cast<std::ptrdiff_t>(count);
  std::vector<Worker*> retired(idle_.begin(), end);
  idle_.erase(idle_.begin(), end);
  running_ -= static_cast<int>(count);
  return retired;
}

void Pool::StopAll(const std::vector<Worker*>& workers) {
  for (Worker* worker : workers) worker->Stop();
}

void Pool::ReapExited() {
  std::vector<Worker*> exited;
  {
    MutexLock lock(&mu_);
    exited.swap(exited_);
  }
  for (Worker* worker : exited) worker->thread.join();
  MutexLock lock(&mu_);
  spare_.insert(spare_.end(), exited.begin(), exited.end());
}

int Pool::Cap() const {
  MutexLock lock(&mu_);
  return capacity_;
}

int Pool::Running() const {
  MutexLock lock(&mu_);
  return running_;
}

int Pool::Free() const {
  MutexLock lock(&mu_);
  return capacity_ < 0 ? -1 : capacity_ - running_;
}

int Pool::Waiting() const {
  MutexLock lock(&mu_);
  return static_cast<int>(waiting_.size());
}

bool Pool::IsClosed() const {
  MutexLock lock(&mu_);
  return closed_;
}

PoolStats Pool::Stats() const {
  MutexLock lock(&mu_);
  PoolStats stats;
  stats.capacity = capacity_;
  stats.running = running_;
  stats.idle = static_cast<int>(idle_.size());
  stats.busy = running_ - stats.idle;
  stats.free = capacity_ < 0 ? -1 : capacity_ - running_;
  stats.waiting = static_cast<int>(waiting_.size());
  stats.closed = closed_;
  stats.spawned = spawned_;
  stats.purged = purged_;
  stats.panics = panics_;
  stats.completed = completed_;
  return stats;
}

absl::Status Pool::Tune(int size) {
  if (size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Tune: size must be positive, got ", size));
  }
  std::vector<std::pair<Claim, Waiter>> admitted;
  std::vector<Worker*> surplus;
  {
    MutexLock lock(&mu_);
    capacity_ = size;
    if (options_.prealloc) {
      const auto n = static_cast<size_t>(size);
      idle_.reserve(n);
      while (workers_.size() < n) {
        workers_.push_back(std::make_unique<Worker>());
        spare_.push_back(workers_.back().get());
      }
    }
    while (!waiting_.empty()) {
      const Claim claim = ClaimLocked();
      if (claim.worker == nullptr) break;
      admitted.emplace_back(claim, TakeFirstWaiterLocked());
    }
    if (running_ > size) {
      surplus = RetireIdleLocked(static_cast<size_t>(running_ - size));
    }
  }
  StopAll(surplus);
  for (auto& [claim, waiter] : admitted) {
    absl::Status started =
        Dispatch(claim, std::move(waiter.task), waiter.on_admit);
    if (!started.ok() && waiter.on_admit) waiter.on_admit(std::move(started));
  }
  return absl::OkStatus();
}

bool Pool::Close() {
  std::vector<Worker*> idle;
  WaiterList waiters;
  {
    MutexLock lock(&mu_);
    if (closed_) return false;
    closed_ = true;
    idle = RetireIdleLocked(idle_.size());
    waiters.swap(waiting_);
    purge_cv_.SignalAll();
  }
  StopAll(idle);
  for (Waiter& waiter : waiters) {
    waiter.task = nullptr;
    if (waiter.on_admit) waiter.on_admit(PoolClosedError());
  }
  return true;
}

void Pool::Release() { Close(); }

absl::Status Pool::ReleaseTimeout(absl::Duration timeout) {
  if (!Close()) return PoolClosedError();
  return WaitForExit(absl::Now() + timeout);
}

absl::Status Pool::WaitForExit(absl::Time deadline) {
  MutexLock lock(&mu_);
  while (live_threads_ > 0 || purgers_alive_ > 0) {
    if (!exited_cv_.WaitWithDeadline(&mu_, deadline) &&
        (live_threads_ > 0 || purgers_alive_ > 0)) {
      return ReleaseTimeoutError();
    }
  }
  return absl::OkStatus();
}

void Pool::Reboot() {
  MutexLock admin(&admin_mu_);
  {
    MutexLock lock(&mu_);
    if (!closed_) return;
    closed_ = false;
    ++generation_;
  }
  if (purger_.joinable()) purger_.join();  // It exits once it sees Close().
  if (!options_.disable_purge) StartPurger();
}

void Pool::StartPurger() {
  uint64_t generation;
  {
    MutexLock lock(&mu_);
    ++purgers_alive_;
    generation = generation_;
  }
  try {
    purger_ = std::thread(&Pool::PurgeLoop, this, generation);
  } catch (const std::system_error& e) {
    Log(absl::LogSeverity::kError,
        absl::StrCat("cannot start the purger; idle workers stay: ", e.what()));
    MutexLock lock(&mu_);
    --purgers_alive_;
    exited_cv_.SignalAll();
  }
}

void Pool::PurgeLoop(uint64_t generation) {
  for (;;) {
    std::vector<Worker*> stale;
    {
      MutexLock lock(&mu_);
      const auto stop = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return closed_ || generation_ != generation;
      };
      if (!stop()) {
        // Sleep until the longest-idle worker expires; with no workers at
        // all, until ClaimLocked() starts one.
        absl::Time deadline = absl::InfiniteFuture();
        if (!idle_.empty()) {
          deadline = idle_.front()->last_used + options_.expiry;
        } else if (running_ > 0) {
          deadline = absl::Now() + options_.expiry;
        }
        purge_cv_.WaitWithDeadline(&mu_, deadline);
      }
      if (stop()) {
        --purgers_alive_;
        exited_cv_.SignalAll();
        return;
      }
      const absl::Time cutoff = absl::Now() - options_.expiry;
      size_t expired = 0;
      while (expired < idle_.size() && idle_[expired]->last_used <= cutoff) {
        ++expired;
      }
      stale = RetireIdleLocked(expired);
      purged_ += static_cast<int64_t>(expired);
    }
    StopAll(stale);
    ReapExited();
  }
}

void Pool::Log(absl::LogSeverity severity, absl::string_view message) const {
  if (options_.logger) {
    options_.logger(severity, message);
    return;
  }
  std::fprintf(stderr, "jobpool %s: %.*s\n", absl::LogSeverityName(severity),
               static_cast<int>(message.size()), message.data());
}

}  // namespace jobpool
