#include "kv/bucket.hpp"

#include "kv/consumer_driver.hpp"
#include "kv/jetstream_api.hpp"
#include "model/message.hpp"
#include "nats/blocking.hpp"
#include "nats/message_view.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstring>
#include <mutex>

namespace flowstore::detail::kv {

namespace asio = boost::asio;

struct bucket::state {
  std::shared_ptr<connection_impl> connection;
  bucket_config config;
  bucket_info info;
  std::string stream;
  std::string prefix;  // $KV.<bucket>.
};

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string_view body_of(natsMsg* msg) {
  const char* data = natsMsg_GetData(msg);
  return data == nullptr ? std::string_view()
                         : std::string_view(data, static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
}

// A lower layer's error, its message prefixed with the operation.
error named(const operation_label& what, error e) {
  e.message = what + ": " + e.message;
  return e;
}

// What keeps a stream from being a bucket, or nothing.
std::optional<std::string> not_a_bucket(const stream_info& info, const std::string& stream, const std::string& prefix) {
  const std::string subjects = prefix + ">";
  if (std::find(info.subjects.begin(), info.subjects.end(), subjects) == info.subjects.end()) {
    return "stream " + stream + " is not a KV bucket (no subject " + subjects + ")";
  }
  if (info.retention != "limits") {
    return "stream " + stream + " has retention \"" + info.retention +
           "\"; a KV bucket needs \"limits\" (its consumers could not read it)";
  }
  if (info.sealed) return "stream " + stream + " is sealed; a KV bucket must take writes";
  return std::nullopt;
}

}  // namespace

error transport_error(std::error_code ec, const operation_label& what, std::chrono::milliseconds timeout) {
  if (ec == errc::timeout) {
    return {ec, what + ": no reply within " + std::to_string(timeout.count()) + " ms"};
  }
  if (ec == errc::no_responders)
    return {errc::jetstream_unavailable, what + ": JetStream did not answer (is it enabled?)"};
  return {ec, what + ": " + ec.message()};
}

error cancelled(const operation_label& what) { return {errc::cancelled, what + ": cancelled"}; }

std::size_t header_block_bytes(const outgoing_message& message) noexcept {
  if (message.headers.empty()) return 0;
  std::size_t bytes = std::strlen("NATS/1.0\r\n") + 2;  // status line and the final empty line
  for (const auto& h : message.headers) bytes += std::strlen(h.name) + 2 + h.value.size() + 2;
  return bytes;
}

asio::awaitable<result<bucket>> bucket::open(std::shared_ptr<connection_impl> connection, bucket_config config) {
  auto s = std::make_shared<state>();
  s->config = std::move(config);
  const operation_label what{"open bucket", s->config.name, false};
  const bucket_config& c = s->config;
  if (!valid_bucket_name(c.name)) {
    co_return error{errc::invalid_argument,
                    what + ": a bucket name is 1 to " + std::to_string(max_bucket_name_bytes) + " of [A-Za-z0-9_-]"};
  }
  if (c.history < 1 || c.history > 64) {
    co_return error{errc::invalid_argument, what + ": history must be 1 to 64"};
  }
  if (c.replicas < 1 || c.replicas > 5) {
    co_return error{errc::invalid_argument, what + ": replicas must be 1 to 5"};
  }
  if (c.timeout <= std::chrono::milliseconds::zero()) {
    co_return error{errc::invalid_argument, what + ": the timeout must be positive"};
  }
  if (connection->is_closed()) co_return error{errc::closed, what + ": the connection is closed"};

  s->connection = std::move(connection);
  s->stream = stream_name(c.name);
  s->prefix = kv::key_prefix(c.name);
  const auto timeout = s->config.timeout;

  auto request = [&](std::string subject, std::string body) {
    outgoing_message m;
    m.subject = std::move(subject);
    m.body = std::move(body);
    return s->connection->async_request(std::move(m), timeout, use_tuple);
  };
  auto read_reply = [&](std::error_code ec, const nats_message_ptr& reply) -> result<stream_info_reply> {
    if (ec) return transport_error(ec, what, timeout);
    auto parsed = parse_stream_info_reply(body_of(reply.get()));
    if (!parsed) return named(what, std::move(parsed).error());
    return parsed;
  };

  auto [info_ec, info_msg] = co_await request(stream_info_subject(s->stream), {});
  auto info = read_reply(info_ec, info_msg);
  if (!info) co_return std::move(info).error();
  if (info->error && info->error->err_code == api_code::stream_not_found) {
    if (!s->config.create_if_missing) {
      error missing{errc::configuration_error, what + ": the bucket does not exist"};
      missing.server_code = jetstream_errc::stream_not_found;
      co_return missing;
    }
    const bucket_stream_config settings{c.name, c.description, c.history, c.replicas, c.memory_storage};
    auto [create_ec, create_msg] = co_await request(stream_create_subject(s->stream), stream_create_request(settings));
    info = read_reply(create_ec, create_msg);
    if (!info) co_return std::move(info).error();
    if (info->error && info->error->err_code == api_code::stream_exists_with_other_config) {
      // Another client created it meanwhile, with other settings: use it as it is.
      auto [again_ec, again_msg] = co_await request(stream_info_subject(s->stream), {});
      info = read_reply(again_ec, again_msg);
      if (!info) co_return std::move(info).error();
    } else if (info->error) {
      const api_error& e = *info->error;
      error refused = api_failure(what + ": creating the bucket failed", e);
      // The server refused the settings (more replicas than servers, limits), unless it is
      // only unavailable for now.
      if (refused.code != condition::transient) refused.code = errc::configuration_error;
      co_return refused;
    }
  }
  if (info->error) co_return api_failure(what.text(), *info->error);

  const stream_info& i = *info->info;
  if (auto problem = not_a_bucket(i, s->stream, s->prefix))
    co_return error{errc::configuration_error, what + ": " + *problem};
  // Direct get may be answered by any replica, and on nats-server 2.9 a follower can be behind:
  // a replicated bucket reads through the stream leader instead (read-your-writes).
  s->info.direct_get = i.allow_direct && i.num_replicas <= 1;
  s->info.history = i.max_msgs_per_subject;
  s->info.replicas = i.num_replicas;
  s->info.max_message_bytes = i.max_msg_size > 0 ? i.max_msg_size : -1;
  co_return bucket(std::move(s));
}

const bucket_info& bucket::info() const noexcept { return state_->info; }
const std::string& bucket::name() const noexcept { return state_->config.name; }
const std::string& bucket::stream() const noexcept { return state_->stream; }
const std::string& bucket::key_prefix() const noexcept { return state_->prefix; }
const std::shared_ptr<connection_impl>& bucket::connection() const noexcept { return state_->connection; }
std::chrono::milliseconds bucket::timeout() const noexcept { return state_->config.timeout; }

std::int64_t bucket::max_value_bytes(std::size_t header_bytes) const noexcept {
  std::int64_t limit = state_->connection->max_payload() - static_cast<std::int64_t>(header_bytes);
  if (state_->info.max_message_bytes > 0) limit = std::min(limit, state_->info.max_message_bytes);
  return limit;
}

// ---------------------------------------------------------------------------------------------
// Writes

// Callers pass owner_tag() rather than {}: g++ 12 destroys a coroutine argument made from a
// braced list twice.
asio::awaitable<result<std::uint64_t>> bucket::publish(std::string key, std::string value,
                                                       std::optional<std::uint64_t> expected_revision, bool is_delete,
                                                       operation_label what, owner_tag owner) {
  outgoing_message message;
  message.subject = key_subject(state_->config.name, key);
  if (expected_revision) {
    message.headers.push_back({"Nats-Expected-Last-Subject-Sequence", std::to_string(*expected_revision)});
  }
  if (is_delete) message.headers.push_back({"KV-Operation", "DEL"});
  if (!owner.flow.empty()) {
    // Both views are of literals, so their data is terminated.
    message.headers.push_back({owner_header.data(), std::move(owner.flow)});
    message.headers.push_back({owner_revision_header.data(), std::to_string(owner.revision)});
  }
  const std::int64_t limit = max_value_bytes(header_block_bytes(message));
  if (static_cast<std::int64_t>(value.size()) > limit) {
    co_return error{errc::too_large, what + ": the encoded document is " + std::to_string(value.size()) +
                                         " bytes; the server accepts at most " + std::to_string(limit)};
  }
  message.body = std::move(value);

  auto [ec, reply] = co_await state_->connection->async_request(std::move(message), state_->config.timeout, use_tuple);
  if (ec) co_return transport_error(ec, what, state_->config.timeout);
  auto parsed = parse_publish_reply(body_of(reply.get()));
  if (!parsed) co_return named(what, std::move(parsed).error());
  if (parsed->error) {
    const api_error& e = *parsed->error;
    if (e.err_code == api_code::wrong_last_sequence) {
      error changed = api_failure(errc::conflict, what.text(), e);
      changed.message = what + ": the key's revision changed";
      co_return changed;
    }
    co_return api_failure(what.text(), e);
  }
  co_return parsed->sequence;
}

asio::awaitable<result<std::uint64_t>> bucket::create(std::string key, std::string value, operation_label what) {
  auto first = co_await publish(key, value, 0, false, what, owner_tag());
  if (first || first.error().code != errc::conflict) co_return first;

  // The key has messages. A tombstone (delete or purge marker) may be replaced: retry once
  // against its revision, so that a flow can be re-created after remove.
  if (was_cancelled(co_await asio::this_coro::cancellation_state)) co_return cancelled(what);
  auto last = co_await get(key, what);
  if (!last) co_return std::move(last).error();
  if (!*last || (*last)->operation == entry_operation::put) {
    co_return error{errc::already_exists, what + ": a flow with this id exists"};
  }
  if (was_cancelled(co_await asio::this_coro::cancellation_state)) co_return cancelled(what);
  auto second = co_await publish(std::move(key), std::move(value), (*last)->revision, false, what, owner_tag());
  if (!second && second.error().code == errc::conflict) {
    co_return error{errc::already_exists, what + ": a flow with this id was created concurrently"};
  }
  co_return second;
}

asio::awaitable<result<std::uint64_t>> bucket::update(std::string key, std::string value,
                                                      std::uint64_t expected_revision, operation_label what) {
  co_return co_await publish(std::move(key), std::move(value), expected_revision, false, what, owner_tag());
}

asio::awaitable<result<std::uint64_t>> bucket::write_owned(std::string key, std::string value,
                                                           std::uint64_t expected_revision, bool is_delete,
                                                           owner_tag owner, operation_label what) {
  co_return co_await publish(std::move(key), std::move(value), expected_revision, is_delete, what, std::move(owner));
}

asio::awaitable<result<std::uint64_t>> bucket::erase(std::string key, std::uint64_t expected_revision,
                                                     operation_label what) {
  co_return co_await publish(std::move(key), {}, expected_revision, true, what, owner_tag());
}

// ---------------------------------------------------------------------------------------------
// Reads

asio::awaitable<result<std::optional<entry>>> bucket::get(std::string key, operation_label what) {
  outgoing_message message;
  const std::string& prefix = state_->prefix;
  if (state_->info.direct_get) {
    // One allocation: $JS.API.DIRECT.GET.<stream>.$KV.<bucket>.<key>
    constexpr std::string_view api = "$JS.API.DIRECT.GET.";
    message.subject.reserve(api.size() + state_->stream.size() + 1 + prefix.size() + key.size());
    message.subject.append(api).append(state_->stream).append(".").append(prefix).append(key);
  } else {
    message.subject = message_get_subject(state_->config.name);
    message.body = R"({"last_by_subj":")" + prefix + key + R"("})";
  }
  auto [ec, reply] = co_await state_->connection->async_request(std::move(message), state_->config.timeout, use_tuple);
  if (ec) co_return transport_error(ec, what, state_->config.timeout);

  result<std::optional<entry>> interpreted = std::optional<entry>{};
  if (state_->info.direct_get) {
    const message_view m(reply.get());
    const header_status status = m.status();
    auto optional_view = [](std::string_view v) {
      return v.empty() ? std::nullopt : std::optional<std::string_view>(v);
    };
    static constexpr std::string_view names[] = {"Nats-Subject", "Nats-Sequence", "Nats-Time-Stamp",
                                                 "KV-Operation", owner_header,    owner_revision_header};
    std::optional<std::string_view> values[std::size(names)];
    headers_in_block(m.headers(), names, values);
    interpreted = interpret_direct_get({optional_view(status.code), optional_view(status.description), values[0],
                                        values[1], values[2], values[3], m.body(), values[4], values[5]},
                                       key, prefix);
  } else {
    interpreted = interpret_message_get(body_of(reply.get()), key, prefix);
  }
  if (!interpreted) co_return named(what, std::move(interpreted).error());
  co_return interpreted;
}

namespace {

// Where a scan's consumer hands its entries: it appends them on the connection's strand, the
// scan's coroutine takes them in groups on its own executor.
struct scan_collector final : consumer_output {
  struct waiter {
    asio::any_completion_handler<void()> handler;
    asio::any_io_executor executor;
  };

