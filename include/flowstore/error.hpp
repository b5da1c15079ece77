// Error vocabulary of flowstore: one error code enum, three conditions that tell the caller
// what to do about it, and the result<T> type every operation returns.
#pragma once

#include <flowstore/export.hpp>

#include <boost/outcome/basic_result.hpp>
#include <boost/outcome/policy/base.hpp>

#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

/// Flows — visual dataflow graphs — kept in a NATS JetStream Key-Value bucket, with Asio
/// coroutines to create, read, update, remove, list and watch them. Start with connect(),
/// store::open() and the store class; errors are described in docs/errors.md.
namespace flowstore {

/// Error codes returned by flowstore. Each belongs to exactly one condition: values 1–99 are
/// condition::invalid, 100–199 condition::transient, 200 and up condition::fatal. When each code
/// arises and what to do about it: docs/errors.md.
enum class errc {
  // --- invalid: the input is wrong; retrying the same call cannot help ---
  validation_failed = 1,  ///< The flow breaks one or more validation rules (all are listed).
  invalid_id,             ///< A flow id or watch pattern is not a valid NATS KV key.
  not_found,              ///< No flow with this id exists (never written, or removed).
  already_exists,         ///< create(): a flow with this id exists; deploy: another flow holds a component name.
  conflict,               ///< The flow changed since it was read (stale version or revision).
  too_large,              ///< The encoded flow exceeds the server's maximum payload.
  invalid_argument,       ///< An option or argument other than an id is out of range.
  permission_denied,      ///< The server refused the operation for this user.
  authentication_failed,  ///< The server rejected the credentials.
  already_running,        ///< A second next() was started while one is outstanding.
  invalid_state,          ///< The flow's runtime state does not allow the operation (deploy, start, …).
  // --- transient: the system is unavailable right now; a retry may succeed ---
  timeout = 100,          ///< No reply within the operation's timeout.
  disconnected,           ///< The connection dropped while the operation was in flight.
  no_responders,          ///< Nobody answered the request (JetStream or bucket unavailable).
  jetstream_unavailable,  ///< JetStream is disabled, has no leader, or lacks resources.
  connection_failed,      ///< No server could be reached.
  cancelled,              ///< The operation was cancelled by the caller.
  closed,                 ///< The connection or store was closed.
  // --- fatal: data or programming error; needs a human ---
  corrupt_data = 200,   ///< A stored document is not a valid flow.
  encode_failed,        ///< The flow cannot be encoded (non-finite number, nesting too deep).
  server_error,         ///< The server answered with an error flowstore cannot classify.
  protocol_error,       ///< A reply did not have the shape the protocol promises.
  configuration_error,  ///< The bucket or connection is configured in a way that cannot work.
};

/// JetStream API error codes (the `err_code` of the server's error replies) that the library
/// meets. An error the server answered with keeps its code in error::server_code, in
/// jetstream_category(); codes this enum does not name are kept as they came. Each compares
/// equal to a condition, like an errc: `e.server_code == condition::transient`.
/// When each arises and what the library makes of it: docs/errors.md.
enum class jetstream_errc {
  bad_request = 10003,              ///< The server could not read the request (fatal).
  cluster_no_peers = 10005,         ///< Not enough servers for the stream's replicas (fatal).
  cluster_not_available = 10008,    ///< JetStream is temporarily unavailable (transient).
  insufficient_resources = 10023,   ///< The server is out of storage or memory (transient).
  no_message_found = 10037,         ///< No message for the key or sequence (invalid).
  not_enabled_for_account = 10039,  ///< The account has no JetStream (transient).
  message_exceeds_maximum = 10054,  ///< The message is larger than the stream allows (invalid).
  stream_name_in_use = 10058,       ///< The stream exists with another configuration (fatal).
  stream_not_found = 10059,         ///< The bucket's stream does not exist (fatal).
  wrong_last_sequence = 10071,      ///< The key's revision is not the expected one (invalid).
  replicas_not_supported = 10074,   ///< Replicas above one on a server without a cluster (fatal).
  not_enabled = 10076,              ///< JetStream is not enabled on the server (transient).
  store_failed = 10077,             ///< The stream could not store the message (transient).
};

/// What a caller should do about an error: compare any error code against these.
/// `ec == flowstore::condition::transient` works for every code the library returns.
enum class condition {
  invalid = 1,  ///< Fix the input; retrying the same call cannot help.
  transient,    ///< Retry later; the system may be available again.
  fatal,        ///< Call a human: stored data or the program is wrong.
};

}  // namespace flowstore

/// Makes flowstore::errc convertible to std::error_code, so `ec == errc::conflict` compiles.
template <>
struct std::is_error_code_enum<flowstore::errc> : std::true_type {};
/// Makes flowstore::condition a std::error_condition, so `ec == condition::transient` compiles.
template <>
struct std::is_error_condition_enum<flowstore::condition> : std::true_type {};
/// Makes flowstore::jetstream_errc convertible to std::error_code (category "flowstore.jetstream").
template <>
struct std::is_error_code_enum<flowstore::jetstream_errc> : std::true_type {};

