// jobpoold's security flags, with the real binaries: tokens from a file
// and from the environment, the loopback-only default, what the log shows.

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/jobctl_process.h"
#include "tests/e2e/jobpoold_process.h"

namespace jobpool {
namespace {

using ::jobpool::testing::JobpooldProcess;
using ::jobpool::testing::RunJobctl;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAdmin[] = "adm-5d2e81c0f4";
constexpr char kSubmit[] = "sub-9a7b3e6612";

std::string TokenFile() {
  const std::string path = ::testing::TempDir() + "/jobpool-tokens";
  std::ofstream(path) << "# roles\nadmin " << kAdmin << "\nsubmit " << kSubmit
                      << "\n";
  return path;
}

TEST(SecureJobpooldTest, RefusesToListenBeyondLoopbackWithoutTokens) {
  JobpooldProcess refused({"--listen=0.0.0.0:0"});
  EXPECT_EQ(refused.Wait(), 2);
  EXPECT_THAT(refused.log(), HasSubstr("without authentication"));
  EXPECT_THAT(refused.log(),
              HasSubstr("--insecure_allow_unauthenticated_remote"));

  JobpooldProcess allowed(
      {"--listen=0.0.0.0:0", "--insecure_allow_unauthenticated_remote"});
  EXPECT_GT(allowed.port(), 0) << allowed.log();
  EXPECT_THAT(allowed.log(), HasSubstr("WITHOUT authentication"));
}

TEST(SecureJobpooldTest, TokenRolesThroughJobctlAndNothingSecretInTheLog) {
  JobpooldProcess server(
      {"--listen=0.0.0.0:0", absl::StrCat("--auth_token_file=", TokenFile())});
  ASSERT_GT(server.port(), 0) << server.log();
  const std::string address = absl::StrCat("--server=", server.address());
  const std::string payload = "payload-7f3c2e-do-not-log";

  auto anonymous = RunJobctl({address, "--attempts=1", "stats"});
  EXPECT_EQ(anonymous.exit_code, 6) << anonymous.err;
  EXPECT_THAT(anonymous.err, HasSubstr("UNAUTHENTICATED"));

  auto submitted = RunJobctl(
      {address, absl::StrCat("--token=", kSubmit), "submit", "--kind=echo",
       absl::StrCat("--payload=", payload), "--wait", "--raw"});
  EXPECT_EQ(submitted.exit_code, 0) << submitted.err;
  EXPECT_EQ(submitted.out, payload);

  auto denied = RunJobctl(
      {address, absl::StrCat("--token=", kSubmit), "tune", "--size=3"});
  EXPECT_EQ(denied.exit_code, 6) << denied.err;
  EXPECT_THAT(denied.err, HasSubstr("PERMISSION_DENIED"));

  auto tuned = RunJobctl(
      {address, absl::StrCat("--token=", kAdmin), "tune", "--size=3"});
  EXPECT_EQ(tuned.exit_code, 0) << tuned.err;

  auto wrong = RunJobctl({address, "--attempts=1", "--token=guess", "stats"});
  EXPECT_EQ(wrong.exit_code, 6);

  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(), 0);
  EXPECT_THAT(server.log(), HasSubstr("2 bearer token(s) required"));
  EXPECT_THAT(server.log(), Not(HasSubstr(kAdmin)));
  EXPECT_THAT(server.log(), Not(HasSubstr(kSubmit)));
  EXPECT_THAT(server.log(), Not(HasSubstr("guess")));
  EXPECT_THAT(server.log(), Not(HasSubstr(payload)));
}

TEST(SecureJobpooldTest, AnonymousSubmitAndTokensFromTheEnvironment) {
  setenv("JOBPOOL_ADMIN_TOKEN", kAdmin, 1);  // Inherited by the child.
  JobpooldProcess server({"--anonymous_submit"});
  unsetenv("JOBPOOL_ADMIN_TOKEN");
  ASSERT_GT(server.port(), 0) << server.log();
  const std::string address = absl::StrCat("--server=", server.address());
  auto job = RunJobctl({address, "submit", "--kind=noop", "--wait"});
  EXPECT_EQ(job.exit_code, 0) << job.err;
  auto tune = RunJobctl({address, "--attempts=1", "tune", "--size=2"});
  EXPECT_EQ(tune.exit_code, 6) << tune.err;
  auto admin = RunJobctl(
      {address, absl::StrCat("--token=", kAdmin), "tune", "--size=2"});
  EXPECT_EQ(admin.exit_code, 0) << admin.err;
}

TEST(SecureJobpooldTest, TokenFileAndLimitsFromTheConfigFile) {
  const std::string path = ::testing::TempDir() + "/secure.textproto";
  std::ofstream(path) << "auth_token_file: \"" << TokenFile()
                      << "\"\nmax_params: 1\n";
  JobpooldProcess server({absl::StrCat("--config=", path)});
  ASSERT_GT(server.port(), 0) << server.log();
  const std::string address = absl::StrCat("--server=", server.address());
  const std::string token = absl::StrCat("--token=", kSubmit);
  auto one = RunJobctl(
      {address, token, "submit", "--kind=sleep", "--param=duration=1ms"});
  EXPECT_EQ(one.exit_code, 0) << one.err;
  auto two = RunJobctl({address, token, "submit", "--kind=sleep",
                        "--param=duration=1ms", "--param=x=y"});
  EXPECT_EQ(two.exit_code, 2) << two.err;
  EXPECT_THAT(two.err, HasSubstr("--max_params"));
  auto anonymous = RunJobctl({address, "--attempts=1", "kinds"});
  EXPECT_EQ(anonymous.exit_code, 6);
}

}  // namespace
}  // namespace jobpool
