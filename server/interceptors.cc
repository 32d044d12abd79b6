#include "server/interceptors.h"

#include <algorithm>
#include <cstdint>
#include <optional>

#include "absl/strings/str_cat.h"
#include "proto/status_convert.h"

namespace jobpool {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::Interceptor;
using grpc::experimental::InterceptorBatchMethods;
using grpc::experimental::ServerInterceptorFactoryInterface;
using grpc::experimental::ServerRpcInfo;

constexpr char kPushbackKey[] = "grpc-retry-pushback-ms";

class RetryPushback final : public Interceptor {
 public:
  void Intercept(InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      if (!status.ok() && !status.error_details().empty()) {
        const std::optional<absl::Duration> delay =
            RetryDelay(FromGrpcStatus(status));
        if (delay.has_value()) {
          const int64_t millis =
              std::max<int64_t>(0, absl::ToInt64Milliseconds(*delay));
          methods->GetSendTrailingMetadata()->emplace(kPushbackKey,
                                                      absl::StrCat(millis));
        }
      }
    }
    methods->Proceed();
  }
};

class RetryPushbackFactory final : public ServerInterceptorFactoryInterface {
 public:
  Interceptor* CreateServerInterceptor(ServerRpcInfo* /*info*/) override {
    return new RetryPushback;
  }
};

class HandledCounter final : public Interceptor {
 public:
  HandledCounter(Metrics* metrics, const char* method)
      : metrics_(metrics), method_(method) {}
  // gRPC drops the interceptors when the call is over, however it ended
  // (a caller that vanished gets no status sent).
  ~HandledCounter() override {
    if (started_) metrics_->RpcEnded(method_);
  }

  void Intercept(InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      started_ = true;
      metrics_->RpcStarted(method_);
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      const auto code =
          static_cast<absl::StatusCode>(methods->GetSendStatus().error_code());
      metrics_->RpcHandled(method_, absl::StatusCodeToString(code));
    }
    methods->Proceed();
  }

 private:
  Metrics* const metrics_;
  const char* const method_;
  bool started_ = false;
};

class HandledCounterFactory final : public ServerInterceptorFactoryInterface {
 public:
  explicit HandledCounterFactory(Metrics* metrics) : metrics_(metrics) {}
  Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    return new HandledCounter(metrics_, info->method());
  }

 private:
  Metrics* const metrics_;
};

}  // namespace

std::vector<std::unique_ptr<ServerInterceptorFactoryInterface>>
MakeServerInterceptors(Metrics* metrics) {
  std::vector<std::unique_ptr<ServerInterceptorFactoryInterface>> out;
  out.push_back(std::make_unique<RetryPushbackFactory>());
  if (metrics != nullptr) {
    out.push_back(std::make_unique<HandledCounterFactory>(metrics));
  }
  return out;
}

}  // namespace jobpool
