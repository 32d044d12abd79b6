#ifndef JOBPOOL_SERVER_AUTH_H_
#define JOBPOOL_SERVER_AUTH_H_

// Authenticator
//
// Bearer tokens with two roles. A `submit` token may call the job RPCs
// (Submit, jobs, batches, Stats, WatchStats, ListKinds); an `admin` token may
// call everything, including Tune, Reboot and Release. A caller sends
// "authorization: Bearer <token>". With no token configured every caller is
// admin (the server then listens on loopback only unless told otherwise).
//
// Tokens are compared by their SHA-256 digests with a constant-time
// comparison, so neither a token's bytes nor its length leak through timing;
// the tokens themselves are not kept and never logged.
//
// Token file: one token per line as "ROLE TOKEN" (ROLE is admin or submit);
// blank lines and lines starting with '#' are skipped.
//
// Example:
//   auto auth = Authenticator::FromFile("/etc/jobpool/tokens");
//   if (!auth.ok()) return auth.status();
//   absl::Status s = auth->Check(metadata_value, Role::kAdmin);
//
// Thread safety: const methods may be called concurrently.

#include <array>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace jobpool {

enum class Role { kSubmit, kAdmin };

class Authenticator {
 public:
  // No tokens: authentication off.
  Authenticator() = default;

  // Reads "ROLE TOKEN" lines. An unreadable file, an unknown role or an
  // empty token is INVALID_ARGUMENT (with the line number, not the token).
  static absl::StatusOr<Authenticator> FromFile(const std::string& path);
  // Parses the same format from text (the file's contents).
  static absl::StatusOr<Authenticator> FromText(absl::string_view text);

  // Adds one token; an empty token is ignored.
  void Add(Role role, absl::string_view token);

  // Callers without a token get the submit role: tokens guard the admin
  // RPCs only (--anonymous_submit). An unknown token is still refused.
  void AllowAnonymousSubmit(bool allow) { anonymous_submit_ = allow; }

  bool Enabled() const { return !tokens_.empty(); }
  int Count() const { return static_cast<int>(tokens_.size()); }

  // `authorization` is the request's authorization metadata value (empty
  // when absent). OK when authentication is off or the bearer token grants
  // `needed`; UNAUTHENTICATED when the token is missing or unknown;
  // PERMISSION_DENIED when it is a submit token and `needed` is admin.
  absl::Status Check(absl::string_view authorization, Role needed) const;

 private:
  using Digest = std::array<unsigned char, 32>;
  struct Entry {
    Digest digest;
    Role role;
  };
  std::vector<Entry> tokens_;
  bool anonymous_submit_ = false;
};

}  // namespace jobpool

#endif  // JOBPOOL_SERVER_AUTH_H_
