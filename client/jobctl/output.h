#ifndef JOBPOOL_CLIENT_JOBCTL_OUTPUT_H_
#define JOBPOOL_CLIENT_JOBCTL_OUTPUT_H_

// What jobctl prints: exit codes, JSON lines, and the human forms of jobs,
// batches and statistics.

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "jobpool/v1/jobpool.pb.h"

namespace jobpool::jobctl {

// Exit codes (README "jobctl"): scripts may rely on them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitJobFailed = 1;  // Or an unexpected error.
inline constexpr int kExitUsage = 2;      // Bad flags or a bad request.
inline constexpr int kExitUnreachable = 3;
inline constexpr int kExitRejected = 4;  // Overloaded or released pool.
inline constexpr int kExitNotFound = 5;
inline constexpr int kExitAuth = 6;

int ExitCodeFor(const absl::Status& status);

// One line of JSON (proto3 mapping, proto field names, zeros included).
std::string ToJson(const google::protobuf::Message& message);

// "12.3 MiB".
std::string HumanBytes(int64_t bytes);
// "1.2s", "340ms".
std::string HumanDuration(absl::Duration d);

std::string FormatJob(const v1::Job& job);
// "10000 jobs: 9990 succeeded, 10 failed, ..." (zero counts left out).
std::string FormatSummary(const v1::BatchSummary& summary);
std::string FormatStats(const v1::StatsResponse& stats);
std::string FormatPool(const v1::PoolStats& pool);

// The job state without its prefix: "SUCCEEDED".
std::string StateName(v1::JobState state);

}  // namespace jobpool::jobctl

#endif  // JOBPOOL_CLIENT_JOBCTL_OUTPUT_H_
