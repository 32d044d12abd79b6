#include "server/config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "proto/proto_time.h"

namespace jobpool {
namespace {

// Keeps the parser's first complaint, for the error message.
class FirstError final : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (message_.empty()) {
      message_ =
          absl::StrCat("line ", line + 1, ":", column + 1, ": ", message);
    }
  }
  const std::string& First() const { return message_; }

 private:
  std::string message_;
};

}  // namespace

absl::StatusOr<v1::ServerConfig> ParseConfig(absl::string_view text) {
  v1::ServerConfig config;
  google::protobuf::TextFormat::Parser parser;
  FirstError errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &config)) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid jobpool.v1.ServerConfig: ", errors.First()));
  }
  return config;
}

absl::StatusOr<v1::ServerConfig> LoadConfig(const std::string& path) {
  if (path.empty()) return v1::ServerConfig();
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  auto config = ParseConfig(text.str());
  if (!config.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

CommandConfig CommandFromProto(const v1::CommandKindConfig& c) {
  CommandConfig out;
  out.name = c.name();
  out.description = c.description();
  out.argv.assign(c.argv().begin(), c.argv().end());
  out.working_dir = c.working_dir();
  for (const auto& [name, value] : c.env()) out.env.emplace_back(name, value);
  std::sort(out.env.begin(), out.env.end());
  out.arg_params.assign(c.arg_params().begin(), c.arg_params().end());
  out.env_params.assign(c.env_params().begin(), c.env_params().end());
  if (c.has_timeout()) out.timeout = FromProto(c.timeout());
  out.max_output_bytes = c.max_output_bytes();
  if (c.has_kill_grace()) out.kill_grace = FromProto(c.kill_grace());
  return out;
}

}  // namespace jobpool
