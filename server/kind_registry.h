#ifndef JOBPOOL_SERVER_KIND_REGISTRY_H_
#define JOBPOOL_SERVER_KIND_REGISTRY_H_

// KindRegistry
//
// The job kinds a server runs, by name. Clients name a kind; they can never
// name a program. WithBuiltins() holds noop, sleep, echo, sha256 and fail;
// a program that links the server library can Register() its own handlers.
//
// Example:
//   KindRegistry kinds = KindRegistry::WithBuiltins();
//   kinds.Register({"upper", "upper-cases the payload", nullptr,
//                   [](const JobInput& in, JobContext& context)
//                       -> absl::StatusOr<std::string> {
//                     context.ReportProgress(0.5, "halfway");
//                     return absl::AsciiStrToUpper(in.payload);
//                   }});
//
// Thread safety: Register() before the server starts; Find() and List()
// may then be called concurrently.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/internal/mutex.h"
#include "server/cancel_token.h"

namespace jobpool {

// What a handler gets to work on.
struct JobInput {
  absl::string_view payload;
  const std::map<std::string, std::string>& params;
};

// What a running job has told its readers so far: progress, and for a job
// that ran a program, how the program ended. Shown by GetJob, WaitJob and
// WaitBatch.
struct JobReport {
  internal::Mutex mu;
  double fraction ABSL_GUARDED_BY(mu) = 0;
  std::string message ABSL_GUARDED_BY(mu);
  bool has_process ABSL_GUARDED_BY(mu) = false;
  int exit_code ABSL_GUARDED_BY(mu) = 0;
  int term_signal ABSL_GUARDED_BY(mu) = 0;
  std::string stderr_tail ABSL_GUARDED_BY(mu);
};

// What a handler gets besides its input: the job's cancellation token, and
// a way to report progress.
//
// Thread safety: every method may be called concurrently.
class JobContext {
 public:
  JobContext(const CancelToken& token, JobReport& report)
      : token_(token), report_(report) {}

  // Cancelled by CancelJob, a fail-fast batch, the job's timeout or the
  // server's drain deadline. A handler should return soon after.
  const CancelToken& Token() const { return token_; }
  bool IsCancelled() const { return token_.IsCancelled(); }

  // How far the job has got: `fraction` in [0, 1] (clamped) and a short
  // message (at most 200 bytes are kept).
  void ReportProgress(double fraction, absl::string_view message);

  // How a program the job ran ended: its exit code, or the signal that
  // killed it, and the end of its stderr.
  void SetProcessResult(int exit_code, int term_signal,
                        std::string stderr_tail);

 private:
  const CancelToken& token_;
  JobReport& report_;
};

// Runs one job: the output, or an error that makes the job FAILED. Should
// return soon after the context's token is cancelled; one that does not
// keeps its worker busy, and Stats counts it as overdue.
using JobHandler = std::function<absl::StatusOr<std::string>(
    const JobInput& input, JobContext& context)>;

// Checks a job's parameters at submission, so a bad request is an
// INVALID_ARGUMENT rather than a FAILED job. May be empty.
using JobValidator = std::function<absl::Status(const JobInput& input)>;

struct Kind {
  std::string name;
  std::string description;
  JobValidator validate;
  JobHandler run;
  // Longest a job of this kind may run; a job's own timeout may be shorter.
  absl::Duration timeout = absl::InfiniteDuration();
};

class KindRegistry {
 public:
  // A registry holding the built-in kinds.
  static KindRegistry WithBuiltins();

  // Adds a kind. kInvalidArgument for an empty name or handler,
  // kAlreadyExists for a name already taken.
  absl::Status Register(Kind kind);

  // The kind called `name`, or nullptr.
  const Kind* Find(absl::string_view name) const;

  // Every kind, sorted by name.
  std::vector<const Kind*> List() const;

 private:
  absl::flat_hash_map<std::string, Kind> kinds_;
};

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_KIND_REGISTRY_H_
