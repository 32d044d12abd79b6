#include "server/command_kind.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/status_macros.h"

namespace jobpool {
namespace {

constexpr size_t kMaxParamValue = 256;
constexpr size_t kStderrTail = 4096;
// How often a job waiting for its program's exit (with its output already
// closed) looks again; cancellation wakes it at once regardless.
constexpr int kPollMillis = 10;
// How often a running program is checked for having exited while
// something it started still holds its output open.
constexpr int kExitCheckMillis = 100;

bool IsName(absl::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
           c == '-';
  });
}

// A plain word: nothing a shell, an option parser or a path walk would
// read as more than data.
bool IsPlainValue(absl::string_view value) {
  if (value.empty() || value.size() > kMaxParamValue || value[0] == '-') {
    return false;
  }
  return std::all_of(value.begin(), value.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
           absl::StrContains("._:/@%+,=", c);
  });
}

// strerror, thread-safe (GNU strerror_r).
std::string ErrorText(int error) {
  char buffer[256];
  return strerror_r(error, buffer, sizeof buffer);
}

// The last non-empty line of `text`, for an error message.
std::string LastLine(absl::string_view text) {
  text = absl::StripTrailingAsciiWhitespace(text);
  const size_t newline = text.rfind('\n');
  if (newline != absl::string_view::npos) text.remove_prefix(newline + 1);
  return std::string(absl::StripAsciiWhitespace(text));
}

absl::Status CheckParams(const CommandConfig& config, const JobInput& input) {
  for (const auto& [name, value] : input.params) {
    const bool allowed =
        std::find(config.arg_params.begin(), config.arg_params.end(), name) !=
            config.arg_params.end() ||
        std::find(config.env_params.begin(), config.env_params.end(), name) !=
            config.env_params.end();
    if (!allowed) {
      std::vector<std::string> names = config.arg_params;
      names.insert(names.end(), config.env_params.begin(),
                   config.env_params.end());
      return absl::InvalidArgumentError(absl::StrCat(
          config.name, ": parameter \"", name, "\" is not allowed (allowed: ",
          names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
    }
    if (!IsPlainValue(value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          config.name, ": parameter \"", name,
          "\" must be a plain word (letters, digits, ._:/@%+,= ; not "
          "starting with '-'; at most ",
          kMaxParamValue, " bytes)"));
    }
  }
  return absl::OkStatus();
}

// Closes a file descriptor once.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    Reset();
    fd_ = std::exchange(other.fd_, -1);
    return *this;
  }
  ~Fd() { Reset(); }
  int Get() const { return fd_; }
  bool IsOpen() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

absl::Status MakePipe(Fd* read_end, Fd* write_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot create a pipe: ", ErrorText(errno)));
  }
  *read_end = Fd(fds[0]);
  *write_end = Fd(fds[1]);
  return absl::OkStatus();
}

// The spawned program: its process group is killed and the child reaped
// however the job ends.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    KillGroup(SIGKILL);
    if (!reaped_) (void)Reap(true);
  }

  void KillGroup(int signal) const { kill(-pid_, signal); }

  // Collects the child's exit; false while it still runs (`block` false).
  bool Reap(bool block) {
    if (reaped_) return true;
    int status = 0;
    pid_t got;
    do {
      got = waitpid(pid_, &status, block ? 0 : WNOHANG);
    } while (got < 0 && errno == EINTR);
    if (got == 0) return false;
    reaped_ = true;
    if (got > 0 && WIFEXITED(status)) exit_code_ = WEXITSTATUS(status);
    if (got > 0 && WIFSIGNALED(status)) signal_ = WTERMSIG(status);
    return true;
  }

  // Ends the group: SIGTERM, then SIGKILL after `grace` unless the child
  // has exited by then.
  void Stop(absl::Duration grace) {
    if (grace > absl::ZeroDuration()) {
      KillGroup(SIGTERM);
      const absl::Time until = absl::Now() + grace;
      while (!Reap(false) && absl::Now() < until) {
        absl::SleepFor(absl::Milliseconds(kPollMillis));
      }
    }
    KillGroup(SIGKILL);
    (void)Reap(true);
  }

  int ExitCode() const { return exit_code_; }
  int TermSignal() const { return signal_; }

 private:
  const pid_t pid_;
  bool reaped_ = false;
  int exit_code_ = -1;
  int signal_ = 0;
};

// A pipe that Cancel() writes to, so that a job blocked in poll() wakes at
// once; shared with the token's callback, which may outlive the job's run.
struct Wake {
  Fd read;
  Fd write;
};

