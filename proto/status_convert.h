#ifndef JOBPOOL_PROTO_STATUS_CONVERT_H_
#define JOBPOOL_PROTO_STATUS_CONVERT_H_

// The one pair of functions that converts between absl::Status (used
// everywhere inside jobpool) and grpc::Status (used only at the RPC edge),
// plus the retry advice that travels with RESOURCE_EXHAUSTED and UNAVAILABLE.
//
// Codes map one to one (both are the canonical google.rpc codes). Retry
// advice rides as a google.rpc.RetryInfo: an absl::Status payload inside the
// process, an entry of google.rpc.Status.details (the standard
// `grpc-status-details-bin` trailer) on the wire.

#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"

namespace jobpool {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// Returns `status` carrying the advice to retry after `delay`.
absl::Status WithRetryDelay(absl::Status status, absl::Duration delay);
// The retry advice `status` carries, if any.
std::optional<absl::Duration> RetryDelay(const absl::Status& status);

}  // namespace jobpool

#endif  // JOBPOOL_PROTO_STATUS_CONVERT_H_
