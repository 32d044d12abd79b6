#include "client/jobctl/output.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "proto/proto_time.h"

namespace jobpool::jobctl {
namespace {

bool Printable(const std::string& bytes) {
  for (const char c : bytes) {
    if (!absl::ascii_isprint(static_cast<unsigned char>(c)) &&
        !absl::ascii_isspace(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

std::string Percentiles(const v1::Percentiles& p) {
  return absl::StrCat(HumanDuration(FromProto(p.p50())), "/",
                      HumanDuration(FromProto(p.p99())));
}

}  // namespace

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
      return kExitUsage;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnreachable;
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kFailedPrecondition:
      return kExitRejected;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return kExitAuth;
    default:
      return kExitJobFailed;
  }
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

std::string HumanBytes(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  const auto b = static_cast<double>(bytes);
  if (bytes < (1 << 20)) return absl::StrFormat("%.1f KiB", b / 1024);
  if (bytes < (1 << 30)) return absl::StrFormat("%.1f MiB", b / (1 << 20));
  return absl::StrFormat("%.2f GiB", b / (1 << 30));
}

std::string HumanDuration(absl::Duration d) {
  if (d < absl::Milliseconds(1)) {
    return absl::StrFormat("%.0fus", absl::ToDoubleMicroseconds(d));
  }
  if (d < absl::Seconds(1)) {
    return absl::StrFormat("%.1fms", absl::ToDoubleMilliseconds(d));
  }
  if (d < absl::Minutes(1)) {
    return absl::StrFormat("%.2fs", absl::ToDoubleSeconds(d));
  }
  return absl::FormatDuration(absl::Trunc(d, absl::Seconds(1)));
}

std::string StateName(v1::JobState state) {
  const std::string& name = v1::JobState_Name(state);
  return std::string(absl::StripPrefix(name, "JOB_STATE_"));
}

std::string FormatJob(const v1::Job& job) {
  std::vector<std::string> lines;
  lines.push_back(absl::StrCat("job      ", job.id()));
  lines.push_back(absl::StrCat("state    ", StateName(job.state())));
  lines.push_back(
      absl::StrCat("kind     ", job.kind(), " (pool ", job.pool(), ")"));
  if (!job.batch_id().empty()) {
    lines.push_back(absl::StrCat("batch    ", job.batch_id()));
  }
  if (job.has_started_at()) {
    const google::protobuf::Duration queued =
        job.started_at() - job.queued_at();
    lines.push_back(
        absl::StrCat("queued   ", HumanDuration(FromProto(queued))));
  }
  if (job.has_finished_at() && job.has_started_at()) {
    const google::protobuf::Duration ran = job.finished_at() - job.started_at();
    lines.push_back(absl::StrCat("ran      ", HumanDuration(FromProto(ran))));
  }
  if (job.progress() > 0 || !job.progress_message().empty()) {
    lines.push_back(absl::StrFormat("progress %.0f%%%s%s", job.progress() * 100,
                                    job.progress_message().empty() ? "" : "  ",
                                    job.progress_message()));
  }
  if (job.has_process()) {
    lines.push_back(job.process().signal() != 0
                        ? absl::StrCat("signal   ", job.process().signal())
                        : absl::StrCat("exit     ", job.process().exit_code()));
    if (!job.process().stderr_tail().empty()) {
      lines.push_back(absl::StrCat(
          "stderr   ", absl::StrReplaceAll(absl::StripTrailingAsciiWhitespace(
                                               job.process().stderr_tail()),
                                           {{"\n", "\n         "}})));
    }
  }
  if (!job.error().empty()) {
    lines.push_back(absl::StrCat("error    ", job.error()));
  }
  if (!job.output().empty()) {
    lines.push_back(
        Printable(job.output())
            ? absl::StrCat("output   ",
                           absl::StripTrailingAsciiWhitespace(job.output()))
            : absl::StrCat("output   <", job.output().size(),
                           " bytes of binary; --raw prints them>"));
  }
  return absl::StrJoin(lines, "\n");
}

std::string FormatSummary(const v1::BatchSummary& s) {
  std::vector<std::string> parts;
  const auto add = [&parts](int64_t n, absl::string_view what) {
    if (n != 0) parts.push_back(absl::StrCat(n, " ", what));
  };
  add(s.succeeded(), "succeeded");
  add(s.failed(), "failed");
  add(s.cancelled(), "cancelled");
  add(s.timed_out(), "timed out");
  add(s.rejected(), "rejected");
  add(s.running(), "running");
  add(s.pending(), "pending");
  return absl::StrCat(s.total(), " jobs", parts.empty() ? "" : ": ",
                      absl::StrJoin(parts, ", "));
}

std::string FormatPool(const v1::PoolStats& p) {
  const auto cap = [](int32_t n) {
    return n < 0 ? std::string("unbounded") : absl::StrCat(n);
  };
  const v1::JobTotals& t = p.totals();
  return absl::StrFormat(
      "%-12s %-8s %9s %7d %5d %6s %7d %7d %9d %9d %6d %9d %8d %8d  %s  %s",
      p.name(), p.state() == v1::POOL_STATE_RELEASED ? "released" : "open",
      cap(p.capacity()), p.running(), p.busy(), cap(p.free()), p.waiting(),
      p.overdue(), t.submitted(), t.succeeded(), t.failed(), t.cancelled(),
      t.timed_out(), t.rejected(), Percentiles(p.queue_wait()),
      Percentiles(p.run_time()));
}

std::string FormatStats(const v1::StatsResponse& stats) {
  std::vector<std::string> lines;
  lines.push_back(
      absl::StrCat("replica ", stats.replica(), "  ",
                   stats.draining() ? "DRAINING" : "SERVING", "  up ",
                   HumanDuration(FromProto(stats.uptime())), "  rss ",
                   HumanBytes(stats.rss_bytes()), " (peak ",
                   HumanBytes(stats.peak_rss_bytes()), ")  threads ",
                   stats.threads(), "  retained ", stats.retained_jobs(),
                   " jobs, ", stats.retained_batches(), " batches"));
  lines.push_back(absl::StrFormat(
      "%-12s %-8s %9s %7s %5s %6s %7s %7s %9s %9s %6s %9s %8s %8s  %s  %s",
      "POOL", "STATE", "CAPACITY", "RUNNING", "BUSY", "FREE", "WAITING",
      "OVERDUE", "SUBMITTED", "SUCCEEDED", "FAILED", "CANCELLED", "TIMEDOUT",
      "REJECTED", "QUEUE p50/p99", "RUN p50/p99"));
  for (const v1::PoolStats& pool : stats.pools()) {
    lines.push_back(FormatPool(pool));
  }
  return absl::StrJoin(lines, "\n");
}

}  // namespace jobpool::jobctl