namespace flowstore {

/// The category of errc codes (name "flowstore"). Its default_error_condition() gives each
/// code's condition. Thread-safe; the object lives for the whole program.
FLOWSTORE_DECL const std::error_category& error_category() noexcept;
/// The category of the three conditions (name "flowstore.condition"). A code of any category
/// compares equal to the condition that condition_of() returns for it.
FLOWSTORE_DECL const std::error_category& condition_category() noexcept;

/// The category of JetStream API error codes (name "flowstore.jetstream"): the value is the
/// server's `err_code`; default_error_condition() gives the flowstore condition the code belongs
/// to (condition::fatal for codes the library does not know). Thread-safe.
FLOWSTORE_DECL const std::error_category& jetstream_category() noexcept;

/// The std::error_code for an errc (found by argument-dependent lookup).
FLOWSTORE_DECL std::error_code make_error_code(errc e) noexcept;
/// The std::error_code for a JetStream API error code (found by argument-dependent lookup).
FLOWSTORE_DECL std::error_code make_error_code(jetstream_errc e) noexcept;
/// The std::error_condition for a condition (found by argument-dependent lookup).
FLOWSTORE_DECL std::error_condition make_error_condition(condition c) noexcept;

/// The condition an error code belongs to. A code of another category (the library passes on
/// nats.c statuses it has no errc for in a category named "nats") is classified by its own
/// category's default_error_condition() when that names a flowstore condition, and as
/// condition::fatal otherwise. Thread-safe.
FLOWSTORE_DECL condition condition_of(const std::error_code& ec) noexcept;

/// An error as the library reports it: a code to branch on, and a message for humans
/// naming the operation and the flow. Text the server sent (which may echo user input)
/// is kept apart in `server_text`. Neither ever holds a password, token or key.
struct FLOWSTORE_DECL error {
  /// What failed: an errc, or a nats.c status of category "nats". Compare it with an errc or
  /// a condition.
  std::error_code code;
  /// For humans: the operation and the flow id, then what went wrong, e.g.
  /// `update flow 'x': conflict: expected version 1, current version 2`.
  std::string message;
  /// What the server said, verbatim (e.g. `insufficient resources`); empty when it said nothing.
  std::string server_text;
  /// The JetStream API's own error code when the server answered with one (in
  /// jetstream_category(), e.g. jetstream_errc::wrong_last_sequence beside errc::conflict);
  /// empty otherwise. `code` is what to branch on; this is the server's detail.
  std::error_code server_code;

  /// An empty error (no code, no message).
  error() = default;
  /// An error with a code of any category, a message and optionally the server's text.
  error(std::error_code c, std::string msg, std::string server = {})
      : code(c), message(std::move(msg)), server_text(std::move(server)) {}
  /// An error with a flowstore code, a message and optionally the server's text.
  error(errc c, std::string msg, std::string server = {})
      : code(make_error_code(c)), message(std::move(msg)), server_text(std::move(server)) {}

  /// The message, followed by the server's text when there is any.
  std::string what() const;

  /// True when the error's code is `c`.
  friend bool operator==(const error& e, errc c) noexcept { return e.code == c; }
  /// True when the error's code belongs to condition `c`.
  friend bool operator==(const error& e, condition c) noexcept { return e.code == c; }
};

/// Thrown by result<T>::value() when the result holds an error.
class FLOWSTORE_DECL exception : public std::system_error {
 public:
  /// Carries the error's code; what() is the error's what().
  explicit exception(const error& e) : std::system_error(e.code, e.what()) {}
};

namespace detail {
/// Outcome policy: value() on an error throws flowstore::exception with the full message.
struct throw_exception_policy : boost::outcome_v2::policy::base {
  template <class Impl>
  static constexpr void wide_value_check(Impl&& self) {
    if (!base::_has_value(self)) {
      throw exception(base::_error(self));
    }
  }
  template <class Impl>
  static constexpr void wide_error_check(Impl&& self) {
    if (!base::_has_error(self)) {
      throw std::logic_error("flowstore::result: error() called on a value");
    }
  }
  template <class Impl>
  static constexpr void wide_exception_check(Impl&& self) {
    wide_error_check(std::forward<Impl>(self));
  }
};
}  // namespace detail

/// The Boost.Outcome result that result<T> extends: a T or a flowstore::error, whose value()
/// throws flowstore::exception on an error and whose error() throws std::logic_error on a value.
template <class T>
using result_base = boost::outcome_v2::basic_result<T, error, detail::throw_exception_policy>;

/// The return type of every fallible operation: a value, or an `error`. Test it with
/// `if (r)`, read the value with `*r`, `r->` or `r.value()` (which throw flowstore::exception
/// when it holds an error), and the error with `r.error()`.
///
/// Expected outcomes such as errc::not_found and errc::conflict are errors in the result, not
/// exceptions: a retry loop branches on `r.error().code` without a try block.
template <class T>
class result : public result_base<T> {
 public:
  using result_base<T>::result_base;

  /// The value; throws flowstore::exception when the result holds an error.
  T& operator*() & { return this->value(); }
  /// The value; throws flowstore::exception when the result holds an error.
  const T& operator*() const& { return this->value(); }
  /// The value, moved out; throws flowstore::exception when the result holds an error.
  T&& operator*() && { return std::move(*this).value(); }
  /// The value's members; throws flowstore::exception when the result holds an error.
  T* operator->() { return &this->value(); }
  /// The value's members; throws flowstore::exception when the result holds an error.
  const T* operator->() const { return &this->value(); }
};

/// The result of an operation that returns nothing on success: test it with `if (r)`, read the
/// error with `r.error()`; `r.value()` throws flowstore::exception when it holds an error.
template <>
class result<void> : public result_base<void> {
 public:
  using result_base<void>::result_base;
};

/// A successful result<void>.
inline auto success() { return boost::outcome_v2::success(); }

}  // namespace flowstore
