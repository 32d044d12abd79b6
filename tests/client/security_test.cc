// Authentication, TLS and mTLS end to end: a real server on loopback, the
// client library over real channels, certificates made by openssl(1).

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/auth.h"
#include "server/server.h"
#include "tests/server/test_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait_until.h"

namespace jobpool {
namespace {

using ::jobpool::testing::IsOk;
using ::jobpool::testing::MakePoolConfig;
using ::jobpool::testing::Spec;
using ::jobpool::testing::StatusIs;
using ::jobpool::testing::TestServer;
using ::jobpool::testing::WaitUntil;
using ::testing::HasSubstr;

constexpr char kAdmin[] = "admin-3c1f9e";
constexpr char kSubmit[] = "submit-77ab02";

TEST(AuthenticatorTest, ParsesRolesAndChecksTokens) {
  auto auth = Authenticator::FromText(
      "# comment\n\nadmin  admin-3c1f9e\nsubmit\tsubmit-77ab02\n");
  ASSERT_THAT(auth.status(), IsOk());
  EXPECT_TRUE(auth->Enabled());
  EXPECT_EQ(auth->Count(), 2);
  EXPECT_THAT(auth->Check("Bearer admin-3c1f9e", Role::kAdmin), IsOk());
  EXPECT_THAT(auth->Check("bearer admin-3c1f9e", Role::kSubmit), IsOk());
  EXPECT_THAT(auth->Check("Bearer submit-77ab02", Role::kSubmit), IsOk());
  EXPECT_THAT(
      auth->Check("Bearer submit-77ab02", Role::kAdmin),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("admin token")));
  EXPECT_THAT(auth->Check("", Role::kSubmit),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(auth->Check("Bearer ", Role::kSubmit),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(auth->Check("Basic YWRtaW4=", Role::kSubmit),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(auth->Check("Bearer admin-3c1f9", Role::kSubmit),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(auth->Check("Bearer admin-3c1f9e0", Role::kSubmit),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(AuthenticatorTest, AnonymousSubmitGuardsTheAdminRpcsOnly) {
  Authenticator auth;
  auth.Add(Role::kAdmin, kAdmin);
  auth.AllowAnonymousSubmit(true);
  EXPECT_THAT(auth.Check("", Role::kSubmit), IsOk());
  EXPECT_THAT(auth.Check("", Role::kAdmin),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(auth.Check("Bearer wrong", Role::kSubmit),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(auth.Check("Bearer admin-3c1f9e", Role::kAdmin), IsOk());
}

TEST(AuthenticatorTest, RefusesBadFilesWithoutEchoingTokens) {
  EXPECT_THAT(Authenticator::FromText("root secret-1\n").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("line 1"),
                                        ::testing::Not(HasSubstr("secret")))));
  EXPECT_THAT(
      Authenticator::FromText("admin\n").status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 1")));
  EXPECT_THAT(Authenticator::FromText("admin a b\n").status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      Authenticator::FromFile("/nonexistent/tokens").status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot read")));
  EXPECT_FALSE(Authenticator().Enabled());
  EXPECT_THAT(Authenticator().Check("", Role::kAdmin), IsOk());
}

TEST(LoopbackTest, RecognisesLoopbackAddresses) {
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:50051"));
  EXPECT_TRUE(IsLoopbackAddress("127.3.2.1:0"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:50051"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:50051"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:50051"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:50051"));
  EXPECT_FALSE(IsLoopbackAddress(":50051"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.7:50051"));
  EXPECT_FALSE(IsLoopbackAddress("128.0.0.1:50051"));
  EXPECT_FALSE(IsLoopbackAddress("example.com:50051"));
}

std::unique_ptr<JobManager> Manager(KindRegistry& kinds) {
  ManagerOptions options;
  options.replica = "test";
  auto manager =
      JobManager::Create(options, {MakePoolConfig("default", 2)}, &kinds);
  EXPECT_THAT(manager.status(), IsOk());
  return *std::move(manager);
}

TEST(LoopbackTest, NoTokenMeansLoopbackOnlyUnlessTheRiskIsAccepted) {
  KindRegistry kinds = KindRegistry::WithBuiltins();
  auto manager = Manager(kinds);
  ServerOptions options;
  options.listen = "0.0.0.0:0";
  EXPECT_THAT(Server::Start(options, manager.get()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--insecure_allow_unauthenticated_remote")));

  options.auth.Add(Role::kAdmin, kAdmin);
  auto with_token = Server::Start(options, manager.get());
  EXPECT_THAT(with_token.status(), IsOk());
  with_token = nullptr;

  options.auth = Authenticator();
  options.allow_unauthenticated_remote = true;
  EXPECT_THAT(Server::Start(options, manager.get()).status(), IsOk());
}

ServerOptions WithTokens() {
  ServerOptions options;
  options.auth.Add(Role::kAdmin, kAdmin);
  options.auth.Add(Role::kSubmit, kSubmit);
  return options;
}

std::unique_ptr<Client> Connect(const std::string& address,
                                const std::string& token, TlsOptions tls = {}) {
  ClientOptions options;
  options.servers = {address};
  options.token = token;
  options.tls = std::move(tls);
  options.max_attempts = 1;
  options.timeout = absl::Seconds(20);
  auto client = Client::Connect(options);
  EXPECT_THAT(client.status(), IsOk());
  return *std::move(client);
}

TEST(AuthTest, EveryRpcNeedsAToken) {
  TestServer server({MakePoolConfig("default", 2)}, {}, {}, false,
                    WithTokens());
  auto anonymous = Connect(server.address(), "");
  const auto unauthenticated = StatusIs(absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(anonymous->Submit(Spec("noop")).status(), unauthenticated);
  EXPECT_THAT(anonymous->GetJob("test/default/1").status(), unauthenticated);
  EXPECT_THAT(anonymous->WaitJob("test/default/1").status(), unauthenticated);
  EXPECT_THAT(anonymous->CancelJob("test/default/1").status(), unauthenticated);
  EXPECT_THAT(anonymous->CreateBatch({Spec("noop")}, {}).status(),
              unauthenticated);
  EXPECT_THAT(anonymous->AddToBatch("b", {Spec("noop")}).status(),
              unauthenticated);
  EXPECT_THAT(anonymous->SealBatch("b"), unauthenticated);
  EXPECT_THAT(anonymous->GetBatch("b").status(), unauthenticated);
  EXPECT_THAT(anonymous->WaitBatch("b").status(), unauthenticated);
  EXPECT_THAT(anonymous->CancelBatch("b").status(), unauthenticated);
  EXPECT_THAT(anonymous->RunBatch({Spec("noop")}).status(), unauthenticated);
  EXPECT_THAT(anonymous->Tune("default", 3).status(), unauthenticated);
  EXPECT_THAT(anonymous->Reboot("default").status(), unauthenticated);
  EXPECT_THAT(anonymous->Release("default").status(), unauthenticated);
  EXPECT_THAT(anonymous->Stats().status(), unauthenticated);
  EXPECT_THAT(
      anonymous->WatchStats(absl::Milliseconds(100),
                            [](const v1::StatsResponse&) { return false; }),
      unauthenticated);
  EXPECT_THAT(anonymous->ListKinds().status(), unauthenticated);
  // Health stays open for probes, and nothing ran.
  EXPECT_THAT(anonymous->Health().status(), IsOk());
  EXPECT_EQ(server.manager().Stats().totals().submitted(), 0);

  auto stranger = Connect(server.address(), "not-a-token");
  EXPECT_THAT(stranger->Submit(Spec("noop")).status(), unauthenticated);
}

TEST(AuthTest, SubmitRoleRunsJobsButCannotAdminister) {
  TestServer server({MakePoolConfig("default", 2)}, {}, {}, false,
                    WithTokens());
  auto submitter = Connect(server.address(), kSubmit);
  auto job = submitter->Run(Spec("echo", {}, "hi"));
  ASSERT_THAT(job.status(), IsOk());
  EXPECT_EQ(job->output(), "hi");
  EXPECT_THAT(submitter->GetJob(job->id()).status(), IsOk());
  EXPECT_THAT(submitter->RunBatch({Spec("noop"), Spec("noop")}).status(),
              IsOk());
  EXPECT_THAT(submitter->Stats().status(), IsOk());
  EXPECT_THAT(submitter->ListKinds().status(), IsOk());
  const auto denied = StatusIs(absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(submitter->Tune("default", 3).status(), denied);
  EXPECT_THAT(submitter->Reboot("default").status(), denied);
  EXPECT_THAT(submitter->Release("default").status(), denied);
  EXPECT_EQ(server.manager().Stats().pools(0).capacity(), 2);

  auto admin = Connect(server.address(), kAdmin);
  EXPECT_THAT(admin->Run(Spec("noop")).status(), IsOk());
  auto tuned = admin->Tune("default", 3);
  ASSERT_THAT(tuned.status(), IsOk());
  EXPECT_EQ(tuned->capacity(), 3);
}

// A CA, certificates it signs, and files to rotate them, in a temporary
// directory.
class Certificates {
 public:
  Certificates() {
    char dir[] = "/tmp/jobpool-certs-XXXXXX";
    dir_ = mkdtemp(dir);
  }
  ~Certificates() { (void)std::system(("rm -rf " + dir_).c_str()); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // A self-signed CA `name`.pem / `name`.key.
  void MakeCa(const std::string& name) {
    Run(absl::StrCat(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
        "-subj /CN=",
        name, " -keyout ", Path(name + ".key"), " -out ", Path(name + ".pem")));
  }

  // A certificate `name`.pem / `name`.key for localhost and 127.0.0.1,
  // signed by `ca`.
  void MakeLeaf(const std::string& name, const std::string& ca) {
    const std::string ext = Path(name + ".ext");
    std::ofstream(ext) << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    Run(absl::StrCat("openssl req -newkey rsa:2048 -nodes -subj /CN=", name,
                     " -keyout ", Path(name + ".key"), " -out ",
                     Path(name + ".csr")));
    Run(absl::StrCat("openssl x509 -req -days 2 -in ", Path(name + ".csr"),
                     " -CA ", Path(ca + ".pem"), " -CAkey ", Path(ca + ".key"),
                     " -CAcreateserial -extfile ", ext, " -out ",
                     Path(name + ".pem")));
  }

  // Replaces `to`.pem/.key with `from`'s, as a secret rotation does.
  void Install(const std::string& from, const std::string& to) {
    Run(absl::StrCat("cp ", Path(from + ".key"), " ", Path(to + ".key.new"),
                     " && cp ", Path(from + ".pem"), " ", Path(to + ".pem.new"),
                     " && mv ", Path(to + ".key.new"), " ", Path(to + ".key"),
                     " && mv ", Path(to + ".pem.new"), " ", Path(to + ".pem")));
  }

 private:
  static void Run(const std::string& command) {
    ASSERT_EQ(std::system((command + " 2>/dev/null").c_str()), 0) << command;
  }

  std::string dir_;
};

TlsOptions TrustOnly(const Certificates& certs, const std::string& ca) {
  TlsOptions tls;
  tls.enabled = true;
  tls.ca_file = certs.Path(ca + ".pem");
  tls.server_name = "localhost";
  return tls;
}

TEST(TlsTest, ServesTlsAndReloadsARotatedCertificate) {
  Certificates certs;
  certs.MakeCa("ca1");
  certs.MakeCa("ca2");
  certs.MakeLeaf("server1", "ca1");
  certs.MakeLeaf("server2", "ca2");
  certs.Install("server1", "server");
  ServerOptions options = WithTokens();
  options.tls_cert_file = certs.Path("server.pem");
  options.tls_key_file = certs.Path("server.key");
  options.tls_reload_interval = absl::Seconds(1);
  TestServer server({MakePoolConfig("default", 2)}, {}, {}, false, options);

  auto trusted = Connect(server.address(), kSubmit, TrustOnly(certs, "ca1"));
  EXPECT_THAT(trusted->Run(Spec("noop")).status(), IsOk());
  // Plaintext, or a client trusting another CA, cannot talk to it.
  auto plaintext = Connect(server.address(), kSubmit);
  EXPECT_THAT(plaintext->Stats().status(),
              StatusIs(absl::StatusCode::kUnavailable));
  auto other = Connect(server.address(), kSubmit, TrustOnly(certs, "ca2"));
  EXPECT_THAT(other->Stats().status(),
              StatusIs(absl::StatusCode::kUnavailable));

  // Rotate to a certificate from ca2: new connections get it, no restart.
  certs.Install("server2", "server");
  EXPECT_TRUE(WaitUntil([&] {
    return Connect(server.address(), kSubmit, TrustOnly(certs, "ca2"))
        ->Stats()
        .ok();
  }));
  EXPECT_THAT(Connect(server.address(), kSubmit, TrustOnly(certs, "ca1"))
                  ->Stats()
                  .status(),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST(TlsTest, MutualTlsRequiresAClientCertificateFromTheCa) {
  Certificates certs;
  certs.MakeCa("ca");
  certs.MakeCa("rogue");
  certs.MakeLeaf("server", "ca");
  certs.MakeLeaf("client", "ca");
  certs.MakeLeaf("intruder", "rogue");
  ServerOptions options;
  options.tls_cert_file = certs.Path("server.pem");
  options.tls_key_file = certs.Path("server.key");
  options.tls_client_ca_file = certs.Path("ca.pem");
  TestServer server({MakePoolConfig("default", 2)}, {}, {}, false, options);

  TlsOptions tls = TrustOnly(certs, "ca");
  EXPECT_THAT(Connect(server.address(), "", tls)->Stats().status(),
              StatusIs(absl::StatusCode::kUnavailable));
  TlsOptions intruder = tls;
  intruder.cert_file = certs.Path("intruder.pem");
  intruder.key_file = certs.Path("intruder.key");
  EXPECT_THAT(Connect(server.address(), "", intruder)->Stats().status(),
              StatusIs(absl::StatusCode::kUnavailable));
  TlsOptions client = tls;
  client.cert_file = certs.Path("client.pem");
  client.key_file = certs.Path("client.key");
  auto job = Connect(server.address(), "", client)->Run(Spec("echo", {}, "m"));
  ASSERT_THAT(job.status(), IsOk());
  EXPECT_EQ(job->output(), "m");
}

TEST(TlsTest, MissingFilesAreRefusedAtStart) {
  KindRegistry kinds = KindRegistry::WithBuiltins();
  auto manager = Manager(kinds);
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.tls_cert_file = "/nonexistent/server.pem";
  options.tls_key_file = "/nonexistent/server.key";
  EXPECT_THAT(Server::Start(options, manager.get()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("/nonexistent/server.pem")));
  options.tls_key_file = "";
  EXPECT_THAT(Server::Start(options, manager.get()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--tls_key_file")));
}

}  // namespace
}  // namespace jobpool
