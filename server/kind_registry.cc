#include "server/kind_registry.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace jobpool {
namespace {

constexpr int64_t kMaxSha256Rounds = 10'000'000;

std::string Param(const JobInput& input, const std::string& name) {
  auto it = input.params.find(name);
  return it == input.params.end() ? std::string() : it->second;
}

absl::StatusOr<absl::Duration> SleepDuration(const JobInput& input) {
  const std::string text = Param(input, "duration");
  absl::Duration d;
  if (text.empty() || !absl::ParseDuration(text, &d) ||
      d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "sleep: params.duration must be a duration such as \"10ms\"");
  }
  return d;
}

absl::StatusOr<int64_t> Sha256Rounds(const JobInput& input) {
  const std::string text = Param(input, "rounds");
  int64_t rounds = 1;
  if (!text.empty() && (!absl::SimpleAtoi(text, &rounds) || rounds < 1 ||
                        rounds > kMaxSha256Rounds)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sha256: params.rounds must be an integer in [1, ",
                     kMaxSha256Rounds, "]"));
  }
  return rounds;
}

Kind Noop() {
  return {"noop", "does nothing", nullptr,
          [](const JobInput&, JobContext&) -> absl::StatusOr<std::string> {
            return std::string();
          }};
}

Kind Sleep() {
  return {"sleep", "sleeps for params.duration (e.g. \"10ms\"); cancellable",
          [](const JobInput& input) { return SleepDuration(input).status(); },
          [](const JobInput& input,
             JobContext& context) -> absl::StatusOr<std::string> {
            absl::StatusOr<absl::Duration> d = SleepDuration(input);
            if (!d.ok()) return d.status();
            context.Token().WaitFor(*d);
            return std::string();
          }};
}

Kind Echo() {
  return {
      "echo", "returns the payload", nullptr,
      [](const JobInput& input, JobContext&) -> absl::StatusOr<std::string> {
        return std::string(input.payload);
      }};
}

Kind Sha256() {
  return {"sha256",
          "hashes the payload params.rounds times (default 1); returns the hex "
          "digest",
          [](const JobInput& input) { return Sha256Rounds(input).status(); },
          [](const JobInput& input,
             JobContext& context) -> absl::StatusOr<std::string> {
            absl::StatusOr<int64_t> rounds = Sha256Rounds(input);
            if (!rounds.ok()) return rounds.status();
            unsigned char digest[SHA256_DIGEST_LENGTH];
            SHA256(reinterpret_cast<const unsigned char*>(input.payload.data()),
                   input.payload.size(), digest);
            for (int64_t i = 1; i < *rounds; ++i) {
              if (i % 4096 == 0 && context.IsCancelled()) break;
              SHA256(digest, sizeof digest, digest);
            }
            return absl::BytesToHexString(absl::string_view(
                reinterpret_cast<const char*>(digest), sizeof digest));
          }};
}

Kind Fail() {
  return {
      "fail",
      "fails with params.message; how=throw throws it instead, as a "
      "faulty handler would (for tests)",
      nullptr,
      [](const JobInput& input, JobContext&) -> absl::StatusOr<std::string> {
        std::string message = Param(input, "message");
        if (message.empty()) message = "failed as asked";
        if (Param(input, "how") == "throw") throw std::runtime_error(message);
        return absl::AbortedError(message);
      }};
}

constexpr size_t kMaxProgressMessage = 200;

}  // namespace

void JobContext::ReportProgress(double fraction, absl::string_view message) {
  if (!(fraction >= 0)) fraction = 0;  // NaN too.
  internal::MutexLock lock(&report_.mu);
  report_.fraction = std::min(fraction, 1.0);
  report_.message = std::string(message.substr(0, kMaxProgressMessage));
}

void JobContext::SetProcessResult(int exit_code, int term_signal,
                                  std::string stderr_tail) {
  internal::MutexLock lock(&report_.mu);
  report_.has_process = true;
  report_.exit_code = exit_code;
  report_.term_signal = term_signal;
  report_.stderr_tail = std::move(stderr_tail);
}

KindRegistry KindRegistry::WithBuiltins() {
  KindRegistry registry;
  for (Kind& kind :
       std::vector<Kind>{Noop(), Sleep(), Echo(), Sha256(), Fail()}) {
    (void)registry.Register(std::move(kind));
  }
  return registry;
}

absl::Status KindRegistry::Register(Kind kind) {
  if (kind.name.empty() || !kind.run) {
    return absl::InvalidArgumentError("a kind needs a name and a handler");
  }
  if (kinds_.contains(kind.name)) {
    return absl::AlreadyExistsError(
        absl::StrCat("kind \"", kind.name, "\" is already registered"));
  }
  const std::string name = kind.name;
  kinds_[name] = std::move(kind);
  return absl::OkStatus();
}

const Kind* KindRegistry::Find(absl::string_view name) const {
  auto it = kinds_.find(name);
  return it == kinds_.end() ? nullptr : &it->second;
}

std::vector<const Kind*> KindRegistry::List() const {
  std::vector<const Kind*> out;
  out.reserve(kinds_.size());
  for (const auto& [name, kind] : kinds_) out.push_back(&kind);
  std::sort(out.begin(), out.end(),
            [](const Kind* a, const Kind* b) { return a->name < b->name; });
  return out;
}

}  // namespace jobpool
