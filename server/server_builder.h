#ifndef JOBPOOL_SERVER_SERVER_BUILDER_H_
#define JOBPOOL_SERVER_SERVER_BUILDER_H_

// ServerBuilder
//
// A jobpoold of your own: the same flags, configuration file, pools,
// health, reflection, command kinds and SIGTERM drain as jobpoold, plus the
// job kinds your program registers. jobpoold itself is
// `return jobpool::ServerBuilder().Run(argc, argv);`.
//
// Example (server/examples/upper_server.cc):
//   int main(int argc, char** argv) {
//     jobpool::ServerBuilder builder;
//     builder.RegisterKind("upper", UpperHandler, "upper-cases the payload");
//     return builder.Run(argc, argv);
//   }
//
// A handler gets the payload and parameters, and a JobContext with the
// cancellation token and ReportProgress() (server/kind_registry.h). One
// that throws fails its job; one that ignores its token keeps its worker
// until it returns, and Stats counts the job as overdue.
//
// Thread safety: RegisterKind() then Run(), from one thread.

#include <string>

#include "absl/status/status.h"
#include "server/kind_registry.h"

namespace jobpool {

class ServerBuilder {
 public:
  // Starts with the built-in kinds (noop, sleep, echo, sha256, fail).
  ServerBuilder();

  // Adds a kind. A bad or duplicate name is reported by Run(), which then
  // exits 2.
  ServerBuilder& RegisterKind(std::string name, JobHandler handler,
                              std::string description = "",
                              JobValidator validate = nullptr);
  ServerBuilder& RegisterKind(Kind kind);

  // Parses jobpoold's flags (--help lists them), serves until SIGTERM or
  // SIGINT, drains, and returns the process's exit code: 0 after a drain,
  // 1 when the port cannot be bound, 2 for a bad flag, configuration or
  // kind.
  int Run(int argc, char** argv);

 private:
  KindRegistry kinds_;
  absl::Status error_;
};

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_SERVER_BUILDER_H_
