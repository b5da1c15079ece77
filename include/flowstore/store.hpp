// The flow store: flows in a NATS JetStream KV bucket, with validation and atomic updates.
#pragma once

#include <flowstore/connection.hpp>
#include <flowstore/error.hpp>
#include <flowstore/export.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/timestamp.hpp>
#include <flowstore/watch.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowstore {

namespace detail {
class store_impl;
struct access;  // the library's way to the implementation (lib/access.hpp)
}  // namespace detail

/// True when `name` can name a KV bucket: 1 to 252 of `[A-Za-z0-9_-]` (its stream `KV_<name>`
/// may have 255 characters). store::open() refuses any other name. Thread-safe.
FLOWSTORE_DECL bool valid_bucket_name(std::string_view name) noexcept;

/// Where the bucket keeps its data: `file` on disk (survives server restarts), `memory` in memory
/// only (lost when the servers holding it stop).
enum class storage_type { file, memory };

/// Settings for store::open(): an aggregate with the Go package's defaults. The bucket settings
/// (history, replicas, storage, description) apply when the store creates the bucket; an
/// existing bucket is used as it is.
struct store_options {
  /// The KV bucket (stream `KV_<bucket>`): 1 or more of `[A-Za-z0-9_-]`. The Go package uses
  /// "semstreams_flows".
  std::string bucket = "semstreams_flows";
  int history = 10;                           ///< Revisions kept per flow (1–64).
  int replicas = 1;                           ///< Copies in a cluster (1–5; at most the number of servers).
  storage_type storage = storage_type::file;  ///< Where the servers keep the bucket.
  /// The stream's description, shown by stream info.
  std::string description = "Visual flow definitions and metadata";
  bool create_bucket = true;  ///< Create the bucket when it does not exist.
  /// Whether create() and update() run validate() before writing, refusing an invalid flow with
  /// errc::validation_failed. Off by default, as in the Go package: a flow builder saves drafts
  /// (nodes not configured yet, connections half drawn) on purpose, and the engine validates
  /// before it deploys. Turn it on for writers that must never store an invalid flow.
  bool validate_writes = false;
  /// Bound on each request to the server; the connection's operation_timeout when unset. Must
  /// be positive.
  std::optional<std::chrono::milliseconds> operation_timeout{};
};

/// Settings for store::modify(): how often to try again after losing to another writer, and how
/// long to wait in between.
struct modify_options {
  /// Rounds of read, change and compare-and-set at most (1 or more); the last conflict is
  /// returned when every round lost.
  int max_attempts = 50;
  /// The bound on the wait after the first lost round; it doubles with each further one, up to
  /// max_backoff. Each wait is a random time between half the bound and the bound, so that
  /// writers that collided do not collide again in step.
  std::chrono::milliseconds initial_backoff{1};
  std::chrono::milliseconds max_backoff{100};  ///< The largest bound on a wait.
};

/// A flow that list() could not decode.
struct list_failure {
  std::string id;  ///< The flow's id (its KV key).
  error problem;   ///< errc::corrupt_data, naming the id, the revision and what is wrong.
};

/// The result of list(): every flow that decoded, sorted by id, and the ids that did not.
struct list_result {
  std::vector<flow> flows;             ///< The live flows, sorted by id, each with its revision.
  std::vector<list_failure> failures;  ///< Stored documents that are not flows, sorted by id.
};

/// A flow as stored, not decoded: what get_raw() and list_raw() return to callers that forward
/// documents (a server's list and get) and want them byte for byte.
struct raw_flow {
  std::string id;              ///< The flow's id (its KV key).
  std::string document;        ///< The stored bytes, exactly; not checked to be a flow.
  std::uint64_t revision = 0;  ///< The KV revision (stream sequence) of those bytes.
  timestamp time;              ///< When the server stored them.
};

/// What a revision in a flow's history did: `put` (create or update), `deleted` (remove) or
/// `purged` (a purge by another client, which also dropped the older revisions).
enum class revision_operation { put, deleted, purged };

