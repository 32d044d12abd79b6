// libFuzzer: jobctl's JSON-lines job file reader.

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "client/jobctl/job_lines.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::istringstream in(text);
  (void)jobpool::jobctl::ReadJobLines(in, "fuzz");
  (void)jobpool::jobctl::ParseJobLine(text);
  return 0;
}
