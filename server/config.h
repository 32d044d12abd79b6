#ifndef JOBPOOL_SERVER_CONFIG_H_
#define JOBPOOL_SERVER_CONFIG_H_

// The configuration file: a jobpool.v1.ServerConfig in protobuf text format
// (pools, command kinds, limits), read with the proto library itself.
//
// Example:
//   auto config = LoadConfig("/etc/jobpool/jobpool.textproto");
//   if (!config.ok()) return config.status();

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "jobpool/v1/config.pb.h"
#include "server/command_kind.h"

namespace jobpool {

// Parses text; INVALID_ARGUMENT (with the parser's line and column) when it
// is not a ServerConfig.
absl::StatusOr<v1::ServerConfig> ParseConfig(absl::string_view text);

// Reads and parses `path`; an empty path is the empty configuration.
absl::StatusOr<v1::ServerConfig> LoadConfig(const std::string& path);

// A `commands { ... }` entry as a CommandConfig (checked by MakeCommandKind).
CommandConfig CommandFromProto(const v1::CommandKindConfig& config);

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_CONFIG_H_
