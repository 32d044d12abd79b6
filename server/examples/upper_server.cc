// upper_server: jobpoold plus one job kind of its own, "upper", which
// upper-cases the payload a chunk at a time, reporting progress after each
// chunk and stopping when its job is cancelled. It takes every jobpoold
// flag; try:
//
//   build/release/server/examples/upper_server --listen=127.0.0.1:50052 &
//   jobctl --server=127.0.0.1:50052 submit --kind=upper --payload=hello
//       --param=chunk_delay=100ms --wait

#include <algorithm>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/server_builder.h"

namespace {

constexpr size_t kChunkBytes = 4;

// params.chunk_delay: a pause per chunk, so that progress can be watched.
absl::StatusOr<absl::Duration> ChunkDelay(const jobpool::JobInput& input) {
  auto it = input.params.find("chunk_delay");
  absl::Duration delay = absl::ZeroDuration();
  if (it != input.params.end() &&
      (!absl::ParseDuration(it->second, &delay) ||
       delay < absl::ZeroDuration() || delay > absl::Seconds(10))) {
    return absl::InvalidArgumentError(
        "upper: params.chunk_delay must be a duration up to 10s");
  }
  return delay;
}

absl::StatusOr<std::string> Upper(const jobpool::JobInput& input,
                                  jobpool::JobContext& context) {
  absl::StatusOr<absl::Duration> delay = ChunkDelay(input);
  if (!delay.ok()) return delay.status();
  std::string out;
  out.reserve(input.payload.size());
  const size_t chunks = (input.payload.size() + kChunkBytes - 1) / kChunkBytes;
  for (size_t i = 0; i < chunks; ++i) {
    // WaitFor returns early, false, once the job is cancelled.
    if (!context.Token().WaitFor(*delay)) {
      return absl::CancelledError(context.Token().Reason());
    }
    out += absl::AsciiStrToUpper(
        input.payload.substr(i * kChunkBytes, kChunkBytes));
    context.ReportProgress(
        static_cast<double>(i + 1) / static_cast<double>(chunks),
        absl::StrCat("chunk ", i + 1, " of ", chunks));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  jobpool::ServerBuilder builder;
  builder.RegisterKind(
      "upper", Upper,
      "upper-cases the payload, 4 bytes at a time (params.chunk_delay "
      "between chunks); reports progress",
      [](const jobpool::JobInput& input) {
        return ChunkDelay(input).status();
      });
  return builder.Run(argc, argv);
}
