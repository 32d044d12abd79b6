#include "server/server_builder.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/text_format.h"
#include "jobpool/v1/config.pb.h"
#include "proto/proto_time.h"
#include "server/auth.h"
#include "server/command_kind.h"
#include "server/config.h"
#include "server/job_manager.h"
#include "server/server.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "HOST:PORT to listen on");
ABSL_FLAG(std::string, config, "",
          "optional configuration file (jobpool.v1.ServerConfig, text format)");
ABSL_FLAG(std::string, replica, "",
          "name of this replica, the prefix of job ids (default: host name)");
ABSL_FLAG(int, pool_size, 0,
          "workers of the default pool; 0: the number of CPUs");
ABSL_FLAG(bool, nonblocking, false,
          "the default pool refuses at once instead of queueing");
ABSL_FLAG(int, max_blocking, 0,
          "most jobs that may wait for a worker in the default pool; 0: no "
          "limit");
ABSL_FLAG(absl::Duration, expiry, absl::Seconds(1),
          "idle workers exit after this long");
ABSL_FLAG(bool, prealloc, false, "pre-allocate the default pool's workers");
ABSL_FLAG(int64_t, max_payload_bytes, 4 << 20, "largest job payload");
ABSL_FLAG(int64_t, max_retained_jobs, 200000,
          "finished jobs kept for lookup (and most unfinished jobs)");
ABSL_FLAG(absl::Duration, retention, absl::Minutes(10),
          "how long finished jobs and batches are kept for lookup");
ABSL_FLAG(absl::Duration, default_job_timeout, absl::InfiniteDuration(),
          "timeout of jobs that set none");
ABSL_FLAG(absl::Duration, grace_period, absl::Seconds(30),
          "on SIGTERM, how long admitted jobs may take to finish");
ABSL_FLAG(int, max_message_bytes, 16 << 20, "largest gRPC message");
ABSL_FLAG(absl::Duration, max_connection_age, absl::Minutes(5),
          "connections are closed after this age so clients rebalance");

ABSL_FLAG(std::vector<std::string>, command, {},
          "NAME=PROGRAM [ARG...]: a command kind running PROGRAM (an "
          "absolute path) with the payload on stdin; repeat the flag for "
          "more. Parameters, environment and limits: the config file");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT of an HTTP port serving Prometheus metrics at /metrics "
          "(e.g. 127.0.0.1:9464; 0.0.0.0:9464 in a container); empty: off");
ABSL_FLAG(int64_t, max_command_output, 4 << 20,
          "most stdout a command kind's job may write; beyond it the program "
          "is killed and the job fails");

ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain of the server; with --tls_key_file turns on "
          "TLS. Re-read when it changes");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of the server");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle; when set, clients must present a certificate it "
          "signed (mTLS)");
ABSL_FLAG(absl::Duration, tls_reload_interval, absl::Seconds(60),
          "how often the TLS files are checked for a new certificate");
ABSL_FLAG(std::string, auth_token_file, "",
          "bearer tokens, one \"ROLE TOKEN\" per line (ROLE: admin or "
          "submit); also JOBPOOL_ADMIN_TOKEN and JOBPOOL_SUBMIT_TOKEN from "
          "the environment. None: every caller is admin");
ABSL_FLAG(bool, anonymous_submit, false,
          "with tokens: callers without one may use the job RPCs; Tune, "
          "Reboot and Release still need an admin token");
ABSL_FLAG(bool, insecure_allow_unauthenticated_remote, false,
          "DANGEROUS: listen on a non-loopback address without bearer "
          "tokens, letting anyone who reaches the port run jobs and stop "
          "pools");
ABSL_FLAG(int, max_params, 64, "parameters per job");
ABSL_FLAG(int64_t, max_param_bytes, 4096,
          "bytes of one parameter's name plus value");
ABSL_FLAG(int64_t, max_batch_jobs, 100000, "jobs in one batch");
ABSL_FLAG(int64_t, max_retained_batches, 10000,
          "batches kept for lookup, unfinished ones included");
ABSL_FLAG(int64_t, max_idempotency_keys, 100000,
          "idempotency keys remembered (each as long as its job is kept)");
ABSL_FLAG(int64_t, max_queued_payload_bytes, int64_t{1} << 30,
          "payload bytes of unfinished jobs (freed once a job has run)");
