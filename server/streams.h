#ifndef JOBPOOL_SERVER_STREAMS_H_
#define JOBPOOL_SERVER_STREAMS_H_

// The server-streaming calls of JobPoolService, as callback reactors that
// queue their messages and hold no thread between them:
//   RunBatch    creates a batch, streams each result (or throttled
//               progress) and a final summary, then closes;
//   WatchStats  a snapshot now and every interval until the caller leaves.

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "jobpool/v1/jobpool.pb.h"
#include "server/job_manager.h"

namespace jobpool {

grpc::ServerWriteReactor<v1::RunBatchResponse>* StartRunBatch(
    JobManager* manager, const v1::RunBatchRequest& request);

grpc::ServerWriteReactor<v1::StatsResponse>* StartWatchStats(
    JobManager* manager, absl::Duration interval);

// Messages queued by all streams, not yet taken by gRPC. A slow reader
// holds at most kMaxQueuedMessages of its stream's results and the summary (the
// rest wait as job ids, fetched when it catches up) and one pending stats
// snapshot.
int64_t StreamQueuedMessages();
inline constexpr int kMaxQueuedMessages = 64;

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_STREAMS_H_
