// Every limit a client can run into, over a real channel: the status code,
// and a message that names the limit (its flag).

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/test_server.h"
#include "tests/testing/wait_until.h"

namespace jobpool {
namespace {

using ::jobpool::testing::Deadline;
using ::jobpool::testing::MakePoolConfig;
using ::jobpool::testing::Spec;
using ::jobpool::testing::TestServer;
using ::testing::HasSubstr;

ManagerOptions Small() {
  ManagerOptions options;
  options.max_payload_bytes = 100;
  options.max_params = 2;
  options.max_param_bytes = 16;
  options.max_batch_jobs = 5;
  options.max_retained_batches = 2;
  options.max_idempotency_keys = 2;
  options.max_retained_jobs = 1000;
  options.max_live_jobs = 1000;
  return options;
}

grpc::Status Submit(TestServer& server, const v1::JobSpec& spec) {
  v1::SubmitRequest request;
  *request.mutable_job() = spec;
  request.set_wait_for_result(true);
  v1::SubmitResponse response;
  return server.stub().Submit(Deadline(absl::Seconds(30)).get(), request,
                              &response);
}

grpc::Status CreateBatch(TestServer& server, int jobs, bool seal,
                         std::string* id = nullptr) {
  v1::CreateBatchRequest request;
  for (int i = 0; i < jobs; ++i) *request.add_jobs() = Spec("noop");
  request.mutable_options()->set_seal(seal);
  v1::CreateBatchResponse response;
  grpc::Status status = server.stub().CreateBatch(
      Deadline(absl::Seconds(30)).get(), request, &response);
  if (id != nullptr) *id = response.batch_id();
  return status;
}

MATCHER_P2(GrpcStatusIs, code, text, "") {
  *result_listener << "status " << arg.error_code() << ": "
                   << arg.error_message();
  return arg.error_code() == code &&
         arg.error_message().find(text) != std::string::npos;
}

TEST(LimitsTest, PayloadAndParameters) {
  TestServer server({MakePoolConfig("default", 2)}, Small());
  EXPECT_THAT(Submit(server, Spec("echo", {}, std::string(101, 'x'))),
              GrpcStatusIs(grpc::INVALID_ARGUMENT, "--max_payload_bytes"));
  EXPECT_TRUE(Submit(server, Spec("echo", {}, std::string(100, 'x'))).ok());
  EXPECT_THAT(
      Submit(server, Spec("noop", {{"a", "1"}, {"b", "2"}, {"c", "3"}})),
      GrpcStatusIs(grpc::INVALID_ARGUMENT, "--max_params"));
  EXPECT_THAT(Submit(server, Spec("noop", {{"a", std::string(16, 'v')}})),
              GrpcStatusIs(grpc::INVALID_ARGUMENT, "--max_param_bytes"));
  EXPECT_TRUE(Submit(server, Spec("noop", {{"a", std::string(15, 'v')}})).ok());
  v1::JobSpec keyed = Spec("noop");
  keyed.set_idempotency_key(std::string(257, 'k'));
  EXPECT_THAT(Submit(server, keyed),
              GrpcStatusIs(grpc::INVALID_ARGUMENT, "idempotency key"));
}

TEST(LimitsTest, BatchSizeOverAllItsCalls) {
  TestServer server({MakePoolConfig("default", 2)}, Small());
  EXPECT_THAT(CreateBatch(server, 6, true),
              GrpcStatusIs(grpc::INVALID_ARGUMENT, "--max_batch_jobs"));
  std::string id;
  ASSERT_TRUE(CreateBatch(server, 4, false, &id).ok());
  v1::AddToBatchRequest add;
  add.set_batch_id(id);
  *add.add_jobs() = Spec("noop");
  *add.add_jobs() = Spec("noop");
  v1::AddToBatchResponse added;
  EXPECT_THAT(
      server.stub().AddToBatch(Deadline(absl::Seconds(30)).get(), add, &added),
      GrpcStatusIs(grpc::INVALID_ARGUMENT, "--max_batch_jobs"));
  add.mutable_jobs()->RemoveLast();
  EXPECT_TRUE(server.stub()
                  .AddToBatch(Deadline(absl::Seconds(30)).get(), add, &added)
                  .ok());

  v1::RunBatchRequest run;
  for (int i = 0; i < 6; ++i) *run.add_jobs() = Spec("noop");
  auto context = Deadline(absl::Seconds(30));
  auto reader = server.stub().RunBatch(context.get(), run);
  v1::RunBatchResponse message;
  while (reader->Read(&message)) {
  }
  EXPECT_THAT(reader->Finish(),
              GrpcStatusIs(grpc::INVALID_ARGUMENT, "--max_batch_jobs"));
}

TEST(LimitsTest, RetainedBatchesAndFinishedOnesMakeRoom) {
  TestServer server({MakePoolConfig("default", 2)}, Small());
  std::string first;
  ASSERT_TRUE(CreateBatch(server, 1, false, &first).ok());
  ASSERT_TRUE(CreateBatch(server, 1, false).ok());
  // Two unfinished (unsealed) batches: the third is refused.
  EXPECT_THAT(CreateBatch(server, 1, true),
              GrpcStatusIs(grpc::RESOURCE_EXHAUSTED, "--max_retained_batches"));
  // Once one is finished, it may be forgotten to make room.
  v1::SealBatchRequest seal;
  seal.set_batch_id(first);
  v1::WaitBatchRequest wait;
  wait.set_batch_id(first);
  v1::SealBatchResponse sealed;
  v1::WaitBatchResponse done;
  ASSERT_TRUE(server.stub()
                  .SealBatch(Deadline(absl::Seconds(30)).get(), seal, &sealed)
                  .ok());
  ASSERT_TRUE(server.stub()
                  .WaitBatch(Deadline(absl::Seconds(30)).get(), wait, &done)
                  .ok());
  EXPECT_TRUE(CreateBatch(server, 1, true).ok());
}

TEST(LimitsTest, IdempotencyKeysRetained) {
  TestServer server({MakePoolConfig("default", 2)}, Small());
  for (const char* key : {"k1", "k2"}) {
    v1::JobSpec spec = Spec("noop");
    spec.set_idempotency_key(key);
    EXPECT_TRUE(Submit(server, spec).ok());
  }
  v1::JobSpec third = Spec("noop");
  third.set_idempotency_key("k3");
  EXPECT_THAT(Submit(server, third),
              GrpcStatusIs(grpc::RESOURCE_EXHAUSTED, "--max_idempotency_keys"));
  // A key already known is still answered; a job without a key still runs.
  v1::JobSpec again = Spec("noop");
  again.set_idempotency_key("k1");
  EXPECT_TRUE(Submit(server, again).ok());
  EXPECT_TRUE(Submit(server, Spec("noop")).ok());
}

TEST(LimitsTest, QueuedPayloadBytes) {
  ManagerOptions options = Small();
  options.max_payload_bytes = 1000;
  options.max_queued_payload_bytes = 250;
  TestServer server({MakePoolConfig("default", 1)}, options);
  // A running job's payload counts until it ends.
  v1::SubmitRequest running;
  *running.mutable_job() =
      Spec("sleep", {{"duration", "30s"}}, std::string(200, 'p'));
  v1::SubmitResponse response;
  ASSERT_TRUE(server.stub()
                  .Submit(Deadline(absl::Seconds(30)).get(), running, &response)
                  .ok());
  EXPECT_THAT(
      Submit(server, Spec("echo", {}, std::string(100, 'x'))),
      GrpcStatusIs(grpc::RESOURCE_EXHAUSTED, "--max_queued_payload_bytes"));
  v1::CreateBatchRequest batch;
  *batch.add_jobs() = Spec("echo", {}, std::string(30, 'x'));
  *batch.add_jobs() = Spec("echo", {}, std::string(30, 'x'));
  v1::CreateBatchResponse created;
  EXPECT_THAT(
      server.stub().CreateBatch(Deadline(absl::Seconds(30)).get(), batch,
                                &created),
      GrpcStatusIs(grpc::RESOURCE_EXHAUSTED, "--max_queued_payload_bytes"));
  // Once it has ended, the budget is free again.
  v1::CancelJobRequest cancel;
  cancel.set_id(response.job().id());
  v1::CancelJobResponse cancelled;
  ASSERT_TRUE(
      server.stub()
          .CancelJob(Deadline(absl::Seconds(30)).get(), cancel, &cancelled)
          .ok());
  v1::WaitJobRequest wait;
  wait.set_id(response.job().id());
  v1::WaitJobResponse ended;
  ASSERT_TRUE(server.stub()
                  .WaitJob(Deadline(absl::Seconds(30)).get(), wait, &ended)
                  .ok());
  EXPECT_TRUE(Submit(server, Spec("echo", {}, std::string(100, 'x'))).ok());
}

TEST(LimitsTest, RetainedOutputBytes) {
  ManagerOptions options = Small();
  options.max_payload_bytes = 1000;
  options.max_retained_output_bytes = 1000;
  TestServer server({MakePoolConfig("default", 2)}, options);
  // Oldest finished jobs make room for new outputs.
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    v1::SubmitRequest request;
    *request.mutable_job() = Spec("echo", {}, std::string(400, 'o'));
    request.set_wait_for_result(true);
    v1::SubmitResponse response;
    ASSERT_TRUE(
        server.stub()
            .Submit(Deadline(absl::Seconds(30)).get(), request, &response)
            .ok());
    ids.push_back(response.job().id());
  }
  v1::GetJobRequest first;
  first.set_id(ids[0]);
  v1::GetJobResponse got;
  EXPECT_EQ(server.stub()
                .GetJob(Deadline(absl::Seconds(30)).get(), first, &got)
                .error_code(),
            grpc::NOT_FOUND);
  first.set_id(ids[2]);
  EXPECT_TRUE(server.stub()
                  .GetJob(Deadline(absl::Seconds(30)).get(), first, &got)
                  .ok());
  EXPECT_EQ(got.job().output().size(), 400u);