ABSL_FLAG(int64_t, max_retained_output_bytes, int64_t{1} << 30,
          "output bytes of finished jobs kept for lookup");
ABSL_FLAG(int, max_concurrent_streams, 16384,
          "calls in flight per client connection (more wait client-side)");
ABSL_FLAG(int64_t, max_grpc_memory, int64_t{1} << 30,
          "bytes gRPC may use for connections and messages");

namespace jobpool {
namespace {

// Every --command, which Abseil's flags cannot repeat: taken out of argv
// before the other flags are parsed.
std::vector<std::string>& CommandFlags() {
  static std::vector<std::string> flags;
  return flags;
}

std::vector<char*> TakeCommandFlags(int argc, char** argv) {
  std::vector<char*> rest = {argv[0]};
  bool flags_ended = false;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (flags_ended || arg == "--") {
      flags_ended = true;
      rest.push_back(argv[i]);
    } else if ((arg == "--command" || arg == "-command") && i + 1 < argc) {
      CommandFlags().emplace_back(argv[++i]);
    } else if (absl::StartsWith(arg, "--command=") ||
               absl::StartsWith(arg, "-command=")) {
      CommandFlags().emplace_back(arg.substr(arg.find('=') + 1));
    } else {
      rest.push_back(argv[i]);
    }
  }
  return rest;
}

// Routes a pool's log lines (a task's uncaught exception, a thread that
// would not start) to the server log.
void PoolLog(absl::LogSeverity severity, absl::string_view message) {
  const auto level = severity == absl::LogSeverity::kInfo ? spdlog::level::info
                     : severity == absl::LogSeverity::kWarning
                         ? spdlog::level::warn
                         : spdlog::level::err;
  spdlog::log(level, "pool: {}", std::string(message));
}

// A limit from the config file when set there (> 0), else from its flag.
template <typename T>
T Limit(T from_config, const absl::Flag<T>& flag) {
  return from_config > 0 ? from_config : absl::GetFlag(flag);
}

// Tokens from the file and the environment; the values are never logged.
absl::StatusOr<Authenticator> LoadTokens(const std::string& path) {
  Authenticator auth;
  if (!path.empty()) {
    auto loaded = Authenticator::FromFile(path);
    if (!loaded.ok()) return loaded.status();
    auth = *std::move(loaded);
  }
  // Read once, before any thread that could change the environment starts.
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
  if (const char* token = std::getenv("JOBPOOL_ADMIN_TOKEN")) {
    auth.Add(Role::kAdmin, token);
  }
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
  if (const char* token = std::getenv("JOBPOOL_SUBMIT_TOKEN")) {
    auth.Add(Role::kSubmit, token);
  }
  return auth;
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') {
    return "jobpoold";
  }
  return name;
}

