#include "client/endpoints.h"

#include <netdb.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace jobpool {
namespace {

struct HostPort {
  std::string host;
  std::string port;
};

absl::StatusOr<HostPort> SplitHostPort(absl::string_view address) {
  HostPort out;
  if (absl::ConsumePrefix(&address, "[")) {  // [v6]:port
    const size_t close = address.find(']');
    if (close == absl::string_view::npos ||
        address.substr(close + 1, 1) != ":") {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address \"[", address, "\": want [HOST]:PORT"));
    }
    out.host = std::string(address.substr(0, close));
    out.port = std::string(address.substr(close + 2));
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address \"", address, "\": want HOST:PORT"));
    }
    out.host = std::string(address.substr(0, colon));
    out.port = std::string(address.substr(colon + 1));
  }
  if (out.host.empty() || out.port.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad address \"", address, "\": want HOST:PORT"));
  }
  return out;
}

// Every address `host` has, as peers ("ipv4:a:p" / "ipv6:[a]:p").
absl::StatusOr<std::vector<std::string>> Lookup(const HostPort& where) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int rc =
      getaddrinfo(where.host.c_str(), where.port.c_str(), &hints, &found);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve \"", where.host,
                                               "\": ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(found,
                                                           &freeaddrinfo);
  std::vector<std::string> out;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char host[NI_MAXHOST];
    if (getnameinfo(a->ai_addr, a->ai_addrlen, host, sizeof host, nullptr, 0,
                    NI_NUMERICHOST) != 0) {
      continue;
    }
    std::string peer = a->ai_family == AF_INET6
                           ? absl::StrCat("ipv6:[", host, "]:", where.port)
                           : absl::StrCat("ipv4:", host, ":", where.port);
    if (std::find(out.begin(), out.end(), peer) == out.end()) {
      out.push_back(std::move(peer));
    }
  }
  if (out.empty()) {
    return absl::UnavailableError(
        absl::StrCat("\"", where.host, "\" has no address"));
  }
  return out;
}

}  // namespace

std::string NormalizePeer(absl::string_view peer) {
  return absl::StrReplaceAll(peer, {{"%5B", "["}, {"%5D", "]"}});
}

absl::StatusOr<std::vector<std::string>> ResolveDns(
    const std::string& dns_target) {
  absl::string_view rest = dns_target;
  if (!absl::ConsumePrefix(&rest, "dns:")) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", dns_target, "\" is not a dns: target"));
  }
  if (absl::ConsumePrefix(&rest, "//")) {  // dns://[authority]/name:port
    const size_t slash = rest.find('/');
    rest = slash == absl::string_view::npos ? "" : rest.substr(slash + 1);
  }
  auto where = SplitHostPort(rest);
  if (!where.ok()) return where.status();
  return Lookup(*where);
}

absl::StatusOr<ResolvedServers> ResolveServers(
    const std::vector<std::string>& servers) {
  if (servers.empty()) {
    return absl::InvalidArgumentError("no server given");
  }
  ResolvedServers out;
  if (servers.size() == 1) {
    out.balanced_target = servers[0];
    out.each = {servers[0]};
    return out;
  }
  std::vector<std::string> addresses;
  bool v4 = false;
  bool v6 = false;
  for (const std::string& server : servers) {
    if (absl::StrContains(server, "://") || absl::StartsWith(server, "dns:") ||
        absl::StartsWith(server, "unix:")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", server, "\": a list of servers takes HOST:PORT entries; ",
          "use one dns:/// target for a name with many addresses"));
    }
    auto where = SplitHostPort(server);
    if (!where.ok()) return where.status();
    auto peers = Lookup(*where);
    if (!peers.ok()) return peers.status();
    // One address per entry, IPv4 first: an entry is one replica.
    std::string chosen = peers->front();
    for (const std::string& peer : *peers) {
      if (absl::StartsWith(peer, "ipv4:")) {
        chosen = peer;
        break;
      }
    }
    (absl::StartsWith(chosen, "ipv4:") ? v4 : v6) = true;
    out.each.push_back(chosen);
    addresses.push_back(chosen.substr(5));
  }
  if (v4 && v6) {
    return absl::InvalidArgumentError(
        "cannot balance over IPv4 and IPv6 addresses in one list");
  }
  out.balanced_target =
      absl::StrCat(v4 ? "ipv4:" : "ipv6:", absl::StrJoin(addresses, ","));
  return out;
}

}  // namespace jobpool
