// Result<T>: a value or an error message, on every path that can fail at run
// time (parsing server replies, requests, config); no exceptions there.
// Result<void> is success or an error, for steps that produce nothing.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace lagrouter {

struct Error {
  std::string message;
};

inline Error MakeError(std::string message) {
  return Error{std::move(message)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  const T& value() const& { return std::get<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  const std::string& error() const { return std::get<Error>(v_).message; }
  // The error, for a caller that fails the same way; `context` goes first.
  Error Propagate(std::string_view context = {}) const {
    return Error{std::string(context) + error()};
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error.message)), failed_(true) {}  // NOLINT

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const std::string& error() const { return error_; }
  Error Propagate(std::string_view context = {}) const {
    return Error{std::string(context) + error_};
  }

 private:
  std::string error_;
  bool failed_ = false;
};

inline Result<void> Ok() {
  return {};
}

}  // namespace lagrouter

// Returns the error of `expr` (a Result) from the enclosing function.
#define LAGROUTER_RETURN_IF_ERROR(expr) LAGROUTER_RETURN_IF_ERROR_CONTEXT(expr, std::string_view())
// The same with `context` (evaluated only on failure) before the message:
//   LAGROUTER_RETURN_IF_ERROR_CONTEXT(CheckServerTls(files), path + ": ");
#define LAGROUTER_RETURN_IF_ERROR_CONTEXT(expr, context)                                   \
  do {                                                                                     \
    if (auto lagrouter_r_ = (expr); !lagrouter_r_) return lagrouter_r_.Propagate(context); \
  } while (0)

#define LAGROUTER_CONCAT_INNER_(a, b) a##b
#define LAGROUTER_CONCAT_(a, b) LAGROUTER_CONCAT_INNER_(a, b)
// `lhs = value of expr`, or returns its error from the enclosing function:
//   LAGROUTER_ASSIGN_OR_RETURN(const Position p, ParsePosition(e, text));
#define LAGROUTER_ASSIGN_OR_RETURN(lhs, expr) \
  LAGROUTER_ASSIGN_OR_RETURN_CONTEXT(lhs, expr, std::string_view())
// The same with `context` (evaluated only on failure) before the message:
//   LAGROUTER_ASSIGN_OR_RETURN_CONTEXT(auto set, ParseMysqlGtidSet(text), "bad MySQL GTID set: ");
#define LAGROUTER_ASSIGN_OR_RETURN_CONTEXT(lhs, expr, context) \
  LAGROUTER_ASSIGN_OR_RETURN_(LAGROUTER_CONCAT_(lagrouter_r_, __LINE__), lhs, expr, context)
#define LAGROUTER_ASSIGN_OR_RETURN_(tmp, lhs, expr, context) \
  auto tmp = (expr);                                         \
  if (!tmp) return tmp.Propagate(context);                   \
  lhs = std::move(tmp).value()
