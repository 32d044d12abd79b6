#ifndef JOBPOOL_CORE_POOL_WITH_FUNC_H_
#define JOBPOOL_CORE_POOL_WITH_FUNC_H_

// PoolWithFunc
//
// A Pool bound to one function: Invoke(arg) runs `func(arg)` on a worker,
// with exactly Pool::Submit()'s admission rules and errors. A C++ port of
// ants' PoolWithFunc; `Arg` must be movable.
//
// Example:
//   auto pool = jobpool::PoolWithFunc<int>::Create(
//       4, [](int n) { Process(n); });
//   if (!pool.ok()) return pool.status();
//   for (int i = 0; i < 100; ++i) (void)(*pool)->Invoke(i);
//
// Thread safety: every method may be called concurrently; `func` is called
// concurrently from up to Cap() workers.

#include <functional>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/pool.h"
#include "core/pool_options.h"

namespace jobpool {

template <typename Arg>
class PoolWithFunc {
 public:
  using Func = std::function<void(Arg)>;

  // As Pool::Create(); an empty `func` is a kInvalidArgument
  // (ants: ErrLackPoolFunc).
  static absl::StatusOr<std::unique_ptr<PoolWithFunc>> Create(
      int size, Func func, PoolOptions options = {}) {
    if (!func) return absl::InvalidArgumentError("PoolWithFunc: empty func");
    auto pool = Pool::Create(size, std::move(options));
    if (!pool.ok()) return pool.status();
    return std::unique_ptr<PoolWithFunc>(
        new PoolWithFunc(std::move(func), *std::move(pool)));
  }

  // Runs func(arg) on a worker; see Pool::Submit().
  absl::Status Invoke(Arg arg) { return pool_->Submit(Bind(std::move(arg))); }

  // See Pool::SubmitAsync().
  absl::StatusOr<Ticket> InvokeAsync(Arg arg, AdmitCallback on_admit) {
    return pool_->SubmitAsync(Bind(std::move(arg)), std::move(on_admit));
  }

  bool Cancel(Ticket ticket) { return pool_->Cancel(ticket); }
  int Cap() const { return pool_->Cap(); }
  int Running() const { return pool_->Running(); }
  int Free() const { return pool_->Free(); }
  int Waiting() const { return pool_->Waiting(); }
  bool IsClosed() const { return pool_->IsClosed(); }
  PoolStats Stats() const { return pool_->Stats(); }
  absl::Status Tune(int size) { return pool_->Tune(size); }
  void Release() { pool_->Release(); }
  absl::Status ReleaseTimeout(absl::Duration timeout) {
    return pool_->ReleaseTimeout(timeout);
  }
  void Reboot() { pool_->Reboot(); }

 private:
  PoolWithFunc(Func func, std::unique_ptr<Pool> pool)
      : func_(std::move(func)), pool_(std::move(pool)) {}

  Task Bind(Arg arg) {
    return [this, arg = std::move(arg)]() mutable { func_(std::move(arg)); };
  }

  // Constant after construction. `pool_` is declared last so that it is
  // destroyed first, joining the workers while `func_` still exists.
  const Func func_;
  const std::unique_ptr<Pool> pool_;
};

}  // namespace jobpool

#endif  // JOBPOOL_CORE_POOL_WITH_FUNC_H_
