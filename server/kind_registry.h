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
//                   [](const JobInput& in, const CancelToken&)
//                       -> absl::StatusOr<std::string> {
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
#include "server/cancel_token.h"

namespace jobpool {

// What a handler gets to work on.
struct JobInput {
  absl::string_view payload;
  const std::map<std::string, std::string>& params;
};

// Runs one job: the output, or an error that makes the job FAILED. Should
// return soon after `token` is cancelled.
using JobHandler = std::function<absl::StatusOr<std::string>(
    const JobInput& input, const CancelToken& token)>;

// Checks a job's parameters at submission, so a bad request is an
// INVALID_ARGUMENT rather than a FAILED job. May be empty.
using JobValidator = std::function<absl::Status(const JobInput& input)>;

struct Kind {
  std::string name;
  std::string description;
  JobValidator validate;
  JobHandler run;
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