  // An open batch keeps its jobs' outputs; past the budget, new work is
  // refused until it is sealed.
  std::string open;
  v1::CreateBatchRequest batch;
  *batch.add_jobs() = Spec("echo", {}, std::string(700, 'b'));
  *batch.add_jobs() = Spec("echo", {}, std::string(700, 'b'));
  v1::CreateBatchResponse created;
  ASSERT_TRUE(
      server.stub()
          .CreateBatch(Deadline(absl::Seconds(30)).get(), batch, &created)
          .ok());
  v1::GetBatchRequest get_batch;
  get_batch.set_batch_id(created.batch_id());
  ASSERT_TRUE(::jobpool::testing::WaitUntil([&] {
    v1::WaitBatchResponse now;
    return server.stub()
               .GetBatch(Deadline(absl::Seconds(30)).get(), get_batch, &now)
               .ok() &&
           now.summary().succeeded() == 2;
  }));
  EXPECT_THAT(
      Submit(server, Spec("noop")),
      GrpcStatusIs(grpc::RESOURCE_EXHAUSTED, "--max_retained_output_bytes"));
  v1::SealBatchRequest seal;
  seal.set_batch_id(created.batch_id());
  v1::SealBatchResponse sealed;
  ASSERT_TRUE(server.stub()
                  .SealBatch(Deadline(absl::Seconds(30)).get(), seal, &sealed)
                  .ok());
  // Sealed and complete, the batch may be forgotten at the next eviction.
  EXPECT_TRUE(Submit(server, Spec("echo", {}, "after")).ok());
  EXPECT_TRUE(Submit(server, Spec("noop")).ok());
}

TEST(LimitsTest, MessageSize) {
  ServerOptions options;
  options.max_message_bytes = 4096;
  TestServer server({MakePoolConfig("default", 2)}, ManagerOptions(), {}, false,
                    options);
  EXPECT_THAT(Submit(server, Spec("echo", {}, std::string(8192, 'x'))),
              GrpcStatusIs(grpc::RESOURCE_EXHAUSTED, "larger than max"));
}

}  // namespace
}  // namespace jobpool
