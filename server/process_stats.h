#ifndef JOBPOOL_SERVER_PROCESS_STATS_H_
#define JOBPOOL_SERVER_PROCESS_STATS_H_

// The process's resident set size (now and peak) and thread count, from
// /proc/self/status.

#include <cstdint>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace jobpool {

struct ProcessStats {
  int64_t rss_bytes = 0;
  int64_t peak_rss_bytes = 0;  // The high-water mark since start.
  int32_t threads = 0;
};

// "  1234 kB" -> 1263616; 0 when unreadable.
inline int64_t ParseKib(absl::string_view text) {
  text = absl::StripAsciiWhitespace(
      absl::StripSuffix(absl::StripAsciiWhitespace(text), "kB"));
  int64_t kib = 0;
  return absl::SimpleAtoi(text, &kib) ? kib * 1024 : 0;
}

inline ProcessStats ReadProcessStats() {
  ProcessStats out;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "VmRSS:")) {
      out.rss_bytes = ParseKib(rest);
    } else if (absl::ConsumePrefix(&rest, "VmHWM:")) {
      out.peak_rss_bytes = ParseKib(rest);
    } else if (absl::ConsumePrefix(&rest, "Threads:")) {
      int32_t n = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &n)) {
        out.threads = n;
      }
    }
  }
  return out;
}

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_PROCESS_STATS_H_
