#ifndef JOBPOOL_CLIENT_JOBCTL_COMMANDS_H_
#define JOBPOOL_CLIENT_JOBCTL_COMMANDS_H_

// jobctl's subcommands, each a function of its parsed flags that prints its
// result and returns the process's exit code (client/jobctl/output.h).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "google/protobuf/message.h"

namespace jobpool::jobctl {

// Flags every subcommand takes.
struct GlobalFlags {
  std::string servers = "127.0.0.1:50051";
  bool json = false;
  std::string timeout;  // Empty: 30s per call, waits unbounded.
  std::string token;
  std::string token_file;
  bool tls = false;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
  int attempts = 4;
};

struct JobFlags {
  std::string kind;
  std::vector<std::string> params;  // "k=v"
  std::string payload;
  std::string payload_file;  // "-" = stdin
  std::string job_timeout;
  std::string idempotency_key;
};

struct SubmitFlags {
  JobFlags job;
  std::string pool;
  bool wait = false;
  bool raw = false;
};

struct BatchFlags {
  JobFlags job;
  std::string file;  // "-" = stdin
  int64_t count = 1;
  std::string pool;
  bool fail_fast = false;
  bool no_progress = false;
  // Parts, one RunBatch each (0: one per server given).
  int split = 0;
};

struct BenchFlags {
  int64_t jobs = 10'000;
  int workers = 1'000;
  std::string duration = "10ms";
  std::string kind = "sleep";
  std::string pool;
  bool keep_size = false;
};

// The state every command shares: the flags, the connection, the output.
class Cli {
 public:
  // Connects per `flags`; a bad flag is a usage error (exit 2).
  absl::Status Init(const GlobalFlags& flags);

  Client& Connection() { return *client_; }
  bool Json() const { return json_; }
  // Deadline of a wait for jobs: --timeout if given, else unbounded.
  absl::Duration WaitLimit() const { return wait_; }
  // Every endpoint as its own target when there are several, else the one.
  std::vector<Target> Targets();

  // Prints `message` as one JSON line (with --json) or `human`.
  void Print(const google::protobuf::Message& message,
             const std::string& human) const;
  // Reports a failure (stderr; stdout too with --json) and returns its
  // exit code.
  int Fail(const absl::Status& status, const std::string& endpoint = "") const;

 private:
  std::unique_ptr<Client> client_;
  bool json_ = false;
  absl::Duration wait_ = absl::InfiniteDuration();
};

int Submit(Cli& cli, const SubmitFlags& flags);
int Batch(Cli& cli, const BatchFlags& flags);
int Get(Cli& cli, const std::string& id);
int Wait(Cli& cli, const std::string& id, bool raw);
int Cancel(Cli& cli, const std::string& id);
int Tune(Cli& cli, const std::string& pool, int size);
int Reboot(Cli& cli, const std::string& pool);
int Release(Cli& cli, const std::string& pool, const std::string& drain);
int Stats(Cli& cli, bool watch, const std::string& interval, int count);
int Health(Cli& cli);
int Kinds(Cli& cli);
int Bench(Cli& cli, const BenchFlags& flags);

// Ctrl-C during `batch` cancels the batch (then a second one kills).
void InstallInterruptHandler();

}  // namespace jobpool::jobctl

#endif  // JOBPOOL_CLIENT_JOBCTL_COMMANDS_H_