  // Entries handed over at a time: large enough that waking the coroutine costs little per
  // entry, small enough that its work starts while the scan still streams.
  static constexpr std::size_t group_size = 128;

  void on_entries(std::vector<entry>& delivered) override {
    std::lock_guard lock(mutex);
    if (entries.empty()) {
      entries.swap(delivered);
    } else {
      entries.insert(entries.end(), std::make_move_iterator(delivered.begin()),
                     std::make_move_iterator(delivered.end()));
    }
    if (entries.size() >= group_size) wake();
  }
  void on_initial_done() override {}
  void on_finished() override {
    std::lock_guard lock(mutex);
    done = true;
    wake();
  }
  void on_failed(error why) override {
    std::lock_guard lock(mutex);
    done = true;
    failure = std::move(why);
    wake();
  }

  // Under the mutex.
  void wake() {
    if (!waiting) return;
    auto w = std::move(*waiting);
    waiting.reset();
    asio::post(w.executor, std::move(w.handler));
  }
  bool group_ready() const { return done || entries.size() >= group_size; }

  // Completes when a group is ready or the scan is done, or when cancelled.
  template <class Token>
  auto async_wait_group(std::shared_ptr<scan_collector> self, Token&& token) {
    return asio::async_initiate<Token, void()>(
        [self](auto handler) {
          asio::any_io_executor executor = asio::get_associated_executor(handler, asio::system_executor());
          std::lock_guard lock(self->mutex);
          if (self->group_ready()) return asio::post(executor, std::move(handler));
          self->waiting = waiter{asio::any_completion_handler<void()>(std::move(handler)), std::move(executor)};
          // The slot of the stored handler: wrapping a handler installs the wrapper's own
          // forwarding in the original slot, which would replace a handler put there before.
          auto slot = asio::get_associated_cancellation_slot(self->waiting->handler);
          if (slot.is_connected()) {
            slot.assign([weak = std::weak_ptr<scan_collector>(self)](asio::cancellation_type) {
              if (auto s = weak.lock()) {
                std::lock_guard guard(s->mutex);
                s->wake();  // posts, so this slot handler is not destroyed while it runs
              }
            });
          }
        },
        token);
  }

