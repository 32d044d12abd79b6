#ifndef JOBPOOL_SERVER_INTERCEPTORS_H_
#define JOBPOOL_SERVER_INTERCEPTORS_H_

// Server interceptors: what every RPC gets, whatever its handler.
//
// RetryPushback: a status that carries retry advice (google.rpc.RetryInfo,
// see proto/status_convert.h) also gets the `grpc-retry-pushback-ms`
// trailer, which gRPC's own client retry policy honours. So a client that
// enables retries in its service config waits as long as the server asked,
// with no retry loop of its own.
//
// HandledCounter: counts every finished RPC by method and status code in
// Metrics (when metrics are on).

#include <memory>
#include <vector>

#include "grpcpp/support/server_interceptor.h"
#include "server/metrics.h"

namespace jobpool {

// `metrics` may be null (metrics off); it must outlive the server.
std::vector<
    std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
MakeServerInterceptors(Metrics* metrics);

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_INTERCEPTORS_H_
