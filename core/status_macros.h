#ifndef JOBPOOL_CORE_STATUS_MACROS_H_
#define JOBPOOL_CORE_STATUS_MACROS_H_

// JOBPOOL_RETURN_IF_ERROR(expr)
//   Evaluates `expr` (an absl::Status) and returns it from the enclosing
//   function when it is not OK.
//
// JOBPOOL_ASSIGN_OR_RETURN(lhs, expr)
//   Evaluates `expr` (an absl::StatusOr<T>); returns its status when not OK,
//   otherwise moves the value into `lhs` (which may be a declaration).
//
// This Abseil release has no public equivalents.
//
// Example:
//   JOBPOOL_ASSIGN_OR_RETURN(auto pool, Pool::Create(8));
//   JOBPOOL_RETURN_IF_ERROR(pool->Submit(task));

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define JOBPOOL_RETURN_IF_ERROR(expr)                                   \
  do {                                                                  \
    if (absl::Status jobpool_status_ = (expr); !jobpool_status_.ok()) { \
      return jobpool_status_;                                           \
    }                                                                   \
  } while (false)

#define JOBPOOL_STATUS_MACROS_CONCAT_INNER_(a, b) a##b
#define JOBPOOL_STATUS_MACROS_CONCAT_(a, b) \
  JOBPOOL_STATUS_MACROS_CONCAT_INNER_(a, b)

#define JOBPOOL_ASSIGN_OR_RETURN(lhs, expr) \
  JOBPOOL_ASSIGN_OR_RETURN_IMPL_(           \
      JOBPOOL_STATUS_MACROS_CONCAT_(jobpool_statusor_, __LINE__), lhs, expr)

// `lhs` may be a declaration, so it cannot be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define JOBPOOL_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = *std::move(statusor)
// NOLINTEND(bugprone-macro-parentheses)

#endif  // JOBPOOL_CORE_STATUS_MACROS_H_
