#include <flowstore/json.hpp>
#include <flowstore/store.hpp>

#include "access.hpp"
#include "model/message.hpp"
#include "nats/blocking.hpp"
#include "nats/io_anchor.hpp"
#include "store/list_assembly.hpp"
#include "store/store_impl.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <exception>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <random>

namespace flowstore {

namespace asio = boost::asio;
namespace {

using detail::quoted;
using detail::kv::entry;
using detail::kv::entry_operation;

using detail::operation_label;

error invalid_id_error(const operation_label& what) {
  return {errc::invalid_id,
          what + ": not a valid flow id (1-256 of [-/_=.A-Za-z0-9], no leading, trailing or double dot)"};
}

// Prefixes an error from a lower layer with nothing: lower layers already name the operation.
error not_found_error(const operation_label& what) { return {errc::not_found, what + ": no such flow"}; }

// Builds `what` only for a document that does not decode: list() decodes thousands.
template <class Describe>
result<flow> decode_entry(const entry& e, Describe&& what) {
  auto decoded = flow_from_json(e.value);
  if (!decoded) {
    return error{errc::corrupt_data,
                 what() + " (revision " + std::to_string(e.revision) + "): " + decoded.error().message};
  }
  decoded->revision = e.revision;
  return decoded;
}

result<flow> decode_entry(const entry& e, const operation_label& what) {
  return decode_entry(e, [&what] { return what.text(); });
}

// Decodes a list's entries in chunks: one chunk at a time is offered to the library pool and
// the others are decoded on the caller's thread, so that a list uses a second core where there
// is one. A chunk the pool has not started by the end of the scan is taken back, so a pool busy
// with other work never holds a list up. Results are merged under the mutex, in any order, with
// a record of each revision delivered, from which list() keeps each key's latest and sorts.
struct list_decoder {
  struct offered_chunk {
    std::atomic<bool> taken{false};  // by the pool, or back by the caller's thread: once
    std::vector<entry> entries;
  };
  struct waiter {
    asio::any_completion_handler<void()> handler;
    // Counts as work: the caller's run() must not return while the pool finishes a chunk.
    asio::executor_work_guard<asio::any_io_executor> executor;
  };

  static constexpr std::size_t chunk_size = 128;

  // The caller's thread.
  void add(const std::shared_ptr<list_decoder>& self, std::vector<entry>& group) {
    for (std::size_t begin = 0; begin < group.size(); begin += chunk_size) {
      const auto first = group.begin() + static_cast<std::ptrdiff_t>(begin);
      const auto last = group.begin() + static_cast<std::ptrdiff_t>(std::min(group.size(), begin + chunk_size));
      std::vector<entry> chunk(std::make_move_iterator(first), std::make_move_iterator(last));
      std::shared_ptr<offered_chunk> offer;
      {
        std::lock_guard lock(mutex);
        if (!offered) offered = offer = std::make_shared<offered_chunk>();
      }
      if (!offer) {
        decode(std::move(chunk));
        continue;
      }
      offer->entries = std::move(chunk);
      asio::post(detail::decode_pool(), [self, offer] {
        if (offer->taken.exchange(true)) return;  // taken back
        self->decode(std::move(offer->entries));
        self->settle(offer);
      });
    }
  }

  // The caller's thread, once the scan is over.
  void take_back() {
    std::shared_ptr<offered_chunk> offer;
    {
      std::lock_guard lock(mutex);
      offer = offered;
    }
    if (!offer || offer->taken.exchange(true)) return;
    decode(std::move(offer->entries));
    settle(offer);
  }

