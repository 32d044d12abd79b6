// libFuzzer: the configuration file loader, and the command kinds it
// declares (the checks jobpoold runs before it serves).

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "server/command_kind.h"
#include "server/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = jobpool::ParseConfig(text);
  if (config.ok()) {
    for (const auto& command : config->commands()) {
      (void)jobpool::MakeCommandKind(jobpool::CommandFromProto(command));
    }
  }
  // The same bytes as a --command flag.
  (void)jobpool::ParseCommandFlag(std::string(text));
  return 0;
}