/// One retained revision of a flow.
struct flow_revision {
  std::uint64_t revision = 0;                              ///< The KV revision (stream sequence).
  revision_operation operation = revision_operation::put;  ///< What the revision did.
  timestamp time;                                          ///< When the server stored it.
  /// The flow, for puts; an errc::corrupt_data error when the stored document is not a flow.
  std::optional<result<flow>> content{};
};

/// A store of flows in one KV bucket, made by store::open(). Cheap to copy; copies share the
/// bucket binding and the connection.
///
/// What holds for every operation (each one's own comment adds the rest):
/// - Executor: an operation is a coroutine that resumes on the executor of the coroutine
///   awaiting it, and never blocks it: every operation is one or more requests over the
///   connection, binding the bucket included. The connection's executor must keep running.
/// - Timeouts: each request to the server fails with errc::timeout after operation_timeout();
///   update() and remove() make up to three requests, each with its own bound.
/// - Cancellation: the requests of create(), get(), update() and remove() support terminal and
///   partial cancellation (for instance racing the operation against a timer with the `||`
///   awaitable operator); the operation then completes promptly with errc::cancelled and a
///   late reply is dropped. A cancelled or timed-out write may still have been applied by the
///   server: read before retrying when it matters.
/// - Lifetimes: arguments are taken by value (an awaitable starts lazily, so a reference could
///   dangle), and each operation holds the store's binding: the store object may be destroyed
///   before the awaitables it returned have run. Copies are cheap.
/// - Thread safety: operations may run concurrently — thousands in flight on one connection,
///   also from coroutines on different threads; assigning or destroying a store needs exclusive
///   access to that object.
/// - Transport errors: any operation that talks to the server may also fail with
///   errc::timeout, errc::disconnected, errc::no_responders, errc::jetstream_unavailable,
///   errc::closed, errc::cancelled, errc::permission_denied, errc::server_error or
///   errc::protocol_error (docs/errors.md says when).
class FLOWSTORE_DECL store {
 public:
  /// Binds to the bucket `options.bucket` on `conn`, creating it when missing (with the KV
  /// stream settings the NATS clients use). Works with buckets made by other clients, with
  /// their settings; detects whether the bucket supports direct get and reads a replicated
  /// bucket through its stream leader.
  ///
  /// - Errors: errc::invalid_argument (bad bucket name, history, replicas or timeout),
  ///   errc::closed (the connection is closed), errc::configuration_error (the bucket does not
  ///   exist and create_bucket is false, the stream is not a KV bucket, or the server refused
  ///   the bucket's settings, e.g. more replicas than servers), errc::jetstream_unavailable,
  ///   errc::timeout and the other transport errors.
  /// - Lifetimes: `conn` is a reference and must stay alive until the awaitable completes; the
  ///   store then shares the connection and no longer needs the `conn` object.
  /// - Executor: stream info (and create) requests over the connection; resumes on the
  ///   awaiting coroutine's executor.
  /// - Cancellation: not supported.
  /// - Thread safety: may be called from any thread, also several times on one connection.
  static boost::asio::awaitable<result<store>> open(connection& conn, store_options options);
  /// open() with the default store_options: the bucket "semstreams_flows".
  static boost::asio::awaitable<result<store>> open(connection& conn);

  /// Stores a new flow and returns it as stored, with its revision.
  ///
  /// Sets version 1, created_at = updated_at = last_modified = now and, when unset, the
  /// runtime state not_deployed; then writes only if no live flow has that id (a flow removed
  /// earlier can be created again). The given version and audit times are ignored. Any flow
  /// that can be stored is stored, drafts included (see store_options::validate_writes): its id
  /// must be a valid key and its document must encode (finite numbers, nesting a reader can
  /// parse) within the server's max_payload.
  ///
  /// - Errors: errc::invalid_id (checked before anything is sent), errc::validation_failed (a
  ///   document that cannot be encoded, or any broken rule with validate_writes),
  ///   errc::too_large (checked before sending), errc::already_exists
  ///   (also when another writer created it concurrently), transport errors.
  /// - Lifetimes, executor, thread safety: as for every store operation (see store).
  /// - Cancellation: terminal and partial; a cancelled create may still have been applied.
  boost::asio::awaitable<result<flow>> create(flow f);