  void decode(std::vector<entry> group) {
    std::vector<flow> decoded_flows;
    std::vector<list_failure> decoded_failures;
    std::vector<detail::scanned_revision> delivered;
    decoded_flows.reserve(group.size());
    delivered.reserve(group.size());
    for (entry& e : group) {
      if (e.operation != entry_operation::put) {
        delivered.emplace_back(std::move(e.key), e.revision, detail::scanned_as::removal, 0);
        continue;
      }
      auto decoded = decode_entry(e, [&e] { return operation_label{"list", e.key}.text(); });
      if (decoded) {
        delivered.emplace_back(std::move(e.key), e.revision, detail::scanned_as::flow, decoded_flows.size());
        decoded_flows.push_back(std::move(decoded).value());
      } else {
        delivered.emplace_back(e.key, e.revision, detail::scanned_as::failure, decoded_failures.size());
        decoded_failures.push_back({std::move(e.key), std::move(decoded).error()});
      }
    }
    std::lock_guard lock(mutex);
    for (auto& r : delivered) {
      if (r.kind == detail::scanned_as::flow) r.index += flows.size();
      if (r.kind == detail::scanned_as::failure) r.index += failures.size();
    }
    append(flows, decoded_flows);
    append(failures, decoded_failures);
    append(revisions, delivered);
  }

