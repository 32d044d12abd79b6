#ifndef JOBPOOL_TESTS_SERVER_TEST_SERVER_H_
#define JOBPOOL_TESTS_SERVER_TEST_SERVER_H_

// TestServer: a real jobpoold service on an ephemeral loopback port, and a
// stub connected to it. No mocks: requests cross a real gRPC channel.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "jobpool/v1/jobpool.grpc.pb.h"
#include "server/job_manager.h"
#include "server/kind_registry.h"
#include "server/server.h"

namespace jobpool::testing {

inline PoolConfig MakePoolConfig(std::string name, int size,
                                 PoolOptions options = {}) {
  PoolConfig config;
  config.name = std::move(name);
  config.size = size;
  config.options = std::move(options);
  return config;
}

class TestServer {
 public:
  // A server with `pools`, the built-in kinds and `extra_kinds`.
  explicit TestServer(std::vector<PoolConfig> pools = {MakePoolConfig("default",
                                                                      4)},
                      ManagerOptions options = {},
                      std::vector<Kind> extra_kinds = {}, bool metrics = false,
                      ServerOptions server_options = {})
      : kinds_(KindRegistry::WithBuiltins()) {
    for (Kind& kind : extra_kinds) {
      EXPECT_TRUE(kinds_.Register(std::move(kind)).ok());
    }
    if (options.replica == ManagerOptions().replica) options.replica = "test";
    auto manager =
        JobManager::Create(std::move(options), std::move(pools), &kinds_);
    EXPECT_TRUE(manager.ok()) << manager.status();
    manager_ = *std::move(manager);
    if (server_options.listen == ServerOptions().listen) {
      server_options.listen = "127.0.0.1:0";
    }
    if (metrics) server_options.metrics_listen = "127.0.0.1:0";
    auto server = Server::Start(server_options, manager_.get());
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);  // A 100,000-job batch report.
    channel_ =
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->Port()),
                                  grpc::InsecureChannelCredentials(), args);
    stub_ = v1::JobPool::NewStub(channel_);
  }

  ~TestServer() {
    server_.reset();
    manager_.reset();
  }

  v1::JobPool::Stub& stub() { return *stub_; }
  JobManager& manager() { return *manager_; }
  Server& server() { return *server_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  std::string address() const {
    return absl::StrCat("127.0.0.1:", server_->Port());
  }

 private:
  KindRegistry kinds_;
  std::unique_ptr<JobManager> manager_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::JobPool::Stub> stub_;
};

// A context whose deadline is `timeout` from now.
inline std::unique_ptr<grpc::ClientContext> Deadline(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

inline v1::JobSpec Spec(
    std::string kind,
    std::vector<std::pair<std::string, std::string>> params = {},
    std::string payload = "") {
  v1::JobSpec spec;
  spec.set_kind(std::move(kind));
  for (auto& [k, v] : params) (*spec.mutable_params())[k] = v;
  spec.set_payload(std::move(payload));
  return spec;
}

}  // namespace jobpool::testing

#endif  // JOBPOOL_TESTS_SERVER_TEST_SERVER_H_