// Milliseconds poll() may sleep before the token's deadline passes (at
// most a second, so a missed wake-up costs little).
int PollTimeout(const CancelToken& token) {
  const absl::Duration left = token.Deadline() - absl::Now();
  if (left >= absl::Seconds(1)) return 1000;
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(
      absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))));
}

void IgnoreSigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { signal(SIGPIPE, SIG_IGN); });
}

absl::StatusOr<std::string> Run(const CommandConfig& config,
                                const JobInput& input, JobContext& context) {
  JOBPOOL_RETURN_IF_ERROR(CheckParams(config, input));
  IgnoreSigpipe();

  std::vector<std::string> args = config.argv;
  for (const std::string& name : config.arg_params) {
    auto it = input.params.find(name);
    if (it != input.params.end()) {
      args.push_back(absl::StrCat("--", name, "=", it->second));
    }
  }
  std::vector<std::string> env;
  env.reserve(config.env.size() + config.env_params.size());
  for (const auto& [name, value] : config.env) {
    env.push_back(absl::StrCat(name, "=", value));
  }
  for (const std::string& name : config.env_params) {
    auto it = input.params.find(name);
    if (it != input.params.end()) {
      env.push_back(absl::StrCat("JOBPOOL_PARAM_", absl::AsciiStrToUpper(name),
                                 "=", it->second));
    }
  }
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  auto wake = std::make_shared<Wake>();
  if (absl::Status made = MakePipe(&wake->read, &wake->write); !made.ok()) {
    return made;
  }
  fcntl(wake->write.Get(), F_SETFL, O_NONBLOCK);
  const CancelToken& token = context.Token();
  const uint64_t wake_id =
      token.AddCallback([wake] { (void)!write(wake->write.Get(), "x", 1); });
  const absl::Cleanup remove_wake = [&token, wake_id] {
    token.RemoveCallback(wake_id);
  };

  Fd in_read, in_write, out_read, out_write, err_read, err_write;
  for (auto [r, w] :
       {std::pair{&in_read, &in_write}, std::pair{&out_read, &out_write},
        std::pair{&err_read, &err_write}}) {
    if (absl::Status made = MakePipe(r, w); !made.ok()) return made;
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_read.Get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_write.Get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_write.Get(), STDERR_FILENO);
  // Nothing of the server (sockets, other jobs' pipes) reaches the child.
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  if (!config.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&actions, config.working_dir.c_str());
  }
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP |
                                            POSIX_SPAWN_SETSIGMASK |
                                            POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attributes, 0);  // Its own process group.
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigdefault(&attributes, &all);  // SIGPIPE too.
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, argv[0], &actions, &attributes,
                                  argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawned != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        config.name, ": cannot start ", argv[0], ": ", ErrorText(spawned)));
  }
  Child child(pid);
  in_read.Reset();
  out_write.Reset();
  err_write.Reset();
  for (const Fd* fd : {&in_write, &out_read, &err_read}) {
    fcntl(fd->Get(), F_SETFL, fcntl(fd->Get(), F_GETFL) | O_NONBLOCK);
  }

  std::string output;
  std::string errors;
  size_t written = 0;
  const absl::string_view payload = input.payload;
  if (payload.empty()) in_write.Reset();
  bool overflow = false;
  bool exited = false;
  char buffer[65536];
  while (out_read.IsOpen() || err_read.IsOpen()) {
    if (context.IsCancelled()) break;
    pollfd fds[4];
    nfds_t n = 0;
    fds[n++] = {wake->read.Get(), POLLIN, 0};
    if (in_write.IsOpen()) fds[n++] = {in_write.Get(), POLLOUT, 0};
    if (out_read.IsOpen()) fds[n++] = {out_read.Get(), POLLIN, 0};
    if (err_read.IsOpen()) fds[n++] = {err_read.Get(), POLLIN, 0};
    // While the program still runs, also look in on it now and then: its
    // exit is not a poll event while a child of its holds the pipes.
    const int timeout = exited ? PollTimeout(token)
                               : std::min(PollTimeout(token), kExitCheckMillis);
    if (poll(fds, n, timeout) < 0 && errno != EINTR) break;
    for (nfds_t i = 1; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      const int fd = fds[i].fd;
      if (fd == in_write.Get()) {
        const ssize_t w =
            write(fd, payload.data() + written,
                  std::min<size_t>(payload.size() - written, sizeof buffer));
        if (w > 0) written += static_cast<size_t>(w);
        // Done, or the program stopped reading (EPIPE): no more input.
        if (written == payload.size() || (w < 0 && errno != EAGAIN)) {
          in_write.Reset();
        }
        continue;
      }
      const ssize_t r = read(fd, buffer, sizeof buffer);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        (fd == out_read.Get() ? out_read : err_read).Reset();
        continue;
      }
      if (r < 0) continue;
      if (fd == out_read.Get()) {
        output.append(buffer, static_cast<size_t>(r));
        if (static_cast<int64_t>(output.size()) > config.max_output_bytes) {
          overflow = true;
        }
      } else {
        errors.append(buffer, static_cast<size_t>(r));
        if (errors.size() > 2 * kStderrTail) {
          errors.erase(0, errors.size() - kStderrTail);
        }
      }
    }
    if (overflow) break;
    // The program has ended but something it started still holds its
    // output open: end the group, then read what is left.
    if (!exited && child.Reap(false)) {
      exited = true;
      child.KillGroup(SIGKILL);
    }
  }
  const bool cancelled = context.IsCancelled();
  if (cancelled || overflow) {
    child.Stop(config.kill_grace);
  } else {
    // Output closed; wait for the exit itself, still cancellable.
    while (!child.Reap(false)) {
      if (context.IsCancelled()) {
        child.Stop(config.kill_grace);
        break;
      }
      pollfd woken = {wake->read.Get(), POLLIN, 0};
      poll(&woken, 1, std::min(PollTimeout(token), kPollMillis));
    }
  }
  if (errors.size() > kStderrTail) {
    errors.erase(0, errors.size() - kStderrTail);
  }
  context.SetProcessResult(child.ExitCode(), child.TermSignal(), errors);

  if (context.IsCancelled()) {
    return absl::CancelledError(context.Token().Reason());
  }
  if (overflow) {
    return absl::FailedPreconditionError(
        absl::StrCat(config.name, ": output exceeded ", config.max_output_bytes,
                     " bytes; the program was killed"));
  }
  const std::string last_line = LastLine(errors);
  if (child.TermSignal() != 0) {
    return absl::AbortedError(
        absl::StrCat(config.name, ": killed by signal ", child.TermSignal(),
                     last_line.empty() ? "" : ": ", last_line));
  }
  if (child.ExitCode() != 0) {
    return absl::AbortedError(
        absl::StrCat(config.name, ": exit code ", child.ExitCode(),
                     last_line.empty() ? "" : ": ", last_line));
  }
  return output;
}

}  // namespace

