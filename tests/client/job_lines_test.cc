// The JSON-lines job files of `jobctl batch --file`.

#include "client/jobctl/job_lines.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace jobpool::jobctl {
namespace {

using ::jobpool::testing::IsOk;
using ::jobpool::testing::StatusIs;
using ::testing::HasSubstr;

TEST(JobLinesTest, ReadsEveryField) {
  std::istringstream in(R"(# a comment, then a blank line

{"kind": "sleep", "params": {"duration": "10ms"}, "timeout": "5s"}
{"kind": "echo", "text": "hello"}
{"kind": "sha256", "payload": "aGk=", "idempotency_key": "k"}
{"kind": "noop", "idempotencyKey": "camel"}
)");
  auto jobs = ReadJobLines(in, "jobs.jsonl");
  ASSERT_THAT(jobs.status(), IsOk());
  ASSERT_EQ(jobs->size(), 4u);
  EXPECT_EQ((*jobs)[0].kind(), "sleep");
  EXPECT_EQ((*jobs)[0].params().at("duration"), "10ms");
  EXPECT_EQ((*jobs)[0].timeout().seconds(), 5);
  EXPECT_EQ((*jobs)[1].payload(), "hello");
  EXPECT_EQ((*jobs)[2].payload(), "hi");
  EXPECT_EQ((*jobs)[2].idempotency_key(), "k");
  EXPECT_EQ((*jobs)[3].idempotency_key(), "camel");
}

TEST(JobLinesTest, ErrorsNameTheLine) {
  std::istringstream in(
      "{\"kind\": \"noop\"}\n{\"kind\": \"noop\", \"kindd\": 1}\n");
  EXPECT_THAT(
      ReadJobLines(in, "jobs.jsonl").status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("jobs.jsonl:2")));
}

TEST(JobLinesTest, RejectsWhatIsNotAJob) {
  for (const char* line :
       {"not json", "[1, 2]", "{}", R"({"kind": 3})",
        R"({"kind": "echo", "text": "a", "payload": "YQ=="})",
        R"({"kind": "echo", "payload": "not base64!"})",
        R"({"kind": "sleep", "timeout": "soon"})",
        R"({"kind": "sleep", "params": {"n": 1}})"}) {
    EXPECT_THAT(ParseJobLine(line).status(),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << line;
  }
}

}  // namespace
}  // namespace jobpool::jobctl
