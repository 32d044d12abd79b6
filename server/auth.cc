#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace jobpool {

absl::StatusOr<Authenticator> Authenticator::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the token file ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  auto auth = FromText(text.str());
  if (!auth.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", auth.status().message()));
  }
  return auth;
}

absl::StatusOr<Authenticator> Authenticator::FromText(absl::string_view text) {
  Authenticator auth;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    const size_t space = line.find_first_of(" \t");
    const absl::string_view role = line.substr(0, space);
    const absl::string_view token =
        space == absl::string_view::npos
            ? absl::string_view()
            : absl::StripLeadingAsciiWhitespace(line.substr(space));
    if (role != "admin" && role != "submit") {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", number, ": the role must be \"admin\" or \"submit\""));
    }
    if (token.empty() ||
        token.find_first_of(" \t") != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", number, ": expected \"", role, " TOKEN\" (one word)"));
    }
    auth.Add(role == "admin" ? Role::kAdmin : Role::kSubmit, token);
  }
  return auth;
}

void Authenticator::Add(Role role, absl::string_view token) {
  if (token.empty()) return;
  Entry entry;
  entry.role = role;
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
         entry.digest.data());
  tokens_.push_back(entry);
}

absl::Status Authenticator::Check(absl::string_view authorization,
                                  Role needed) const {
  if (tokens_.empty()) return absl::OkStatus();
  constexpr absl::string_view kBearer = "Bearer ";
  if (authorization.empty() && anonymous_submit_) {
    if (needed == Role::kSubmit) return absl::OkStatus();
    return absl::UnauthenticatedError("this call needs an admin token");
  }
  if (!absl::StartsWithIgnoreCase(authorization, kBearer) ||
      authorization.size() == kBearer.size()) {
    return absl::UnauthenticatedError(
        "missing bearer token (authorization: Bearer <token>)");
  }
  const absl::string_view token = authorization.substr(kBearer.size());
  Digest digest;
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
         digest.data());
  // Every entry is compared, so the time taken does not say which matched.
  bool known = false;
  bool admin = false;
  for (const Entry& entry : tokens_) {
    const bool match =
        CRYPTO_memcmp(entry.digest.data(), digest.data(), digest.size()) == 0;
    known |= match;
    admin |= match && entry.role == Role::kAdmin;
  }
  if (!known) return absl::UnauthenticatedError("unknown bearer token");
  if (needed == Role::kAdmin && !admin) {
    return absl::PermissionDeniedError(
        "this call needs an admin token; the token given has the submit role");
  }
  return absl::OkStatus();
}

}  // namespace jobpool
