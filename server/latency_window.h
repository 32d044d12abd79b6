#ifndef JOBPOOL_SERVER_LATENCY_WINDOW_H_
#define JOBPOOL_SERVER_LATENCY_WINDOW_H_

// LatencyWindow
//
// The last kCapacity durations recorded, for percentiles over recent jobs.
// Not thread-safe: guard it with the owner's lock.

#include <algorithm>
#include <cstddef>
#include <vector>

#include "absl/time/time.h"
#include "jobpool/v1/jobpool.pb.h"
#include "proto/proto_time.h"

namespace jobpool {

class LatencyWindow {
 public:
  static constexpr size_t kCapacity = 4096;

  void Record(absl::Duration d) {
    if (samples_.size() < kCapacity) {
      samples_.push_back(d);
    } else {
      samples_[next_] = d;
    }
    next_ = (next_ + 1) % kCapacity;
  }

  v1::Percentiles Percentiles() const {
    v1::Percentiles out;
    if (samples_.empty()) return out;
    std::vector<absl::Duration> sorted = samples_;
    std::sort(sorted.begin(), sorted.end());
    const auto at = [&sorted](double q) {
      return sorted[static_cast<size_t>(
          q * static_cast<double>(sorted.size() - 1))];
    };
    ToProto(at(0.50), out.mutable_p50());
    ToProto(at(0.90), out.mutable_p90());
    ToProto(at(0.99), out.mutable_p99());
    ToProto(sorted.back(), out.mutable_max());
    return out;
  }

 private:
  std::vector<absl::Duration> samples_;
  size_t next_ = 0;
};

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_LATENCY_WINDOW_H_
