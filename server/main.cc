// jobpoold: the jobpool gRPC server.
//
// With no flags it listens on 127.0.0.1:50051 with one "default" pool sized
// to the host. SIGTERM or SIGINT drains it: health goes NOT_SERVING, new
// jobs get UNAVAILABLE, admitted jobs finish within --grace_period, waiters
// get their results, and the process exits 0. `jobpoold --help` lists the
// flags.

#include "server/server_builder.h"

int main(int argc, char** argv) {
  return jobpool::ServerBuilder().Run(argc, argv);
}
