#ifndef JOBPOOL_SERVER_PENDING_CALL_H_
#define JOBPOOL_SERVER_PENDING_CALL_H_

// PendingCall
//
// A unary reactor that whoever decides the outcome finishes, exactly once:
// a pool worker, another RPC, or the caller leaving. It owns itself until
// gRPC is done with it, and stays alive while callbacks hold it, so a late
// Complete() is a harmless no-op.
//
// Example:
//   auto call = PendingCall::Start();
//   manager->WaitJob(id, [call, response](v1::Job job) {
//     call->Complete(grpc::Status::OK, [&] { *response->mutable_job() = job;
//     });
//   });
//   return call.get();
//
// Thread safety: every method may be called concurrently.

#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "core/internal/mutex.h"
#include "grpcpp/grpcpp.h"

namespace jobpool {

class PendingCall final : public grpc::ServerUnaryReactor {
 public:
  static std::shared_ptr<PendingCall> Start(
      grpc::CallbackServerContext* context) {
    std::shared_ptr<PendingCall> call(new PendingCall(context));
    call->self_ = call;
    return call;
  }

  // Fills the response with `fill` and finishes with `status`, unless the
  // call has finished already.
  void Complete(
      const grpc::Status& status, absl::FunctionRef<void()> fill = [] {}) {
    {
      internal::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
      on_cancel_ = nullptr;
      fill();
    }
    Finish(status);
  }

  // Runs `hook` when the caller goes away (at once if it already has).
  void OnCallerGone(absl::AnyInvocable<void()> hook) {
    {
      internal::MutexLock lock(&mu_);
      if (!cancelled_) {
        if (!finished_) on_cancel_ = std::move(hook);
        return;
      }
    }
    hook();
  }

  void OnCancel() override {
    absl::AnyInvocable<void()> hook;
    {
      internal::MutexLock lock(&mu_);
      cancelled_ = true;
      hook = std::move(on_cancel_);
      on_cancel_ = nullptr;
    }
    if (hook) hook();
    const bool expired =
        context_->deadline() <= std::chrono::system_clock::now();
    Complete(expired ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                    "deadline passed while waiting")
                     : grpc::Status(grpc::StatusCode::CANCELLED,
                                    "caller went away"));
  }

  void OnDone() override {
    std::shared_ptr<PendingCall> last = std::move(self_);  // May free `this`.
  }

 private:
  explicit PendingCall(grpc::CallbackServerContext* context)
      : context_(context) {}

  grpc::CallbackServerContext* const context_;
  std::shared_ptr<PendingCall> self_;  // Until OnDone().
  internal::Mutex mu_;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  absl::AnyInvocable<void()> on_cancel_ ABSL_GUARDED_BY(mu_);
};

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_PENDING_CALL_H_
