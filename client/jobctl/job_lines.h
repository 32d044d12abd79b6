#ifndef JOBPOOL_CLIENT_JOBCTL_JOB_LINES_H_
#define JOBPOOL_CLIENT_JOBCTL_JOB_LINES_H_

// The JSON-lines job files of `jobctl batch --file`: one
// jobpool.cli.v1.BatchLine object per line (see
// proto/jobpool/cli/v1/jobctl.proto). Blank lines and lines starting with
// '#' are skipped.

#include <istream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "jobpool/v1/jobpool.pb.h"

namespace jobpool::jobctl {

// One line as a job; INVALID_ARGUMENT naming what is wrong.
absl::StatusOr<v1::JobSpec> ParseJobLine(absl::string_view line);

// Every job of `in`; errors name `source` and the line number.
absl::StatusOr<std::vector<v1::JobSpec>> ReadJobLines(std::istream& in,
                                                      absl::string_view source);

}  // namespace jobpool::jobctl

#endif  // JOBPOOL_CLIENT_JOBCTL_JOB_LINES_H_
