#ifndef JOBPOOL_CORE_MULTI_POOL_H_
#define JOBPOOL_CORE_MULTI_POOL_H_

// MultiPool
//
// N independent Pools behind one Submit(), to spread lock contention when
// very many threads submit at once. A C++ port of ants' MultiPool.
//
//   kRoundRobin  pools are tried in turn; a pool that rejects with overload
//                hands the task to the least-loaded pool (as ants does).
//   kLeastTasks  the pool with the fewest tasks (busy workers plus waiting
//                submissions) gets the task.
//
// Example:
//   auto mp = jobpool::MultiPool::Create(4, 16,
//                                        jobpool::LoadBalancing::kLeastTasks);
//   if (!mp.ok()) return mp.status();
//   absl::Status s = (*mp)->Submit([] { DoWork(); });
//
// Thread safety: every method may be called concurrently.

#include <atomic>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/pool.h"
#include "core/pool_options.h"

namespace jobpool {

enum class LoadBalancing { kRoundRobin, kLeastTasks };

class MultiPool {
 public:
  // Makes `count` > 0 pools of `size_per_pool` workers each (<= 0:
  // unbounded), all with `options`. Fails with kInvalidArgument on a bad
  // count or strategy, or what Pool::Create() rejects.
  static absl::StatusOr<std::unique_ptr<MultiPool>> Create(
      int count, int size_per_pool, LoadBalancing strategy,
      const PoolOptions& options = {});

  // Picks a pool by the strategy and submits there; see Pool::Submit().
  absl::Status Submit(Task task);

  int Cap() const;      // sum over the pools; -1 when unbounded
  int Running() const;  // sum over the pools
  int Free() const;     // sum over the pools; -1 when unbounded
  int Waiting() const;  // sum over the pools
  // The value for pool `index`; kInvalidArgument when out of range.
  absl::StatusOr<int> RunningByIndex(int index) const;
  absl::StatusOr<int> FreeByIndex(int index) const;
  absl::StatusOr<int> WaitingByIndex(int index) const;
  int Size() const { return static_cast<int>(pools_.size()); }
  bool IsClosed() const;

  // Tunes every pool to `size_per_pool`.
  absl::Status Tune(int size_per_pool);
  // Releases every pool, all within one `timeout`; the first error wins.
  absl::Status ReleaseTimeout(absl::Duration timeout);
  void Release();
  void Reboot();

 private:
  MultiPool(std::vector<std::unique_ptr<Pool>> pools, LoadBalancing strategy);

  size_t Next(LoadBalancing strategy);
  absl::StatusOr<const Pool*> At(int index) const;

  // Constant after construction.
  const std::vector<std::unique_ptr<Pool>> pools_;
  const LoadBalancing strategy_;

  std::atomic<size_t> next_{0};
};

}  // namespace jobpool

#endif  // JOBPOOL_CORE_MULTI_POOL_H_