  template <class T>
  static void append(std::vector<T>& to, std::vector<T>& more) {
    to.insert(to.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }

  // The offered chunk is decoded: the next one may be offered, and a waiting list goes on.
  void settle(const std::shared_ptr<offered_chunk>& offer) {
    std::optional<waiter> w;
    std::shared_ptr<detail::io_anchor> anchor;
    {
      std::lock_guard lock(mutex);
      if (offered == offer) offered.reset();
      if (offered || !waiting) return;
      w.emplace(std::move(*waiting));
      waiting.reset();
      anchor = std::move(waiting_anchor);
    }
    if (anchor) anchor->forget();
    detail::complete_on_guarded(std::move(w->executor), std::move(w->handler));
  }

  // Completes once no chunk is being decoded on the pool. Should the caller's io_context shut
  // down first, the wait is dropped with it (its handler owns the list's coroutine frame, which
  // owns this decoder), and the pool never posts to the gone io_context.
  template <class Token>
  auto async_wait_idle(std::shared_ptr<list_decoder> self, Token&& token) {
    return asio::async_initiate<Token, void()>(
        [self](auto handler) {
          asio::any_io_executor executor = asio::get_associated_executor(handler, asio::system_executor());
          std::lock_guard lock(self->mutex);
          if (!self->offered) return asio::post(executor, std::move(handler));
          self->waiting.emplace(
              waiter{asio::any_completion_handler<void()>(std::move(handler)), asio::make_work_guard(executor)});
          self->waiting_anchor = detail::io_anchor::attach(executor, [weak = std::weak_ptr<list_decoder>(self)] {
            auto me = weak.lock();
            if (!me) return;
            std::optional<waiter> dropped;
            {
              std::lock_guard guard(me->mutex);
              if (me->waiting) dropped.emplace(std::move(*me->waiting));
              me->waiting.reset();
            }
            // Destroyed outside the lock: the handler may own the last reference to `me`.
            if (dropped) dropped->executor.reset();
          });
        },
        token);
  }

  std::mutex mutex;
  std::shared_ptr<offered_chunk> offered;  // the chunk offered to the pool and not yet decoded
  std::optional<waiter> waiting;
  std::shared_ptr<detail::io_anchor> waiting_anchor;
  std::vector<flow> flows;
  std::vector<list_failure> failures;
  std::vector<detail::scanned_revision> revisions;  // one for each flow, failure and removal
};

// A scan that sees its cancellation still removes its consumer, with one more co_await, where
// Asio would throw instead (throw_if_cancelled, a setting of the whole coroutine stack, on by
// default): the operation would leak its subscription and never report errc::cancelled. Runs
// `op` with the setting off and then restores the caller's.
template <class T>
asio::awaitable<T> cancellation_as_result(asio::awaitable<T> op) {
  const bool throwing = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);
  std::optional<T> value;
  std::exception_ptr failure;
  try {
    value.emplace(co_await std::move(op));
  } catch (...) {
    failure = std::current_exception();
  }
  co_await asio::this_coro::throw_if_cancelled(throwing);
  if (failure) std::rethrow_exception(failure);
  co_return std::move(*value);
}

// What the encoder refuses (a non-finite number, nesting no reader could parse back, a time
// outside years 0000-9999) is in the flow the caller gave: invalid input, as a broken rule is,
// also for a draft.
result<std::string> encode(const flow& f, const operation_label& what) {
  auto json = to_json(f);
  if (!json) return error{errc::validation_failed, what + ": cannot be stored: " + json.error().message};
  return json;
}

}  // namespace

bool valid_bucket_name(std::string_view name) noexcept { return detail::kv::valid_bucket_name(name); }

store::store(std::shared_ptr<detail::store_impl> impl) noexcept : impl_(std::move(impl)) {}

const std::string& store::bucket() const noexcept { return impl_->bucket.name(); }

std::chrono::milliseconds store::operation_timeout() const noexcept { return impl_->bucket.timeout(); }

// Not a default argument: g++ 12 destroys a braced default argument of a coroutine twice.
asio::awaitable<result<store>> store::open(connection& conn) { return open(conn, store_options()); }

asio::awaitable<result<store>> store::open(connection& conn, store_options options) {
  const auto& connection = detail::access::impl(conn);
  if (!connection) co_return error{errc::closed, "open bucket " + quoted(options.bucket) + ": no connection"};
  detail::kv::bucket_config config;
  config.name = std::move(options.bucket);
  config.description = std::move(options.description);
  config.history = options.history;
  config.replicas = options.replicas;
  config.memory_storage = options.storage == storage_type::memory;
  config.create_if_missing = options.create_bucket;
  config.timeout = options.operation_timeout.value_or(conn.operation_timeout());
  auto bound = co_await detail::kv::bucket::open(connection, std::move(config));
  if (!bound) co_return std::move(bound).error();
  co_return store(std::make_shared<detail::store_impl>(std::move(bound).value(), options.validate_writes));
}

namespace {

asio::awaitable<result<flow>> create_flow(std::shared_ptr<detail::store_impl> impl, flow f) {
  const operation_label what{"create", f.id};
  if (!valid_flow_id(f.id)) co_return invalid_id_error(what);
  if (f.state == runtime_state::unset) f.state = runtime_state::not_deployed;
  const timestamp now = timestamp::now();
  f.version = 1;
  f.created_at = now;
  f.updated_at = now;
  f.last_modified = now;
  if (impl->validate_writes) {
    if (auto valid = validate(f); !valid) co_return std::move(valid).error();
  }
  auto json = encode(f, what);
  if (!json) co_return std::move(json).error();

  auto revision = co_await impl->bucket.create(f.id, std::move(json).value(), what);
  if (!revision) co_return std::move(revision).error();
  f.revision = *revision;
  impl->versions.remember(f.revision, f.version);
  co_return f;
}

// The live entry of `id`, for get() and get_raw(): errc::not_found when it has none or was
// removed. Awaited at once by its caller, whose frame holds what the references name.
asio::awaitable<result<entry>> live_entry(detail::store_impl& impl, const std::string& id,
                                          const operation_label& what) {
  if (!valid_flow_id(id)) co_return invalid_id_error(what);
  auto last = co_await impl.bucket.get(id, what);
  if (!last) co_return std::move(last).error();
  if (!*last || (*last)->operation != entry_operation::put) co_return not_found_error(what);
  co_return std::move(**last);
}

asio::awaitable<result<flow>> get_flow(std::shared_ptr<detail::store_impl> impl, std::string id) {
  const operation_label what{"get", id};
  auto last = co_await live_entry(*impl, id, what);
  if (!last) co_return std::move(last).error();
  auto decoded = decode_entry(*last, what);
  if (decoded) impl->versions.remember(decoded->revision, decoded->version);
  co_return decoded;
}

raw_flow raw_of(entry&& e) { return {std::move(e.key), std::move(e.value), e.revision, e.time}; }

asio::awaitable<result<raw_flow>> get_raw_flow(std::shared_ptr<detail::store_impl> impl, std::string id) {
  const operation_label what{"get", id};
  auto last = co_await live_entry(*impl, id, what);
  if (!last) co_return std::move(last).error();
  co_return raw_of(std::move(*last));
}

asio::awaitable<result<flow>> update_flow(std::shared_ptr<detail::store_impl> impl, flow f) {
  const operation_label what{"update", f.id};
  if (!valid_flow_id(f.id)) co_return invalid_id_error(what);
  if (f.version == std::numeric_limits<std::int64_t>::max()) {
    co_return error{errc::invalid_argument, what + ": version " + std::to_string(f.version) + " cannot be incremented"};
  }
  if (f.state == runtime_state::unset) co_return error{errc::invalid_argument, what + ": runtime_state is required"};
  if (impl->validate_writes) {
    if (auto valid = validate(f); !valid) co_return std::move(valid).error();
  }

  // The stored version only ever grows by one per update: the new version is the one stored at
  // the revision the update replaces, plus one, never what the caller says. A flow this store
  // read or wrote carries its revision, whose version the store remembers: then the update is
  // one compare-and-set. Otherwise (or when audit fields must be restored) read the current one.
  std::optional<std::int64_t> stored_version;
  if (f.revision != 0 && !f.created_at.is_zero()) stored_version = impl->versions.version_at(f.revision);
  if (!stored_version) {
    auto last = co_await impl->bucket.get(f.id, what);
    if (!last) co_return std::move(last).error();
    if (!*last || (*last)->operation != entry_operation::put) co_return not_found_error(what);
    auto current = decode_entry(**last, what);
    if (!current) co_return std::move(current).error();
    if (f.revision != 0 && f.revision != current->revision) {
      co_return error{errc::conflict, what + ": conflict: expected version " + std::to_string(f.version) +
                                          ", current version " + std::to_string(current->version)};
    }
    if (f.created_at.is_zero()) f.created_at = current->created_at;
    if (f.created_by.empty()) f.created_by = current->created_by;
    f.revision = current->revision;
    stored_version = current->version;
    if (detail::was_cancelled(co_await asio::this_coro::cancellation_state)) co_return detail::kv::cancelled(what);
  }
  if (*stored_version != f.version) {
    co_return error{errc::conflict, what + ": conflict: expected version " + std::to_string(f.version) +
                                        ", current version " + std::to_string(*stored_version)};
  }
  if (*stored_version == std::numeric_limits<std::int64_t>::max()) {
    co_return error{errc::invalid_argument, what + ": version " + std::to_string(f.version) + " cannot be incremented"};
  }

  const std::int64_t expected_version = f.version;
  const timestamp now = timestamp::now();
  f.version = *stored_version + 1;
  f.updated_at = now;
  f.last_modified = now;
  auto json = encode(f, what);
  if (!json) co_return std::move(json).error();

  auto revision = co_await impl->bucket.update(f.id, std::move(json).value(), f.revision, what);
  if (!revision) {
    if (revision.error().code != errc::conflict) co_return std::move(revision).error();
    if (detail::was_cancelled(co_await asio::this_coro::cancellation_state)) co_return std::move(revision).error();
    // Say what the caller is up against: the current version, or that the flow is gone.
    auto latest = co_await impl->bucket.get(f.id, what);
    if (latest && (!*latest || (*latest)->operation != entry_operation::put)) co_return not_found_error(what);
    std::string current = "unknown";
    if (latest) {
      if (auto decoded = flow_from_json((*latest)->value)) current = std::to_string(decoded->version);
    }
    error refused = std::move(revision).error();  // keeps the server's code and text
    refused.message =
        what + ": conflict: expected version " + std::to_string(expected_version) + ", current version " + current;
    co_return refused;
  }
  f.revision = *revision;
  impl->versions.remember(f.revision, f.version);
  co_return f;
}

}  // namespace

// The operations are coroutines of their own that hold the store's binding: a store object may
// go before the awaitables it made have run.
asio::awaitable<result<flow>> store::create(flow f) { return create_flow(impl_, std::move(f)); }

asio::awaitable<result<flow>> store::get(std::string id) { return get_flow(impl_, std::move(id)); }

asio::awaitable<result<raw_flow>> store::get_raw(std::string id) { return get_raw_flow(impl_, std::move(id)); }

asio::awaitable<result<flow>> store::update(flow f) { return update_flow(impl_, std::move(f)); }

namespace {

asio::awaitable<result<flow>> modify_flow(std::shared_ptr<detail::store_impl> impl, std::string id,
                                          std::function<bool(flow&)> change, modify_options options) {
  const operation_label what{"modify", id};
  if (options.max_attempts < 1) co_return error{errc::invalid_argument, what + ": max_attempts must be at least 1"};
  std::minstd_rand random(std::random_device{}());
  auto bound = std::chrono::duration_cast<std::chrono::microseconds>(options.initial_backoff);
  const auto max_bound = std::chrono::duration_cast<std::chrono::microseconds>(options.max_backoff);
  for (int attempt = 1;; ++attempt) {
    auto current = co_await get_flow(impl, id);
    if (!current) co_return current;
    flow changed = *current;
    if (!change(changed)) co_return current;
    if (changed.id != id) co_return error{errc::invalid_argument, what + ": the change must not change the id"};
    auto stored = co_await update_flow(impl, std::move(changed));
    if (stored || stored.error() != errc::conflict || attempt == options.max_attempts) co_return stored;
    // Another writer won this round: wait a random moment between half the bound and the bound,
    // then read again.
    const long long limit = std::min(bound, max_bound).count();
    std::uniform_int_distribution<long long> pick(limit / 2, limit);
    asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::microseconds(pick(random)));
    auto [ec] = co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return error{errc::cancelled, what + ": cancelled"};
    bound *= 2;
  }
}

}  // namespace

