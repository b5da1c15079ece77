// The flow store: flows in a NATS JetStream KV bucket, with validation and atomic updates.
#pragma once

#include <flowstore/connection.hpp>
#include <flowstore/error.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/timestamp.hpp>
#include <flowstore/watch.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace flowstore {

namespace detail {
class store_impl;
}

/// Where the bucket keeps its data.
enum class storage_type { file, memory };

/// Settings for store::open(). The bucket settings apply when the store creates the bucket;
/// an existing bucket is used as it is.
struct store_options {
  std::string bucket = "semstreams_flows";
  int history = 10;  ///< Revisions kept per flow (1–64).
  int replicas = 1;  ///< Copies in a cluster (1–5).
  storage_type storage = storage_type::file;
  std::string description = "Visual flow definitions and metadata";
  bool create_bucket = true;  ///< Create the bucket when it does not exist.
  /// Per-operation timeout; the connection's operation_timeout when unset.
  std::optional<std::chrono::milliseconds> operation_timeout{};
};

/// A flow that list() could not decode.
struct list_failure {
  std::string id;
  error problem;  ///< errc::corrupt_data, naming the id.
};

/// The result of list(): every flow that decoded, sorted by id, and the ids that did not.
struct list_result {
  std::vector<flow> flows;
  std::vector<list_failure> failures;
};

/// What a revision in a flow's history did.
enum class revision_operation { put, deleted, purged };

/// One retained revision of a flow.
struct flow_revision {
  std::uint64_t revision = 0;
  revision_operation operation = revision_operation::put;
  timestamp time;  ///< When the server stored it.
  /// The flow, for puts; an errc::corrupt_data error when the stored document is not a flow.
  std::optional<result<flow>> content{};
};

/// A store of flows in one KV bucket. Cheap to copy; copies share the bucket binding and the
/// connection. Every operation is a coroutine that resumes on the awaiting coroutine's
/// executor; none blocks it. Operations may run concurrently (thousands may be in flight).
///
/// Timeouts: each operation fails with errc::timeout after the store's operation timeout.
/// Cancellation: every operation supports terminal and partial cancellation (for instance
/// `co_await (store.get(id) || timer.async_wait(use_awaitable))`); it then completes promptly
/// with errc::cancelled. A cancelled or timed-out write may still have been applied.
class store {
 public:
  /// Binds to the bucket `options.bucket` on `conn`, creating it when missing (with the KV
  /// stream settings the NATS clients use). Works with buckets made by other clients; detects
  /// whether the bucket supports direct get. Bucket administration is synchronous in nats.c
  /// and runs on a library thread, never on the caller's executor.
  /// Errors: errc::invalid_argument (bad name, history, replicas), errc::configuration_error
  /// (the stream is not a KV bucket, or the server refused its settings), transport errors.
  static asio::awaitable<result<store>> open(connection& conn, store_options options);
  /// open() with the default store_options.
  static asio::awaitable<result<store>> open(connection& conn);

  /// Stores a new flow: validates it, sets version 1, created_at = updated_at = last_modified =
  /// now, runtime state not_deployed when unset. A flow removed earlier can be created again.
  /// Returns the stored flow with its revision.
  /// Errors: errc::validation_failed, errc::already_exists, errc::too_large, errc::encode_failed,
  /// transport errors.
  asio::awaitable<result<flow>> create(flow f);

  /// Reads a flow. Errors: errc::invalid_id (checked before anything is sent),
  /// errc::not_found (never written or removed), errc::corrupt_data, transport errors.
  asio::awaitable<result<flow>> get(std::string id);

  /// Replaces a flow if nobody changed it since it was read: an atomic compare-and-set on the
  /// KV revision, so of several writers holding the same version exactly one succeeds.
  /// A flow read from this store carries its revision and costs one round trip; otherwise the
  /// current revision is read first and the versions compared. On success the version is
  /// incremented and updated_at = last_modified = now; created_at and created_by are kept from
  /// the stored flow when the given flow has them empty.
  /// Errors: errc::validation_failed, errc::not_found, errc::conflict (the message says the
  /// expected and current version), errc::too_large, errc::encode_failed, transport errors.
  asio::awaitable<result<flow>> update(flow f);

  /// Removes a flow with a delete marker, checked against the revision just read so that a
  /// flow re-created in between is not removed. Errors: errc::invalid_id, errc::not_found,
  /// errc::conflict, transport errors.
  asio::awaitable<result<void>> remove(std::string id);

  /// Removes a flow only if its current version is `expected_version`.
  /// Errors: as remove(), and errc::conflict when the version differs.
  asio::awaitable<result<void>> remove(std::string id, std::int64_t expected_version);

  /// Every flow in one pass over the bucket (not one request per flow). Removed flows are
  /// skipped; a document that does not decode is reported in list_result::failures and does not
  /// hide the others. An empty bucket gives an empty list. Flows are sorted by id.
  asio::awaitable<result<list_result>> list();

  /// The retained revisions of one flow, oldest first. Errors: errc::invalid_id,
  /// errc::not_found when the flow has no revisions at all, transport errors.
  asio::awaitable<result<std::vector<flow_revision>>> history(std::string id);

  /// Watches the flows whose ids match `pattern` (a flow id, or a KV pattern such as `team.*`
  /// or `>`). Starts at once; see watcher. An invalid pattern is refused before anything is
  /// sent: the first next() returns errc::invalid_id.
  watcher watch(std::string pattern = ">", watch_options options = {});

  /// The bucket's name.
  const std::string& bucket() const noexcept;

  /// The operation timeout in force.
  std::chrono::milliseconds operation_timeout() const noexcept;

  /// For the library's own layers.
  const std::shared_ptr<detail::store_impl>& impl() const noexcept { return impl_; }

 private:
  explicit store(std::shared_ptr<detail::store_impl> impl) noexcept;
  std::shared_ptr<detail::store_impl> impl_;
};

}  // namespace flowstore
