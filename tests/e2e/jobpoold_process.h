#ifndef JOBPOOL_TESTS_E2E_JOBPOOLD_PROCESS_H_
#define JOBPOOL_TESTS_E2E_JOBPOOLD_PROCESS_H_

// JobpooldProcess: the real jobpoold binary, started on an ephemeral
// loopback port; the port is read from its start-up line on stderr.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace jobpool::testing {

class JobpooldProcess {
 public:
  // Runs `program` (jobpoold, or a program built on ServerBuilder).
  explicit JobpooldProcess(std::vector<std::string> flags,
                           std::string program = JOBPOOLD_PATH) {
    int fds[2];
    if (pipe(fds) != 0) return;
    std::vector<std::string> args = {std::move(program),
                                     "--listen=127.0.0.1:0"};
    args.insert(args.end(), flags.begin(), flags.end());
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDERR_FILENO);
      close(fds[0]);
      close(fds[1]);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    stderr_ = fdopen(fds[0], "r");
    // "jobpoold: serving on 127.0.0.1:0 (port N)"
    char line[512];
    while (stderr_ != nullptr && std::fgets(line, sizeof line, stderr_)) {
      std::string text = line;
      log_ += text;
      const auto at = text.find("(port ");
      if (at != std::string::npos) {
        const auto end = text.find(')', at);
        (void)absl::SimpleAtoi(text.substr(at + 6, end - at - 6), &port_);
        break;
      }
    }
  }

  ~JobpooldProcess() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stderr_ != nullptr) fclose(stderr_);
  }

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  void Signal(int signal) { kill(pid_, signal); }

  // Waits for the process to exit; returns its exit code (-1 if killed).
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    char line[512];
    while (stderr_ != nullptr && std::fgets(line, sizeof line, stderr_)) {
      log_ += line;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  const std::string& log() const { return log_; }

  // Reads start-up lines until one containing `marker`, and returns the
  // "(port N)" it names (0 if none): e.g. ReadPort("metrics on").
  int ReadPort(const std::string& marker) {
    char line[512];
    while (stderr_ != nullptr && std::fgets(line, sizeof line, stderr_)) {
      const std::string text = line;
      log_ += text;
      if (text.find(marker) == std::string::npos) continue;
      const auto at = text.find("(port ");
      if (at == std::string::npos) return 0;
      int port = 0;
      (void)absl::SimpleAtoi(text.substr(at + 6, text.find(')', at) - at - 6),
                             &port);
      return port;
    }
    return 0;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  FILE* stderr_ = nullptr;
  int port_ = 0;
  std::string log_;
};

}  // namespace jobpool::testing

#endif  // JOBPOOL_TESTS_E2E_JOBPOOLD_PROCESS_H_