asio::awaitable<result<flow>> store::modify(std::string id, std::function<bool(flow&)> change) {
  return modify_flow(impl_, std::move(id), std::move(change), modify_options());
}

asio::awaitable<result<flow>> store::modify(std::string id, std::function<bool(flow&)> change, modify_options options) {
  return modify_flow(impl_, std::move(id), std::move(change), options);
}

namespace {

asio::awaitable<result<void>> remove_checked(detail::kv::bucket bucket, std::string id,
                                             std::optional<std::int64_t> expected_version) {
  const operation_label what{"remove", id};
  if (!valid_flow_id(id)) co_return invalid_id_error(what);
  auto last = co_await bucket.get(id, what);
  if (!last) co_return std::move(last).error();
  if (!*last || (*last)->operation != entry_operation::put) co_return not_found_error(what);
  if (expected_version) {
    auto current = decode_entry(**last, what);
    if (!current) co_return std::move(current).error();
    if (current->version != *expected_version) {
      co_return error{errc::conflict, what + ": conflict: expected version " + std::to_string(*expected_version) +
                                          ", current version " + std::to_string(current->version)};
    }
  }
  if (detail::was_cancelled(co_await asio::this_coro::cancellation_state)) co_return detail::kv::cancelled(what);
  auto erased = co_await bucket.erase(id, (*last)->revision, what);
  if (!erased) {
    error refused = std::move(erased).error();
    if (refused.code == errc::conflict) refused.message = what + ": conflict: the flow changed while removing it";
    co_return refused;
  }
  co_return success();
}

}  // namespace

