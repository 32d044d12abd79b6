#ifndef JOBPOOL_CLIENT_ENDPOINTS_H_
#define JOBPOOL_CLIENT_ENDPOINTS_H_

// How a client's server list becomes gRPC targets: the one target its
// balanced channel dials, and the individual endpoints behind it (so a call
// about a job can go to the replica that owns it).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace jobpool {

struct ResolvedServers {
  // What the balanced channel dials: the single target as given, or
  // "ipv4:a:p,b:p" (or ipv6:) for several addresses.
  std::string balanced_target;
  // Each address behind it, in the form gRPC reports peers
  // ("ipv4:127.0.0.1:50051", "ipv6:[::1]:50051"); just the target itself
  // when it is a single name that is not a "dns:" URI.
  std::vector<std::string> each;
};

// Resolves `servers` (see ClientOptions::servers). INVALID_ARGUMENT for an
// empty list or an address without a port; UNAVAILABLE when a host name
// does not resolve.
absl::StatusOr<ResolvedServers> ResolveServers(
    const std::vector<std::string>& servers);

// The addresses `dns_target` ("dns:///name:port" or "dns://authority/...")
// resolves to now, as peers.
absl::StatusOr<std::vector<std::string>> ResolveDns(
    const std::string& dns_target);

// A peer string as gRPC reports it, normalised ("%5B" -> "[").
std::string NormalizePeer(absl::string_view peer);

}  // namespace jobpool

#endif  // JOBPOOL_CLIENT_ENDPOINTS_H_