  /// Reads the current revision of a flow.
  ///
  /// - Errors: errc::invalid_id (checked before anything is sent), errc::not_found (never
  ///   written, or removed), errc::corrupt_data (the stored document is not a flow; the message
  ///   names the revision), transport errors.
  /// - Lifetimes, executor, thread safety: as for every store operation (see store).
  /// - Cancellation: terminal and partial.
  boost::asio::awaitable<result<flow>> get(std::string id);

  /// Reads the current revision of a flow as stored, without decoding it: the bytes as they are
  /// in the bucket (written by this library, the Go package or anyone else), with the revision.
  ///
  /// - Errors: errc::invalid_id (checked before anything is sent), errc::not_found (never
  ///   written, or removed), transport errors. Never errc::corrupt_data: nothing is decoded.
  /// - Lifetimes, executor, thread safety: as for every store operation (see store).
  /// - Cancellation: terminal and partial.
  boost::asio::awaitable<result<raw_flow>> get_raw(std::string id);

  /// Replaces a flow if nobody changed it since it was read: an atomic compare-and-set on the
  /// KV revision, so of several writers holding the same version exactly one succeeds. Returns
  /// the flow as stored, with its new revision.
  ///
  /// `f.version` must be the version stored at the revision it replaces, and the flow is
  /// stored with that version plus one: the stored version grows by exactly one per update,
  /// whatever the caller sends. A flow this store read or wrote carries its revision and
  /// created_at, and costs one round trip (the store remembers the versions of recent
  /// revisions). Otherwise the stored flow is read first: its version must equal `f.version`
  /// (and its revision `f.revision`, when set), and its created_at and created_by fill in empty
  /// ones. On success updated_at = last_modified = now. Drafts are stored as by create(); the
  /// runtime state alone must be set, so that an update never drops a deployment's state.
  ///
  /// - Errors: errc::invalid_id (checked before anything is sent), errc::invalid_argument (an
  ///   unset runtime state or a version that cannot be incremented, refused before anything is
  ///   sent), errc::validation_failed (as for create), errc::not_found (never written, or
  ///   removed meanwhile), errc::conflict (the message says the expected and the current
  ///   version), errc::corrupt_data (the stored document is not a flow), errc::too_large,
  ///   transport errors.
  /// - Lifetimes, executor, thread safety: as for every store operation (see store).
  /// - Cancellation: terminal and partial; a cancelled update may still have been applied.
  boost::asio::awaitable<result<flow>> update(flow f);

  /// Read-modify-write, the loop every writer of a shared flow needs: reads the flow, calls
  /// `change` on it and stores the result with a compare-and-set (update()). When another
  /// writer stored the flow in between (errc::conflict), it waits a random moment, reads again
  /// and calls `change` on the new flow. Returns the flow as stored — or, when `change` returns
  /// false (nothing to do), as read, without writing.
  ///
  /// `change` may run several times, each time on a fresh copy of the stored flow, so it must
  /// derive its edit from the flow it is given. It runs on the awaiting coroutine's executor
  /// and must not throw, nor change the flow's id.
  ///
  /// - Errors: errc::conflict when every one of modify_options::max_attempts rounds lost;
  ///   errc::invalid_argument (max_attempts below 1, or `change` changed the id); the errors
  ///   of get() and update(), returned at once (a transient one is not retried: the caller
  ///   knows whether to).
  /// - Lifetimes, executor, thread safety: as for every store operation (see store); `change`
  ///   is moved into the operation.
  /// - Cancellation: terminal and partial, also while it waits between rounds (then
  ///   errc::cancelled); a cancelled modify may have been applied.
  boost::asio::awaitable<result<flow>> modify(std::string id, std::function<bool(flow&)> change);
  /// modify() with settings for its retries.
  boost::asio::awaitable<result<flow>> modify(std::string id, std::function<bool(flow&)> change,
                                              modify_options options);

  /// Removes a flow: reads its current revision, then writes a delete marker checked against
  /// that revision, so that a flow re-created in between is not removed. The flow's earlier
  /// revisions stay in history() until the bucket's history limit drops them.
  ///
  /// - Errors: errc::invalid_id (checked before anything is sent), errc::not_found (never
  ///   written, or already removed), errc::conflict (the flow changed while removing it),
  ///   transport errors.
  /// - Lifetimes, executor, thread safety: as for every store operation (see store).
  /// - Cancellation: terminal and partial; a cancelled remove may still have been applied.
  boost::asio::awaitable<result<void>> remove(std::string id);