asio::awaitable<result<void>> store::remove(std::string id) {
  return remove_checked(impl_->bucket, std::move(id), std::nullopt);
}

asio::awaitable<result<void>> store::remove(std::string id, std::int64_t expected_version) {
  return remove_checked(impl_->bucket, std::move(id), expected_version);
}

namespace {

asio::awaitable<result<list_result>> list_flows(std::shared_ptr<detail::store_impl> impl) {
  const operation_label what{"list flows in bucket", impl->bucket.name(), false};
  // Each group is decoded as it arrives, while the server still streams the rest.
  auto decoder = std::make_shared<list_decoder>();
  auto decode_group = [&decoder](std::vector<entry>& group) { decoder->add(decoder, group); };
  auto scanned = co_await impl->bucket.scan(">", detail::kv::scan_mode::last_per_key, what, decode_group);
  decoder->take_back();
  co_await decoder->async_wait_idle(decoder, asio::use_awaitable);
  if (!scanned) co_return std::move(scanned).error();
  list_result listed;
  listed.flows = std::move(decoder->flows);
  listed.failures = std::move(decoder->failures);
  detail::keep_latest_by_key(listed.flows, listed.failures, decoder->revisions);
  impl->versions.remember_all(listed.flows, [](const flow& f) { return std::pair(f.revision, f.version); });
  co_return listed;
}

asio::awaitable<result<std::vector<raw_flow>>> list_raw_flows(std::shared_ptr<detail::store_impl> impl) {
  const operation_label what{"list flows in bucket", impl->bucket.name(), false};
  std::vector<entry> entries;
  auto collect = [&entries](std::vector<entry>& group) {
    entries.insert(entries.end(), std::make_move_iterator(group.begin()), std::make_move_iterator(group.end()));
  };
  auto scanned = co_await impl->bucket.scan(">", detail::kv::scan_mode::last_per_key, what, collect);
  if (!scanned) co_return std::move(scanned).error();
  // A key written while the scan's consumer was set up may come twice: keep its latest revision,
  // and nothing of a key whose latest revision removed it.
  std::sort(entries.begin(), entries.end(),
            [](const entry& a, const entry& b) { return a.key != b.key ? a.key < b.key : a.revision < b.revision; });
  std::vector<raw_flow> listed;
  listed.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const bool superseded = i + 1 < entries.size() && entries[i + 1].key == entries[i].key;
    if (superseded || entries[i].operation != entry_operation::put) continue;
    listed.push_back(raw_of(std::move(entries[i])));
  }
  co_return listed;
}

