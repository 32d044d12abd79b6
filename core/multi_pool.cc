#include "core/multi_pool.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace jobpool {

absl::StatusOr<std::unique_ptr<MultiPool>> MultiPool::Create(
    int count, int size_per_pool, LoadBalancing strategy,
    const PoolOptions& options) {
  if (count <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("MultiPool: count must be positive, got ", count));
  }
  if (strategy != LoadBalancing::kRoundRobin &&
      strategy != LoadBalancing::kLeastTasks) {
    return absl::InvalidArgumentError("MultiPool: unknown load balancing");
  }
  std::vector<std::unique_ptr<Pool>> pools;
  pools.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    auto pool = Pool::Create(size_per_pool, options);
    if (!pool.ok()) return pool.status();
    pools.push_back(*std::move(pool));
  }
  return std::unique_ptr<MultiPool>(new MultiPool(std::move(pools), strategy));
}

MultiPool::MultiPool(std::vector<std::unique_ptr<Pool>> pools,
                     LoadBalancing strategy)
    : pools_(std::move(pools)), strategy_(strategy) {}

size_t MultiPool::Next(LoadBalancing strategy) {
  if (strategy == LoadBalancing::kRoundRobin) {
    return next_.fetch_add(1, std::memory_order_relaxed) % pools_.size();
  }
  size_t best = 0;
  int best_load = 0;
  for (size_t i = 0; i < pools_.size(); ++i) {
    const PoolStats stats = pools_[i]->Stats();
    const int load = stats.busy + stats.waiting;
    if (i == 0 || load < best_load) {
      best = i;
      best_load = load;
    }
  }
  return best;
}

absl::Status MultiPool::Submit(Task task) {
  absl::Status status = pools_[Next(strategy_)]->SubmitOrKeep(task);
  if (IsPoolOverload(status) && strategy_ == LoadBalancing::kRoundRobin) {
    status = pools_[Next(LoadBalancing::kLeastTasks)]->SubmitOrKeep(task);
  }
  return status;
}

int MultiPool::Cap() const {
  int sum = 0;
  for (const auto& pool : pools_) {
    const int cap = pool->Cap();
    if (cap < 0) return -1;
    sum += cap;
  }
  return sum;
}

int MultiPool::Running() const {
  int sum = 0;
  for (const auto& pool : pools_) sum += pool->Running();
  return sum;
}

int MultiPool::Free() const {
  int sum = 0;
  for (const auto& pool : pools_) {
    const int free = pool->Free();
    if (free < 0) return -1;
    sum += free;
  }
  return sum;
}

int MultiPool::Waiting() const {
  int sum = 0;
  for (const auto& pool : pools_) sum += pool->Waiting();
  return sum;
}

absl::StatusOr<const Pool*> MultiPool::At(int index) const {
  if (index < 0 || index >= Size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("MultiPool: index ", index, " out of range"));
  }
  return pools_[static_cast<size_t>(index)].get();
}

absl::StatusOr<int> MultiPool::RunningByIndex(int index) const {
  auto pool = At(index);
  if (!pool.ok()) return pool.status();
  return (*pool)->Running();
}

absl::StatusOr<int> MultiPool::FreeByIndex(int index) const {
  auto pool = At(index);
  if (!pool.ok()) return pool.status();
  return (*pool)->Free();
}

absl::StatusOr<int> MultiPool::WaitingByIndex(int index) const {
  auto pool = At(index);
  if (!pool.ok()) return pool.status();
  return (*pool)->Waiting();
}

bool MultiPool::IsClosed() const {
  for (const auto& pool : pools_) {
    if (!pool->IsClosed()) return false;
  }
  return true;
}

absl::Status MultiPool::Tune(int size_per_pool) {
  for (const auto& pool : pools_) {
    if (absl::Status s = pool->Tune(size_per_pool); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status MultiPool::ReleaseTimeout(absl::Duration timeout) {
  if (IsClosed()) return PoolClosedError();
  const absl::Time deadline = absl::Now() + timeout;
  for (const auto& pool : pools_) pool->Release();
  absl::Status first;
  for (const auto& pool : pools_) {
    absl::Status s = pool->WaitForExit(deadline);
    if (first.ok()) first = s;
  }
  return first;
}

void MultiPool::Release() {
  for (const auto& pool : pools_) pool->Release();
}

void MultiPool::Reboot() {
  for (const auto& pool : pools_) pool->Reboot();
}

}  // namespace jobpool