absl::StatusOr<Kind> MakeCommandKind(CommandConfig config) {
  if (!IsName(config.name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("command kind name \"", config.name,
                     "\" must be letters, digits, '_' or '-'"));
  }
  const std::string where = absl::StrCat("command kind \"", config.name, "\"");
  if (config.argv.empty() || !absl::StartsWith(config.argv[0], "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": the program must be an absolute path"));
  }
  struct stat program;
  if (stat(config.argv[0].c_str(), &program) != 0 ||
      !S_ISREG(program.st_mode) || access(config.argv[0].c_str(), X_OK) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": \"", config.argv[0],
                     "\" does not exist or is not an executable file"));
  }
  if (!config.working_dir.empty()) {
    struct stat dir;
    if (stat(config.working_dir.c_str(), &dir) != 0 || !S_ISDIR(dir.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": working directory \"", config.working_dir,
                       "\" does not exist"));
    }
  }
  for (const auto* names : {&config.arg_params, &config.env_params}) {
    for (const std::string& name : *names) {
      if (!IsName(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": bad parameter name \"", name, "\""));
      }
    }
  }
  for (const auto& [name, value] : config.env) {
    if (name.empty() || absl::StrContains(name, '=')) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": bad environment variable \"", name, "\""));
    }
  }
  if (config.max_output_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": max_output_bytes must be positive"));
  }
  Kind kind;
  kind.name = config.name;
  kind.description =
      !config.description.empty()
          ? config.description
          : absl::StrCat("runs ", absl::StrJoin(config.argv, " "),
                         " (payload on stdin, stdout as output)");
  kind.timeout = config.timeout;
  auto shared = std::make_shared<const CommandConfig>(std::move(config));
  kind.validate = [shared](const JobInput& input) {
    return CheckParams(*shared, input);
  };
  kind.run = [shared](const JobInput& input, JobContext& context) {
    return Run(*shared, input, context);
  };
  return kind;
}

absl::StatusOr<CommandConfig> ParseCommandFlag(absl::string_view text) {
  const size_t eq = text.find('=');
  if (eq == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--command \"", text, "\": want NAME=PROGRAM [ARG...]"));
  }
  CommandConfig config;
  config.name = std::string(absl::StripAsciiWhitespace(text.substr(0, eq)));
  config.argv = absl::StrSplit(text.substr(eq + 1), ' ', absl::SkipEmpty());
  if (config.argv.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--command \"", text, "\": no program"));
  }
  return config;
}

}  // namespace jobpool