int Serve(KindRegistry& kinds) {
  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  spdlog::set_default_logger(spdlog::stderr_color_mt("jobpoold"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ jobpoold: %v");
  auto config = LoadConfig(absl::GetFlag(FLAGS_config));
  if (!config.ok()) {
    spdlog::error("{}", std::string(config.status().message()));
    return 2;
  }
  ManagerOptions manager_options;
  manager_options.replica = !config->replica().empty() ? config->replica()
                            : !absl::GetFlag(FLAGS_replica).empty()
                                ? absl::GetFlag(FLAGS_replica)
                                : HostName();
  manager_options.max_payload_bytes =
      Limit(config->max_payload_bytes(), FLAGS_max_payload_bytes);
  manager_options.max_retained_jobs =
      Limit(config->max_retained_jobs(), FLAGS_max_retained_jobs);
  manager_options.max_live_jobs = manager_options.max_retained_jobs;
  manager_options.retention = config->has_retention()
                                  ? FromProto(config->retention())
                                  : absl::GetFlag(FLAGS_retention);
  manager_options.default_job_timeout =
      absl::GetFlag(FLAGS_default_job_timeout);
  manager_options.max_params = Limit(config->max_params(), FLAGS_max_params);
  manager_options.max_param_bytes =
      Limit(config->max_param_bytes(), FLAGS_max_param_bytes);
  manager_options.max_batch_jobs =
      Limit(config->max_batch_jobs(), FLAGS_max_batch_jobs);
  manager_options.max_retained_batches =
      Limit(config->max_retained_batches(), FLAGS_max_retained_batches);
  manager_options.max_queued_payload_bytes =
      Limit(config->max_queued_payload_bytes(), FLAGS_max_queued_payload_bytes);
  manager_options.max_retained_output_bytes = Limit(
      config->max_retained_output_bytes(), FLAGS_max_retained_output_bytes);
  manager_options.max_idempotency_keys =
      Limit(config->max_idempotency_keys(), FLAGS_max_idempotency_keys);
  const absl::Duration grace = config->has_grace_period()
                                   ? FromProto(config->grace_period())
                                   : absl::GetFlag(FLAGS_grace_period);

  std::vector<PoolConfig> pools;
  for (const v1::PoolConfig& p : config->pools()) {
    PoolConfig pool;
    pool.name = p.name();
    pool.size = p.size();
    pool.options.nonblocking = p.nonblocking();
    pool.options.max_blocking_tasks = p.max_blocking_tasks();
    if (p.has_expiry()) pool.options.expiry = FromProto(p.expiry());
    pool.options.prealloc = p.prealloc();
    pool.options.disable_purge = p.disable_purge();
    pool.options.logger = PoolLog;
    pools.push_back(std::move(pool));
  }
  if (pools.empty()) {
    PoolConfig pool;
    pool.name = "default";
    pool.size = absl::GetFlag(FLAGS_pool_size) > 0
                    ? absl::GetFlag(FLAGS_pool_size)
                    : static_cast<int>(std::thread::hardware_concurrency());
    pool.options.nonblocking = absl::GetFlag(FLAGS_nonblocking);
    pool.options.max_blocking_tasks = absl::GetFlag(FLAGS_max_blocking);
    pool.options.expiry = absl::GetFlag(FLAGS_expiry);
    pool.options.prealloc = absl::GetFlag(FLAGS_prealloc);
    pool.options.logger = PoolLog;
    pools.push_back(std::move(pool));
  }
  for (const PoolConfig& pool : pools) {
    spdlog::info("pool \"{}\": size {}{}{}", pool.name, pool.size,
                 pool.options.nonblocking ? ", non-blocking" : "",
                 pool.options.max_blocking_tasks > 0
                     ? absl::StrCat(", at most ",
                                    pool.options.max_blocking_tasks, " waiting")
                     : "");
  }

  std::vector<CommandConfig> commands;
  for (const std::string& flag : CommandFlags()) {
    auto command = ParseCommandFlag(flag);
    if (!command.ok()) {
      spdlog::error("{}", std::string(command.status().message()));
      return 2;
    }
    commands.push_back(*std::move(command));
  }
  for (const v1::CommandKindConfig& c : config->commands()) {
    commands.push_back(CommandFromProto(c));
  }
  for (CommandConfig& command : commands) {
    if (command.max_output_bytes <= 0) {
      command.max_output_bytes = absl::GetFlag(FLAGS_max_command_output);
    }
    const std::string name = command.name;
    const std::string program = absl::StrJoin(command.argv, " ");
    auto kind = MakeCommandKind(std::move(command));
    absl::Status registered =
        kind.ok() ? kinds.Register(*std::move(kind)) : kind.status();
    if (!registered.ok()) {
      spdlog::error("{}", std::string(registered.message()));
      return 2;
    }
    spdlog::info("command kind \"{}\": {}", name, program);
  }

  const std::string replica = manager_options.replica;
  auto manager =
      JobManager::Create(std::move(manager_options), std::move(pools), &kinds);
  if (!manager.ok()) {
    spdlog::error("{}", std::string(manager.status().message()));
    return 2;
  }
  ServerOptions server_options;
  server_options.listen = !config->listen().empty()
                              ? config->listen()
                              : absl::GetFlag(FLAGS_listen);
  server_options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  server_options.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  server_options.metrics_listen = !config->metrics_listen().empty()
                                      ? config->metrics_listen()
                                      : absl::GetFlag(FLAGS_metrics_listen);
  server_options.max_concurrent_streams =
      Limit(config->max_concurrent_streams(), FLAGS_max_concurrent_streams);
  server_options.max_grpc_memory_bytes =
      Limit(config->max_grpc_memory(), FLAGS_max_grpc_memory);
  const auto text = [](const std::string& from_config,
                       const std::string& flag) {
    return from_config.empty() ? flag : from_config;
  };
  server_options.tls_cert_file =
      text(config->tls_cert_file(), absl::GetFlag(FLAGS_tls_cert_file));
  server_options.tls_key_file =
      text(config->tls_key_file(), absl::GetFlag(FLAGS_tls_key_file));
  server_options.tls_client_ca_file = text(
      config->tls_client_ca_file(), absl::GetFlag(FLAGS_tls_client_ca_file));
  server_options.tls_reload_interval = absl::GetFlag(FLAGS_tls_reload_interval);
  server_options.allow_unauthenticated_remote =
      absl::GetFlag(FLAGS_insecure_allow_unauthenticated_remote);
  auto auth = LoadTokens(
      text(config->auth_token_file(), absl::GetFlag(FLAGS_auth_token_file)));
  if (!auth.ok()) {
    spdlog::error("{}", std::string(auth.status().message()));
    return 2;
  }
  server_options.auth = *std::move(auth);
  if (absl::GetFlag(FLAGS_anonymous_submit)) {
    if (!server_options.auth.Enabled()) {
      spdlog::error("--anonymous_submit needs admin tokens to guard");
      return 2;
    }
    server_options.auth.AllowAnonymousSubmit(true);
  }
  auto server = Server::Start(server_options, manager->get());
  if (!server.ok()) {
    spdlog::error("{}", std::string(server.status().message()));
    return server.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  spdlog::info("{}; {}",
               server_options.tls_cert_file.empty() ? "plaintext (no TLS)"
               : server_options.tls_client_ca_file.empty()
                   ? "TLS"
                   : "mTLS (client certificates required)",
               server_options.auth.Enabled()
                   ? absl::StrCat(server_options.auth.Count(),
                                  " bearer token(s) required")
                   : "no authentication");
  if (!server_options.auth.Enabled() &&
      !IsLoopbackAddress(server_options.listen)) {
    spdlog::warn(
        "listening beyond loopback WITHOUT authentication "
        "(--insecure_allow_unauthenticated_remote)");
  }
  spdlog::info("serving on {} (port {}) as replica \"{}\"",
               server_options.listen, (*server)->Port(), replica);
  if ((*server)->MetricsPort() != 0) {
    spdlog::info("metrics on http://{}/metrics (port {})",
                 server_options.metrics_listen, (*server)->MetricsPort());
  }

  int signal = 0;
  sigwait(&stop, &signal);
  spdlog::info("{}: draining for up to {}",
               signal == SIGTERM ? "SIGTERM" : "SIGINT",
               absl::FormatDuration(grace));
  const bool clean = (*server)->Drain(grace);
  const v1::JobTotals totals = (*manager)->Stats().totals();
  const std::string counts = absl::StrCat(
      totals.submitted(), " submitted: ", totals.succeeded(), " succeeded, ",
      totals.failed(), " failed, ", totals.cancelled(), " cancelled, ",
      totals.timed_out(), " timed out, ", totals.rejected(), " rejected");
  if (clean) {
    spdlog::info("stopped: every admitted job finished ({})", counts);
  } else {
    spdlog::warn(
        "stopped: jobs still running at the deadline were cancelled ({})",
        counts);
  }
  return 0;
}

}  // namespace

ServerBuilder::ServerBuilder() : kinds_(KindRegistry::WithBuiltins()) {}

ServerBuilder& ServerBuilder::RegisterKind(std::string name, JobHandler handler,
                                           std::string description,
                                           JobValidator validate) {
  Kind kind;
  kind.name = std::move(name);
  kind.description = std::move(description);
  kind.run = std::move(handler);
  kind.validate = std::move(validate);
  return RegisterKind(std::move(kind));
}

ServerBuilder& ServerBuilder::RegisterKind(Kind kind) {
  absl::Status status = kinds_.Register(std::move(kind));
  if (error_.ok()) error_ = std::move(status);
  return *this;
}

int ServerBuilder::Run(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "runs jobs on bounded worker pools over gRPC (jobpool).");
  // --help lists the server's flags, which live here, not in main().
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "server_builder");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  std::vector<char*> rest = TakeCommandFlags(argc, argv);
  absl::ParseCommandLine(static_cast<int>(rest.size()), rest.data());
  if (!error_.ok()) {
    std::fprintf(stderr, "%s\n", std::string(error_.message()).c_str());
    return 2;
  }
  return Serve(kinds_);
}

}  // namespace jobpool
