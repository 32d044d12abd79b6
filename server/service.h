#ifndef JOBPOOL_SERVER_SERVICE_H_
#define JOBPOOL_SERVER_SERVICE_H_

// JobPoolService
//
// The jobpool.v1.JobPool gRPC service over a JobManager, on the callback
// API: a call that waits (Submit on a full pool, WaitJob, WaitBatch, the
// streams) keeps its reactor and no thread; whoever decides the outcome (a
// pool worker, CancelJob, Release) finishes it. A caller that goes away or
// whose deadline passes withdraws its waiter at once.
//
// Thread safety: gRPC calls every method concurrently.

#include <memory>

#include "core/pool.h"
#include "jobpool/v1/jobpool.grpc.pb.h"
#include "server/auth.h"
#include "server/job_manager.h"

namespace jobpool {

class JobPoolService final : public v1::JobPool::CallbackService {
 public:
  // `manager` and `auth` must outlive the service.
  JobPoolService(JobManager* manager, const Authenticator* auth);
  ~JobPoolService() override;

  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context,
                                   const v1::SubmitRequest* request,
                                   v1::SubmitResponse* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const v1::GetJobRequest* request,
                                   v1::GetJobResponse* response) override;
  grpc::ServerUnaryReactor* WaitJob(grpc::CallbackServerContext* context,
                                    const v1::WaitJobRequest* request,
                                    v1::WaitJobResponse* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const v1::CancelJobRequest* request,
                                      v1::CancelJobResponse* response) override;
  grpc::ServerUnaryReactor* CreateBatch(
      grpc::CallbackServerContext* context,
      const v1::CreateBatchRequest* request,
      v1::CreateBatchResponse* response) override;
  grpc::ServerUnaryReactor* AddToBatch(
      grpc::CallbackServerContext* context,
      const v1::AddToBatchRequest* request,
      v1::AddToBatchResponse* response) override;
  grpc::ServerUnaryReactor* SealBatch(grpc::CallbackServerContext* context,
                                      const v1::SealBatchRequest* request,
                                      v1::SealBatchResponse* response) override;
  grpc::ServerUnaryReactor* CancelBatch(
      grpc::CallbackServerContext* context,
      const v1::CancelBatchRequest* request,
      v1::WaitBatchResponse* response) override;
  grpc::ServerUnaryReactor* GetBatch(grpc::CallbackServerContext* context,
                                     const v1::GetBatchRequest* request,
                                     v1::WaitBatchResponse* response) override;
  grpc::ServerUnaryReactor* WaitBatch(grpc::CallbackServerContext* context,
                                      const v1::WaitBatchRequest* request,
                                      v1::WaitBatchResponse* response) override;
  grpc::ServerWriteReactor<v1::RunBatchResponse>* RunBatch(
      grpc::CallbackServerContext* context,
      const v1::RunBatchRequest* request) override;
  grpc::ServerUnaryReactor* Tune(grpc::CallbackServerContext* context,
                                 const v1::TuneRequest* request,
                                 v1::TuneResponse* response) override;
  grpc::ServerUnaryReactor* Reboot(grpc::CallbackServerContext* context,
                                   const v1::RebootRequest* request,
                                   v1::RebootResponse* response) override;
  grpc::ServerUnaryReactor* Release(grpc::CallbackServerContext* context,
                                    const v1::ReleaseRequest* request,
                                    v1::ReleaseResponse* response) override;
  grpc::ServerUnaryReactor* Stats(grpc::CallbackServerContext* context,
                                  const v1::StatsRequest* request,
                                  v1::StatsResponse* response) override;
  grpc::ServerWriteReactor<v1::StatsResponse>* WatchStats(
      grpc::CallbackServerContext* context,
      const v1::WatchStatsRequest* request) override;
  grpc::ServerUnaryReactor* ListKinds(grpc::CallbackServerContext* context,
                                      const v1::ListKindsRequest* request,
                                      v1::ListKindsResponse* response) override;

 private:
  // OK when the caller's bearer token grants `needed` (or auth is off).
  absl::Status Authorize(const grpc::CallbackServerContext& context,
                         Role needed) const;

  JobManager* const manager_;
  const Authenticator* const auth_;
  // Runs admin calls that block (Release waits for workers), off the RPC
  // threads.
  std::unique_ptr<Pool> admin_;
};

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_SERVICE_H_
