#ifndef JOBPOOL_CLIENT_CLIENT_H_
#define JOBPOOL_CLIENT_CLIENT_H_

// Client
//
// The C++ client of a jobpool service: one replica or many. Every method
// returns absl::Status / absl::StatusOr with the server's code (see the
// error table in proto/jobpool/v1/jobpool.proto); a job's own failure is
// not an error, it is the returned job's state.
//
// Several servers are balanced with gRPC's `round_robin`; a `dns:///` target
// is balanced over every address the name resolves to. UNAVAILABLE and
// RESOURCE_EXHAUSTED are retried by gRPC's retry policy (set through the
// service config), which waits as long as the server's retry advice asks.
// A call about a job or batch id goes to the replica that owns it (ids
// start with the replica's name), even when the client talks to many.
//
// Example:
//   jobpool::ClientOptions options;
//   options.servers = {"10.0.0.5:50051", "10.0.0.6:50051"};
//   auto client = jobpool::Client::Connect(options);
//   if (!client.ok()) return client.status();
//   v1::JobSpec spec;
//   spec.set_kind("sha256");
//   spec.set_payload("hello");
//   absl::StatusOr<v1::Job> job = (*client)->Run(spec);   // submit and wait
//
// Thread safety: every method may be called concurrently.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/batch_run.h"
#include "grpc/health/v1/health.pb.h"
#include "jobpool/v1/jobpool.pb.h"

namespace jobpool {

struct TlsOptions {
  bool enabled = false;
  // PEM files. `ca_file` empty: the system's roots. `cert_file` and
  // `key_file` (both or neither): the client certificate for mTLS.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // The name the server's certificate must carry, when it differs from the
  // host name dialled (e.g. when dialling an IP address).
  std::string server_name;
};

struct ClientOptions {
  // One gRPC target ("host:port", "dns:///name:port", "ipv4:...") or
  // several "host:port" addresses, balanced round-robin.
  std::vector<std::string> servers = {"127.0.0.1:50051"};
  // Sent as "authorization: Bearer <token>" when not empty.
  std::string token;
  TlsOptions tls;
  // Deadline of each call that does not wait for jobs to end (Submit's
  // wait for a worker included).
  absl::Duration timeout = absl::Seconds(30);
  // Attempts per call (1: no retries; gRPC allows at most 5) of calls that
  // fail with UNAVAILABLE or RESOURCE_EXHAUSTED, with exponential backoff
  // from `initial_backoff` to `max_backoff`, or the server's advice.
  int max_attempts = 4;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  int max_message_bytes = 64 << 20;
};

// Where a call goes: any replica (empty) or the one at this address, one of
// Client::Endpoints().
struct Target {
  std::string endpoint;
};

class Client {
 public:
  // Checks `options` and creates the channels; connects lazily, so an
  // unreachable server shows as UNAVAILABLE on the first call.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Submits a job to `pool` ("" = "default"); returns once a worker has it
  // (state RUNNING, or already ended).
  absl::StatusOr<v1::Job> Submit(const v1::JobSpec& spec,
                                 const std::string& pool = "");
  // Submits a job and waits for its end, up to `wait` (then
  // DEADLINE_EXCEEDED, and the server withdraws or keeps running it as the
  // service says).
  absl::StatusOr<v1::Job> Run(const v1::JobSpec& spec,
                              const std::string& pool = "",
                              absl::Duration wait = absl::InfiniteDuration());
  absl::StatusOr<v1::Job> GetJob(const std::string& id);
  // Waits up to `wait` for the job's end (DEADLINE_EXCEEDED: still going).
  absl::StatusOr<v1::Job> WaitJob(
      const std::string& id, absl::Duration wait = absl::InfiniteDuration());
  absl::StatusOr<v1::Job> CancelJob(const std::string& id);

  // Batches as remote WaitGroups: create (with first jobs), add, seal, wait.
  absl::StatusOr<v1::CreateBatchResponse> CreateBatch(
      const std::vector<v1::JobSpec>& jobs, const v1::BatchOptions& options,
      const std::string& pool = "");
  absl::StatusOr<std::vector<std::string>> AddToBatch(
      const std::string& batch_id, const std::vector<v1::JobSpec>& jobs);
  absl::Status SealBatch(const std::string& batch_id);
  absl::StatusOr<v1::WaitBatchResponse> GetBatch(const std::string& batch_id,
                                                 bool include_jobs = false);
  absl::StatusOr<v1::WaitBatchResponse> WaitBatch(
      const std::string& batch_id, bool include_jobs = false,
      absl::Duration wait = absl::InfiniteDuration());
  absl::StatusOr<v1::WaitBatchResponse> CancelBatch(
      const std::string& batch_id);

  // Submits `jobs` as one batch over one stream and returns at once; the
  // handle reports each finished job to `options.on_job`, progress, and
  // the final summary (see client/batch_run.h).
  std::unique_ptr<BatchRun> StartBatch(std::vector<v1::JobSpec> jobs,
                                       BatchRunOptions options = {});
  // StartBatch() and wait for the end.
  absl::StatusOr<v1::WaitBatchResponse> RunBatch(std::vector<v1::JobSpec> jobs,
                                                 BatchRunOptions options = {});

  // Administration of one replica's pool (any replica unless `target`).
  absl::StatusOr<v1::PoolStats> Tune(const std::string& pool, int size,
                                     const Target& target = {});
  absl::StatusOr<v1::PoolStats> Reboot(const std::string& pool,
                                       const Target& target = {});
  // Closes the pool; waits up to `drain` for its running jobs.
  absl::StatusOr<v1::ReleaseResponse> Release(
      const std::string& pool, absl::Duration drain = absl::ZeroDuration(),
      const Target& target = {});

  absl::StatusOr<v1::StatsResponse> Stats(const Target& target = {});
  // Calls `each` with a snapshot every `interval` until it returns false or
  // the stream fails; blocks the calling thread meanwhile.
  absl::Status WatchStats(
      absl::Duration interval,
      const std::function<bool(const v1::StatsResponse&)>& each,
      const Target& target = {});
  absl::StatusOr<std::vector<v1::KindInfo>> ListKinds(
      const Target& target = {});
  // The standard health check ("" = the whole server).
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> Health(
      const Target& target = {}, const std::string& service = "");

  // The addresses this client balances over, each usable as a Target: the
  // configured ones, or those a `dns:///` name resolves to now.
  std::vector<std::string> Endpoints() const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace jobpool

#endif  // JOBPOOL_CLIENT_CLIENT_H_
