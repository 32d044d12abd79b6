#ifndef JOBPOOL_TESTS_TESTING_HTTP_GET_H_
#define JOBPOOL_TESTS_TESTING_HTTP_GET_H_

// HttpGet(port, path): a plain HTTP/1.0 GET to 127.0.0.1:port, as a
// scraper would send it. Returns the status line's code and the body
// (code 0 if the connection failed).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace jobpool::testing {

struct HttpResponse {
  int code = 0;
  std::string headers;
  std::string body;
};

inline HttpResponse HttpGet(int port, const std::string& path) {
  HttpResponse out;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return out;
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  (void)!write(fd, request.data(), request.size());
  std::string response;
  char buffer[8192];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) {
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  const size_t split = response.find("\r\n\r\n");
  if (split == std::string::npos) return out;
  out.headers = response.substr(0, split);
  out.body = response.substr(split + 4);
  // "HTTP/1.1 200 OK"
  const size_t space = out.headers.find(' ');
  if (space != std::string::npos) {
    (void)absl::SimpleAtoi(out.headers.substr(space + 1, 3), &out.code);
  }
  return out;
}

}  // namespace jobpool::testing

#endif  // JOBPOOL_TESTS_TESTING_HTTP_GET_H_