asio::awaitable<result<std::vector<flow_revision>>> history_of(std::shared_ptr<detail::store_impl> impl,
                                                               std::string id) {
  const operation_label what{"history of", id};
  if (!valid_flow_id(id)) co_return invalid_id_error(what);
  auto entries = co_await impl->bucket.scan(id, detail::kv::scan_mode::all, what);
  if (!entries) co_return std::move(entries).error();
  if (entries->empty()) co_return not_found_error(what);
  std::vector<flow_revision> revisions;
  revisions.reserve(entries->size());
  for (const entry& e : *entries) {
    flow_revision r;
    r.revision = e.revision;
    r.time = e.time;
    switch (e.operation) {
      case entry_operation::put:
        r.operation = revision_operation::put;
        r.content = decode_entry(e, what);
        break;
      case entry_operation::del:
        r.operation = revision_operation::deleted;
        break;
      case entry_operation::purge:
        r.operation = revision_operation::purged;
        break;
    }
    revisions.push_back(std::move(r));
  }
  co_return revisions;
}

}  // namespace

asio::awaitable<result<list_result>> store::list() { return cancellation_as_result(list_flows(impl_)); }

asio::awaitable<result<std::vector<raw_flow>>> store::list_raw() {
  return cancellation_as_result(list_raw_flows(impl_));
}

asio::awaitable<result<std::vector<flow_revision>>> store::history(std::string id) {
  return cancellation_as_result(history_of(impl_, std::move(id)));
}

}  // namespace flowstore
