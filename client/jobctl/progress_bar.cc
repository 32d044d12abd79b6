#include "client/jobctl/progress_bar.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/jobctl/output.h"

namespace jobpool::jobctl {
namespace {

constexpr size_t kWidth = 30;

}  // namespace

void ProgressBar::Draw(const v1::BatchSummary& s) {
  const int64_t total = s.total();
  const int64_t done = std::max<int64_t>(0, total - s.pending() - s.running());
  const int64_t failed =
      s.failed() + s.cancelled() + s.timed_out() + s.rejected();
  const double fraction =
      total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  const auto filled = std::min(
      kWidth, static_cast<size_t>(fraction * static_cast<double>(kWidth)));
  const absl::Duration elapsed = absl::Now() - start_;
  const double seconds = absl::ToDoubleSeconds(elapsed);
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  std::string eta = "--";
  if (rate > 0 && done < total) {
    eta =
        HumanDuration(absl::Seconds(static_cast<double>(total - done) / rate));
  } else if (done == total) {
    eta = "0s";
  }
  const std::string line = absl::StrFormat(
      "\r[%s%s] %*d/%d %3.0f%%  %.0f jobs/s  ETA %s  failed %d\x1b[K",
      std::string(filled, '#'), std::string(kWidth - filled, '.'),
      static_cast<int>(absl::StrCat(total).size()), done, total, fraction * 100,
      rate, eta, failed);
  std::fputs(line.c_str(), out_);
  std::fflush(out_);
  drawn_ = true;
}

void ProgressBar::Finish() {
  if (!drawn_) return;
  std::fputs("\n", out_);
  std::fflush(out_);
}

}  // namespace jobpool::jobctl
