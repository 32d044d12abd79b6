#include "client/jobctl/job_lines.h"

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "jobpool/cli/v1/jobctl.pb.h"

namespace jobpool::jobctl {

absl::StatusOr<v1::JobSpec> ParseJobLine(absl::string_view line) {
  cli::v1::BatchLine parsed;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(line.data(), line.size()), &parsed,
      options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not a job (JSON object with kind, text or payload, params, timeout, "
        "idempotency_key): ",
        std::string(status.message())));
  }
  if (parsed.kind().empty()) {
    return absl::InvalidArgumentError("a job needs a \"kind\"");
  }
  if (!parsed.payload().empty() && !parsed.text().empty()) {
    return absl::InvalidArgumentError(
        "give \"payload\" (base64) or \"text\", not both");
  }
  v1::JobSpec spec;
  spec.set_kind(parsed.kind());
  spec.set_payload(parsed.text().empty() ? std::move(*parsed.mutable_payload())
                                         : std::move(*parsed.mutable_text()));
  spec.mutable_params()->swap(*parsed.mutable_params());
  if (parsed.has_timeout()) *spec.mutable_timeout() = parsed.timeout();
  spec.set_idempotency_key(parsed.idempotency_key());
  return spec;
}

absl::StatusOr<std::vector<v1::JobSpec>> ReadJobLines(
    std::istream& in, absl::string_view source) {
  std::vector<v1::JobSpec> out;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || absl::StartsWith(text, "#")) continue;
    auto spec = ParseJobLine(text);
    if (!spec.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", number, ": ", spec.status().message()));
    }
    out.push_back(*std::move(spec));
  }
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", source));
  }
  return out;
}

}  // namespace jobpool::jobctl