  /// Removes a flow only if its current version is `expected_version`; otherwise as remove().
  ///
  /// - Errors: as remove(); errc::conflict also when the version differs, errc::corrupt_data
  ///   when the stored document is not a flow (its version cannot be read).
  /// - Lifetimes, executor, thread safety: as for every store operation (see store).
  /// - Cancellation: terminal and partial; a cancelled remove may still have been applied.
  boost::asio::awaitable<result<void>> remove(std::string id, std::int64_t expected_version);

  /// Every flow in one pass over the bucket (one ordered pull consumer, not one request per
  /// flow).
  /// Removed flows are skipped; a document that does not decode is reported in
  /// list_result::failures and does not hide the others. An empty bucket gives an empty list.
  /// Each id appears once: a flow written while the list runs is listed at the latest revision
  /// the scan delivered, which may be newer than the one current when the list started.
  /// The flows are decoded while the scan streams, in chunks on the caller's thread and on a
  /// library thread. On a replicated bucket the scan also reaches the stream leader's last
  /// sequence, so that no write acknowledged before it started is missing (its consumer may
  /// sit on a replica still catching up).
  ///
  /// - Errors: transport errors only; errc::timeout when no message arrives for a whole
  ///   operation timeout (a replica that does not catch up within it included).
  /// - Lifetimes, executor, thread safety: as for every store operation (see store).
  /// - Cancellation: terminal cancellation ends the scan at once with errc::cancelled; its
  ///   consumer is deleted on the server.
  boost::asio::awaitable<result<list_result>> list();

  /// Every live flow as stored, sorted by id, without decoding: one pass over the bucket as
  /// list() makes, each id once at the latest revision the scan delivered. A document that is
  /// not a flow is returned like any other (nothing is decoded); removed flows are skipped.
  ///
  /// - Errors, lifetimes, executor, thread safety, cancellation: as for list().
  boost::asio::awaitable<result<std::vector<raw_flow>>> list_raw();

  /// The retained revisions of one flow, oldest first: puts with their flow, deletions and
  /// purges. The bucket keeps store_options::history revisions per flow. On a replicated
  /// bucket the scan reaches the flow's last revision as the stream leader has it.
  ///
  /// - Errors: errc::invalid_id (checked before anything is sent), errc::not_found when the id
  ///   has no revisions at all, transport errors. A revision whose document is not a flow holds
  ///   errc::corrupt_data in flow_revision::content; the others are still returned.
  /// - Lifetimes, executor, thread safety: as for every store operation (see store).
  /// - Cancellation: as for list().
  boost::asio::awaitable<result<std::vector<flow_revision>>> history(std::string id);

  /// Watches the flows whose ids match a pattern and returns the watcher to read events from.
  ///
  /// The pattern is a flow id, or a KV pattern such as `team.*` or `>` (everything). Not a
  /// coroutine: the watch starts at once (its consumer is made by a request) and events wait
  /// in the watcher's buffer for watcher::next(). A watch costs no thread and no subscription
  /// of its own; it resumes by itself after a reconnect.
  ///
  /// - Errors: reported by watcher::next(): errc::invalid_id for an invalid pattern (refused
  ///   before anything is sent), or the error that made setting up the consumer fail.
  /// - Lifetimes: arguments are taken by value; the watcher does not need the store object.
  /// - Executor: next() resumes on the executor of the coroutine awaiting it.
  /// - Thread safety: may be called from any thread, any number of times.
  watcher watch(std::string pattern = ">", watch_options options = {});

  /// The bucket's name.
  const std::string& bucket() const noexcept;

  /// The bound on each request in force: store_options::operation_timeout, else the
  /// connection's.
  std::chrono::milliseconds operation_timeout() const noexcept;

 private:
  friend struct detail::access;
  FLOWSTORE_HIDDEN explicit store(std::shared_ptr<detail::store_impl> impl) noexcept;
  std::shared_ptr<detail::store_impl> impl_;
};

}  // namespace flowstore
