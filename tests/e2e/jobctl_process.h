#ifndef JOBPOOL_TESTS_E2E_JOBCTL_PROCESS_H_
#define JOBPOOL_TESTS_E2E_JOBCTL_PROCESS_H_

// JobctlProcess: the real jobctl binary run as a child process, with its
// stdin, stdout and stderr on pipes, or with all three on a pseudo-terminal
// (to see what a user at a terminal sees). Every run is bounded: a child
// still running after `kLimit` is killed and the test fails.

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace jobpool::testing {

struct JobctlResult {
  int exit_code = -1;  // -1: killed by a signal.
  std::string out;     // On a terminal: everything the terminal showed.
  std::string err;
};

class JobctlProcess {
 public:
  static constexpr absl::Duration kLimit = absl::Seconds(120);

  // Starts `jobctl args...`; `env` entries ("NAME=value") are added to the
  // environment.
  JobctlProcess(const std::vector<std::string>& args, bool terminal = false,
                const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv_storage = {JOBCTL_PATH};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    if (terminal) {
      winsize size{};
      size.ws_col = 120;
      size.ws_row = 40;
      pid_ = forkpty(&out_fd_, nullptr, nullptr, &size);
      if (pid_ == 0) Exec(argv_storage, env);
      return;
    }
    int in[2];
    int out[2];
    int err[2];
    if (pipe(in) != 0 || pipe(out) != 0 || pipe(err) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      dup2(err[1], STDERR_FILENO);
      for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) close(fd);
      Exec(argv_storage, env);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    in_fd_ = in[1];
    out_fd_ = out[0];
    err_fd_ = err[0];
  }

  ~JobctlProcess() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    for (int fd : {in_fd_, out_fd_, err_fd_}) {
      if (fd >= 0) close(fd);
    }
  }

  pid_t pid() const { return pid_; }
  void Signal(int signal) { kill(pid_, signal); }

  // Writes `input` to the child's stdin and closes it (pipes only).
  void Feed(const std::string& input) {
    if (in_fd_ < 0) return;
    size_t done = 0;
    while (done < input.size()) {
      const ssize_t n = write(in_fd_, input.data() + done, input.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    close(in_fd_);
    in_fd_ = -1;
  }

  // Reads everything until the child exits; kills it past kLimit.
  JobctlResult Wait() {
    Feed("");
    JobctlResult result;
    const absl::Time deadline = absl::Now() + kLimit;
    while (out_fd_ >= 0 || err_fd_ >= 0) {
      std::vector<pollfd> fds;
      for (int fd : {out_fd_, err_fd_}) {
        if (fd >= 0) fds.push_back({fd, POLLIN, 0});
      }
      const int ready = poll(fds.data(), fds.size(), 100);
      if (absl::Now() > deadline) {
        kill(pid_, SIGKILL);
        break;
      }
      if (ready <= 0) continue;
      for (const pollfd& p : fds) {
        if (p.revents == 0) continue;
        char buffer[4096];
        const ssize_t n = read(p.fd, buffer, sizeof buffer);
        std::string& sink = p.fd == out_fd_ ? result.out : result.err;
        if (n > 0) {
          sink.append(buffer, static_cast<size_t>(n));
        } else {  // EOF, or EIO once a terminal's last writer has gone.
          close(p.fd);
          (p.fd == out_fd_ ? out_fd_ : err_fd_) = -1;
        }
      }
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
  }

 private:
  [[noreturn]] static void Exec(std::vector<std::string>& args,
                                const std::vector<std::string>& env) {
    for (const std::string& entry : env) putenv(strdup(entry.c_str()));
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }

  pid_t pid_ = -1;
  bool reaped_ = false;
  int in_fd_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
};

// Runs jobctl to the end.
inline JobctlResult RunJobctl(const std::vector<std::string>& args,
                              const std::string& input = "",
                              const std::vector<std::string>& env = {}) {
  JobctlProcess process(args, false, env);
  process.Feed(input);
  return process.Wait();
}

inline JobctlResult RunJobctlOnTerminal(const std::vector<std::string>& args) {
  return JobctlProcess(args, true).Wait();
}

}  // namespace jobpool::testing

#endif  // JOBPOOL_TESTS_E2E_JOBCTL_PROCESS_H_
