#ifndef JOBPOOL_SERVER_COMMAND_KIND_H_
#define JOBPOOL_SERVER_COMMAND_KIND_H_

// Command kinds: a job kind the operator binds to a fixed program, e.g.
// "wc" -> /usr/bin/wc -l. Clients name the kind, never the program.
//
// A job's payload is the program's stdin and its stdout the job's output
// (at most `max_output_bytes`: beyond that the program is killed and the job
// FAILS). A non-zero exit FAILS the job; the exit code (or the signal) and
// the tail of stderr are kept with the job. Parameters reach the program
// only when the kind allows them by name: as "--NAME=VALUE" arguments
// (`arg_params`) or as JOBPOOL_PARAM_NAME=VALUE in its environment
// (`env_params`); their values must be plain words (letters, digits and
// ._:/@%+,= not starting with '-'). No shell is involved.
//
// The program runs in its own process group, spawned with posix_spawn, with
// only stdin/stdout/stderr open and only the environment the operator
// declared. Cancellation, the job's deadline and the kind's `timeout` end
// the whole group (SIGTERM, then SIGKILL after `kill_grace`; at once when
// the grace is zero); the child is always reaped.
//
// Using command kinds makes the process ignore SIGPIPE, so that a program
// that closes its stdin early fails its job instead of killing the server.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/kind_registry.h"

namespace jobpool {

struct CommandConfig {
  std::string name;
  std::string description;
  // The program (an absolute path to an executable) and its fixed
  // arguments.
  std::vector<std::string> argv;
  // Where it runs; empty: the server's working directory.
  std::string working_dir;
  // Its whole environment.
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> arg_params;
  std::vector<std::string> env_params;
  // Longest a job of this kind may run (the job's own timeout may be
  // shorter).
  absl::Duration timeout = absl::InfiniteDuration();
  int64_t max_output_bytes = 4 << 20;
  absl::Duration kill_grace = absl::ZeroDuration();
};

// Checks `config` (the program exists and is executable, the working
// directory exists, names are well formed) and returns the kind.
// INVALID_ARGUMENT naming the problem otherwise.
absl::StatusOr<Kind> MakeCommandKind(CommandConfig config);

// "NAME=PROGRAM [ARG...]" (split on spaces; no quoting) as a config with
// the defaults.
absl::StatusOr<CommandConfig> ParseCommandFlag(absl::string_view text);

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_COMMAND_KIND_H_
