// A JetStream KV bucket on the wire: create, compare-and-set, delete markers, direct get, and
// one-pass scans through ordered pull consumers. Every operation, binding included, is a request
// over the connection's multiplexer. Keys arrive here already validated.
#pragma once

#include <flowstore/error.hpp>

#include "kv/protocol.hpp"
#include "model/message.hpp"
#include "nats/connection_impl.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace flowstore::detail::kv {

namespace asio = boost::asio;

struct bucket_config {
  std::string name;
  std::string description;
  int history = 10;
  int replicas = 1;
  bool memory_storage = false;
  bool create_if_missing = true;
  std::chrono::milliseconds timeout{5000};
};

/// What binding found out about the bucket's stream.
struct bucket_info {
  bool direct_get = true;
  std::int64_t history = 1;
  std::int64_t replicas = 1;
  std::int64_t max_message_bytes = -1;  // the stream's own limit; -1 for none
};

/// How many entries a scan's consumer may have delivered and not yet handed over.
inline constexpr std::uint64_t scan_window = 4096;

enum class scan_mode {
  last_per_key,  // current value of every key (and tombstones)
  all,           // every retained revision
};

class bucket {
 public:
  /// Binds to the bucket (reads its stream's info), creating it when missing (and allowed).
  static asio::awaitable<result<bucket>> open(std::shared_ptr<connection_impl> connection, bucket_config config);

  const bucket_info& info() const noexcept;
  const std::string& name() const noexcept;
  const std::string& stream() const noexcept;      // KV_<name>
  const std::string& key_prefix() const noexcept;  // $KV.<name>.
  const std::shared_ptr<connection_impl>& connection() const noexcept;
  std::chrono::milliseconds timeout() const noexcept;

  /// The largest value a put with `header_bytes` of headers can carry.
  std::int64_t max_value_bytes(std::size_t header_bytes) const noexcept;

  /// Puts `value` only if `key` has no live value. A tombstone is replaced (one retry with its
  /// revision). Returns the new revision. Errors: errc::already_exists, errc::too_large, transport.
  asio::awaitable<result<std::uint64_t>> create(std::string key, std::string value, operation_label what);

  /// Puts `value` only if `key`'s last revision is `expected_revision`. Returns the new revision.
  /// Errors: errc::conflict (server_text holds the server's description), errc::too_large, transport.
  asio::awaitable<result<std::uint64_t>> update(std::string key, std::string value, std::uint64_t expected_revision,
                                                operation_label what);

  /// Writes a delete marker if `key`'s last revision is `expected_revision`. Errors: errc::conflict.
  asio::awaitable<result<std::uint64_t>> erase(std::string key, std::uint64_t expected_revision, operation_label what);

  /// Puts `value` (or a delete marker) marked with `owner`'s headers, if `key`'s last revision
  /// is `expected_revision` (0: the key has no message). Errors: errc::conflict, errc::too_large,
  /// transport.
  asio::awaitable<result<std::uint64_t>> write_owned(std::string key, std::string value, std::uint64_t expected_revision,
                                                     bool is_delete, owner_tag owner, operation_label what);

  /// The last entry of `key` (possibly a tombstone), or nullopt when it has none.
  asio::awaitable<result<std::optional<entry>>> get(std::string key, operation_label what);

  /// Entries of the keys matching `pattern`, in stream order, read in one pass.
  asio::awaitable<result<std::vector<entry>>> scan(std::string pattern, scan_mode mode, operation_label what);

  /// The same scan, handing the entries to `on_batch` (on the caller's executor) in groups as
  /// they arrive, so that the caller's work on them overlaps the rest of the scan. Each group
  /// is in stream order and follows the one before it.
  asio::awaitable<result<void>> scan(std::string pattern, scan_mode mode, operation_label what,
                                     std::function<void(std::vector<entry>&)> on_batch);

 private:
  struct state;
  explicit bucket(std::shared_ptr<state> s) noexcept : state_(std::move(s)) {}

  /// The stream sequence a scan of `pattern` must reach to hold every write acknowledged before
  /// it started: 0 on a single-replica bucket (its one server acknowledges after storing); on
  /// a replicated one, the stream leader's last sequence, or the key's last revision.
  asio::awaitable<result<std::uint64_t>> scan_target(const std::string& pattern, operation_label what);

  asio::awaitable<result<std::uint64_t>> publish(std::string key, std::string value,
                                                 std::optional<std::uint64_t> expected_revision, bool is_delete,
                                                 operation_label what, owner_tag owner);

  std::shared_ptr<state> state_;
};

/// The error for a failed request: a timeout says how long it waited.
error transport_error(std::error_code ec, const operation_label& what, std::chrono::milliseconds timeout);

/// errc::cancelled for the operation `what` ("<what>: cancelled").
error cancelled(const operation_label& what);

/// Size of the header block nats.c sends for these headers.
std::size_t header_block_bytes(const outgoing_message& message) noexcept;

}  // namespace flowstore::detail::kv
