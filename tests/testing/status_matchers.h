#ifndef JOBPOOL_TESTS_TESTING_STATUS_MATCHERS_H_
#define JOBPOOL_TESTS_TESTING_STATUS_MATCHERS_H_

// IsOk() and StatusIs(code) for absl::Status and absl::StatusOr<T>, which
// this GoogleTest and Abseil do not provide.
//
// Example:
//   EXPECT_THAT(pool->Submit(task), IsOk());
//   EXPECT_THAT(pool->Tune(0), StatusIs(absl::StatusCode::kInvalidArgument));

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace jobpool::testing {

inline const absl::Status& GetStatus(const absl::Status& status) {
  return status;
}

template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& status = GetStatus(arg);
  if (!status.ok()) *result_listener << "which is " << status;
  return status.ok();
}

MATCHER_P(StatusIs, code,
          std::string("has code ") + absl::StatusCodeToString(code)) {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "which is " << status;
  return status.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           std::string("has code ") + absl::StatusCodeToString(code) +
               " and a matching message") {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "which is " << status;
  return status.code() == code &&
         ::testing::Matches(message_matcher)(std::string(status.message()));
}

}  // namespace jobpool::testing

#endif  // JOBPOOL_TESTS_TESTING_STATUS_MATCHERS_H_