  std::mutex mutex;
  std::vector<entry> entries;  // arrived, not yet taken by the coroutine
  bool done = false;
  std::optional<error> failure;
  std::optional<waiter> waiting;
};

}  // namespace

asio::awaitable<result<std::vector<entry>>> bucket::scan(std::string pattern, scan_mode mode, operation_label what) {
  std::vector<entry> all;
  auto append = [&all](std::vector<entry>& group) {
    if (all.empty()) {
      all.swap(group);
    } else {
      all.insert(all.end(), std::make_move_iterator(group.begin()), std::make_move_iterator(group.end()));
    }
  };
  auto scanned = co_await scan(std::move(pattern), mode, what, append);
  if (!scanned) co_return std::move(scanned).error();
  co_return all;
}

asio::awaitable<result<std::uint64_t>> bucket::scan_target(const std::string& pattern, operation_label what) {
  if (state_->info.replicas <= 1) co_return 0;
  if (pattern.find_first_of("*>") == std::string::npos) {
    // One key: its last revision, read through the stream leader.
    auto last = co_await get(pattern, what);
    if (!last) co_return std::move(last).error();
    co_return *last ? (*last)->revision : 0;
  }
  outgoing_message m;
  m.subject = stream_info_subject(state_->stream);
  auto [ec, reply] = co_await state_->connection->async_request(std::move(m), state_->config.timeout, use_tuple);
  if (ec) co_return transport_error(ec, what, state_->config.timeout);
  auto parsed = parse_stream_info_reply(body_of(reply.get()));
  if (!parsed) co_return named(what, std::move(parsed).error());
  if (parsed->error) co_return api_failure(what.text(), *parsed->error);
  co_return parsed->info->last_seq;
}

asio::awaitable<result<void>> bucket::scan(std::string pattern, scan_mode mode, operation_label what,
                                           std::function<void(std::vector<entry>&)> on_batch) {
  if (state_->connection->is_closed()) co_return error{errc::closed, what + ": the connection is closed"};
  auto target = co_await scan_target(pattern, what);
  if (!target) co_return std::move(target).error();
  if (was_cancelled(co_await asio::this_coro::cancellation_state)) co_return cancelled(what);

  const auto timeout = state_->config.timeout;
  ordered_consumer_settings settings;
  settings.stream = state_->stream;
  settings.filter_subject = state_->prefix + pattern;
  settings.key_prefix = state_->prefix;
  settings.start = mode == scan_mode::all ? start_from::all : start_from::last_per_key;
  settings.scan = true;
  settings.window = scan_window;
  settings.expires = timeout;
  // Heard only while a fetch waits for more: when the consumer's replica is behind the target.
  settings.heartbeat = std::max<std::chrono::milliseconds>(
      std::chrono::milliseconds(1), std::min<std::chrono::milliseconds>(timeout / 4, std::chrono::seconds(1)));
  settings.silence = timeout;
  settings.inactive_threshold = std::max<std::chrono::milliseconds>(timeout * 4, std::chrono::seconds(30));
  settings.reach = *target;
  settings.budgeted = true;

  auto collector = std::make_shared<scan_collector>();
  auto driver = std::make_shared<consumer_driver>(state_->connection, std::move(settings), collector, timeout);
  driver->start();

  std::optional<error> outcome;
  std::vector<entry> group;
  while (true) {
    bool finished = false;
    {
      std::lock_guard lock(collector->mutex);
      if (collector->group_ready()) group.swap(collector->entries);
      finished = collector->done;
    }
    if (!group.empty()) {
      const std::uint64_t taken = group.size();
      on_batch(group);
      group.clear();
      driver->consumed(taken);
      continue;  // the scan may have finished meanwhile: take what is left first
    }
    if (finished) break;
    co_await collector->async_wait_group(collector, asio::use_awaitable);
    if (was_cancelled(co_await asio::this_coro::cancellation_state)) {
      std::lock_guard lock(collector->mutex);
      if (collector->done && !collector->failure) continue;  // complete anyway: hand over the rest
      outcome = cancelled(what);
      break;
    }
  }
  if (outcome) {
    driver->stop();
    co_return std::move(*outcome);
  }
  std::lock_guard lock(collector->mutex);
  if (collector->failure) {
    co_return named(what, std::move(*collector->failure));
  }
  co_return success();
}

}  // namespace flowstore::detail::kv
