#include "proto/status_convert.h"

#include "gtest/gtest.h"

namespace jobpool {
namespace {

TEST(StatusConvertTest, EveryCodeRoundTrips) {
  for (int code = 0; code <= 16; ++code) {
    const absl::Status status(static_cast<absl::StatusCode>(code),
                              code == 0 ? "" : "message");
    const grpc::Status wire = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(wire.error_code()), code);
    const absl::Status back = FromGrpcStatus(wire);
    EXPECT_EQ(back.code(), status.code());
    EXPECT_EQ(back.message(), status.message());
  }
}

TEST(StatusConvertTest, RetryAdviceTravelsInTheDetails) {
  const absl::Status overloaded = WithRetryDelay(
      absl::ResourceExhaustedError("busy"), absl::Milliseconds(250));
  const grpc::Status wire = ToGrpcStatus(overloaded);
  EXPECT_FALSE(wire.error_details().empty());
  const absl::Status back = FromGrpcStatus(wire);
  ASSERT_TRUE(RetryDelay(back).has_value());
  EXPECT_EQ(*RetryDelay(back), absl::Milliseconds(250));
  EXPECT_FALSE(RetryDelay(absl::ResourceExhaustedError("x")).has_value());
}

}  // namespace
}  // namespace jobpool
