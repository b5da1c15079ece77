#include "kv/bucket.hpp"

#include "kv/message.hpp"
#include "model/message.hpp"
#include "nats/blocking.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <condition_variable>
#include <cstring>
#include <mutex>

namespace flowstore::detail::kv {

using namespace asio::experimental::awaitable_operators;

struct bucket::state {
  std::shared_ptr<connection_impl> connection;
  bucket_config config;
  bucket_info info;
  std::string stream;
  std::string prefix;  // $KV.<bucket>.
  js_context_ptr js;

  result<void> bind(const std::string& what);
};

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

error transport_error(std::error_code ec, const std::string& what, std::chrono::milliseconds timeout) {
  if (ec == errc::timeout) {
    return {ec, what + ": no reply within " + std::to_string(timeout.count()) + " ms"};
  }
  return {ec, what + ": " + ec.message()};
}

}  // namespace

error cancelled(const std::string& what) { return {errc::cancelled, what + ": cancelled"}; }

error status_error(natsStatus s, int js_code, const std::string& what) {
  if (js_code != 0) {
    const char* last = nats_GetLastError(nullptr);
    api_error e{0, js_code, last != nullptr ? last : ""};
    return {code_for_api_error(e), what + ": JetStream error " + std::to_string(js_code), e.description};
  }
  if (s == NATS_NO_RESPONDERS) {
    return {errc::jetstream_unavailable, what + ": JetStream did not answer (is it enabled?)"};
  }
  return error_from_status(s, what);
}

namespace {

std::optional<std::string_view> header(natsMsg* msg, const char* name) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, name, &value) != NATS_OK || value == nullptr) return std::nullopt;
  return std::string_view(value);
}

std::string_view body_of(natsMsg* msg) {
  const char* data = natsMsg_GetData(msg);
  return data == nullptr ? std::string_view()
                         : std::string_view(data, static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
}

}  // namespace

std::size_t header_block_bytes(const outgoing_message& message) noexcept {
  if (message.headers.empty()) return 0;
  std::size_t bytes = std::strlen("NATS/1.0\r\n") + 2;  // status line and the final empty line
  for (const auto& h : message.headers) bytes += std::strlen(h.name) + 2 + h.value.size() + 2;
  return bytes;
}

result<void> bucket::state::bind(const std::string& what) {
  natsConnection* nc = connection->native();
  jsOptions options;
  jsOptions_Init(&options);
  options.Wait = config.timeout.count();
  jsCtx* raw_js = nullptr;
  if (natsStatus s = natsConnection_JetStream(&raw_js, nc, &options); s != NATS_OK) return status_error(s, 0, what);
  js.reset(raw_js);

  jsStreamInfo* raw_info = nullptr;
  jsErrCode js_code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&raw_info, raw_js, stream.c_str(), nullptr, &js_code);
  if (s == NATS_NOT_FOUND || js_code == api_code::stream_not_found) {
    if (!config.create_if_missing) {
      return error{errc::configuration_error, what + ": the bucket does not exist"};
    }
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = config.name.c_str();
    kc.Description = config.description.c_str();
    kc.History = static_cast<std::uint8_t>(config.history);
    kc.Replicas = config.replicas;
    kc.StorageType = config.memory_storage ? js_MemoryStorage : js_FileStorage;
    kvStore* created = nullptr;
    s = js_CreateKeyValue(&created, raw_js, &kc);
    if (s != NATS_OK) {
      error e = status_error(s, 0, what + ": creating the bucket failed");
      if (s == NATS_ERR) e.code = errc::configuration_error;  // the server refused the settings
      return e;
    }
    kvStore_Destroy(created);
    js_code = static_cast<jsErrCode>(0);
    s = js_GetStreamInfo(&raw_info, raw_js, stream.c_str(), nullptr, &js_code);
  }
  if (s != NATS_OK) return status_error(s, js_code, what);
  stream_info_ptr stream_info(raw_info);

  const jsStreamConfig* c = stream_info->Config;
  const std::string subjects = prefix + ">";
  bool kv_subjects = false;
  for (int i = 0; c != nullptr && i < c->SubjectsLen; ++i) {
    kv_subjects = kv_subjects || subjects == c->Subjects[i];
  }
  if (!kv_subjects) {
    return error{errc::configuration_error,
                 what + ": stream " + stream + " is not a KV bucket (no subject " + subjects + ")"};
  }
  // Direct get may be answered by any replica, and on nats-server 2.9 a follower can be behind:
  // a replicated bucket reads through the stream leader instead (read-your-writes).
  info.direct_get = c->AllowDirect && c->Replicas <= 1;
  info.history = c->MaxMsgsPerSubject;
  info.replicas = c->Replicas;
  info.max_message_bytes = c->MaxMsgSize > 0 ? c->MaxMsgSize : -1;
  return success();
}

asio::awaitable<result<bucket>> bucket::open(std::shared_ptr<connection_impl> connection, bucket_config config) {
  const std::string what = "open bucket " + quoted(config.name);
  if (!valid_bucket_name(config.name)) {
    co_return error{errc::invalid_argument, what + ": a bucket name is 1 or more of [A-Za-z0-9_-]"};
  }
  if (config.history < 1 || config.history > 64) {
    co_return error{errc::invalid_argument, what + ": history must be 1 to 64"};
  }
  if (config.replicas < 1 || config.replicas > 5) {
    co_return error{errc::invalid_argument, what + ": replicas must be 1 to 5"};
  }
  if (config.timeout <= std::chrono::milliseconds::zero()) {
    co_return error{errc::invalid_argument, what + ": the timeout must be positive"};
  }
  if (connection->is_closed()) co_return error{errc::closed, what + ": the connection is closed"};

  auto s = std::make_shared<state>();
  s->connection = std::move(connection);
  s->stream = stream_name(config.name);
  s->prefix = kv::key_prefix(config.name);
  s->config = std::move(config);
  auto bind_job = [s, what] { return s->bind(what); };
  result<void> bound = co_await run_blocking(std::move(bind_job));
  if (!bound) co_return std::move(bound).error();
  co_return bucket(std::move(s));
}

const bucket_info& bucket::info() const noexcept { return state_->info; }
const std::string& bucket::name() const noexcept { return state_->config.name; }
const std::string& bucket::stream() const noexcept { return state_->stream; }
const std::string& bucket::key_prefix() const noexcept { return state_->prefix; }
jsCtx* bucket::jetstream() const noexcept { return state_->js.get(); }
const std::shared_ptr<connection_impl>& bucket::connection() const noexcept { return state_->connection; }
std::chrono::milliseconds bucket::timeout() const noexcept { return state_->config.timeout; }

std::int64_t bucket::max_value_bytes(std::size_t header_bytes) const noexcept {
  std::int64_t limit = state_->connection->max_payload() - static_cast<std::int64_t>(header_bytes);
  if (state_->info.max_message_bytes > 0) limit = std::min(limit, state_->info.max_message_bytes);
  return limit;
}

// ---------------------------------------------------------------------------------------------
// Writes

asio::awaitable<result<std::uint64_t>> bucket::publish(std::string key, std::string value,
                                                       std::optional<std::uint64_t> expected_revision, bool is_delete,
                                                       std::string what) {
  outgoing_message message;
  message.subject = key_subject(state_->config.name, key);
  if (expected_revision) {
    message.headers.push_back({"Nats-Expected-Last-Subject-Sequence", std::to_string(*expected_revision)});
  }
  if (is_delete) message.headers.push_back({"KV-Operation", "DEL"});
  const std::int64_t limit = max_value_bytes(header_block_bytes(message));
  if (static_cast<std::int64_t>(value.size()) > limit) {
    co_return error{errc::too_large, what + ": the encoded flow is " + std::to_string(value.size()) +
                                         " bytes; the server accepts at most " + std::to_string(limit)};
  }
  message.body = std::move(value);

  auto [ec, reply] = co_await state_->connection->async_request(std::move(message), state_->config.timeout, use_tuple);
  if (ec) co_return transport_error(ec, what, state_->config.timeout);
  auto parsed = parse_publish_reply(body_of(reply.get()));
  if (!parsed) co_return error{parsed.error().code, what + ": " + parsed.error().message};
  if (parsed->error) {
    const api_error& e = *parsed->error;
    if (e.err_code == api_code::wrong_last_sequence) {
      co_return error{errc::conflict, what + ": the key's revision changed", e.description};
    }
    co_return error{code_for_api_error(e), what + ": JetStream error " + std::to_string(e.err_code), e.description};
  }
  co_return parsed->sequence;
}

asio::awaitable<result<std::uint64_t>> bucket::create(std::string key, std::string value, std::string what) {
  auto first = co_await publish(key, value, 0, false, what);
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
  auto second = co_await publish(std::move(key), std::move(value), (*last)->revision, false, what);
  if (!second && second.error().code == errc::conflict) {
    co_return error{errc::already_exists, what + ": a flow with this id was created concurrently"};
  }
  co_return second;
}

asio::awaitable<result<std::uint64_t>> bucket::update(std::string key, std::string value,
                                                      std::uint64_t expected_revision, std::string what) {
  co_return co_await publish(std::move(key), std::move(value), expected_revision, false, std::move(what));
}

asio::awaitable<result<std::uint64_t>> bucket::erase(std::string key, std::uint64_t expected_revision,
                                                     std::string what) {
  co_return co_await publish(std::move(key), {}, expected_revision, true, std::move(what));
}

// ---------------------------------------------------------------------------------------------
// Reads

asio::awaitable<result<std::optional<entry>>> bucket::get(std::string key, std::string what) {
  const std::string subject = key_subject(state_->config.name, key);
  outgoing_message message;
  if (state_->info.direct_get) {
    message.subject = direct_get_subject(state_->config.name, key);
  } else {
    message.subject = message_get_subject(state_->config.name);
    message.body = R"({"last_by_subj":")" + subject + R"("})";
  }
  auto [ec, reply] = co_await state_->connection->async_request(std::move(message), state_->config.timeout, use_tuple);
  if (ec) co_return transport_error(ec, what, state_->config.timeout);

  natsMsg* msg = reply.get();
  result<std::optional<entry>> interpreted =
      state_->info.direct_get
          ? interpret_direct_get({header(msg, "Status"), header(msg, "Description"), header(msg, "Nats-Subject"),
                                  header(msg, "Nats-Sequence"), header(msg, "Nats-Time-Stamp"),
                                  header(msg, "KV-Operation"), body_of(msg)},
                                 key, subject)
          : interpret_message_get(body_of(msg), key, subject);
  if (!interpreted) {
    co_return error{interpreted.error().code, what + ": " + interpreted.error().message,
                    interpreted.error().server_text};
  }
  co_return interpreted;
}

namespace {

// Shared between a scan's coroutine and its subscription's callbacks (nats.c threads). The
// callbacks only append to `entries` under the mutex and wake the coroutine once a group is
// ready or the scan is done; the coroutine takes the entries away in groups. The subscription's
// closure keeps it alive until nats.c's last callback, which may come after the io_context is
// gone: so it holds no Asio I/O object.
struct scan_state {
  struct waiter {
    asio::any_completion_handler<void()> handler;
    asio::any_io_executor executor;
  };

  // Entries handed over at a time: large enough that waking the coroutine costs little per
  // entry, small enough that its work starts while the scan still streams.
  static constexpr std::size_t group_size = 128;

  explicit scan_state(std::string key_prefix) : prefix(std::move(key_prefix)) {}
  scan_state(const scan_state&) = delete;
  scan_state& operator=(const scan_state&) = delete;

  // Under the mutex.
  void finish(std::optional<error> failure_found = std::nullopt) {
    if (done) return;
    done = true;
    failure = std::move(failure_found);
    wake();
  }
  void wake() {
    if (!waiting) return;
    auto w = std::move(*waiting);
    waiting.reset();
    asio::post(w.executor, std::move(w.handler));
  }
  bool group_ready() const { return done || entries.size() >= group_size; }

  // Completes when a group is ready or the scan is done, or when cancelled.
  template <class Token>
  auto async_wait_group(std::shared_ptr<scan_state> self, Token&& token) {
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
            slot.assign([weak = std::weak_ptr<scan_state>(self)](asio::cancellation_type) {
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
  const std::string prefix;
  // Messages already copied into `entries`, destroyed in groups (see held_messages).
  held_messages spent;
  std::vector<entry> entries;  // arrived, not yet taken by the coroutine
  std::uint64_t received = 0;
  std::optional<std::uint64_t> expected;
  bool done = false;
  std::optional<error> failure;
  std::optional<waiter> waiting;
  // While the pool subscribes and asks for the consumer's count, which uses the subscription:
  // from the scan's start.
  bool setting_up = true;
  std::condition_variable set_up;
  natsSubscription* subscription = nullptr;

  // Under the mutex.
  void end_setup() {
    setting_up = false;
    set_up.notify_all();
  }
};

void on_scan_message(natsConnection*, natsSubscription*, natsMsg* raw, void* closure) {
  scan_state& scan = **static_cast<std::shared_ptr<scan_state>*>(closure);
  std::uint64_t pending = 0;
  auto e = entry_from_message(raw, scan.prefix, pending);
  std::lock_guard lock(scan.mutex);
  scan.spent.hold(raw);
  if (scan.done) return;
  if (!e) return scan.finish(std::move(e).error());
  scan.entries.push_back(std::move(e).value());
  ++scan.received;
  if (pending == 0 || (scan.expected && scan.received >= *scan.expected)) return scan.finish();
  if (scan.entries.size() >= scan_state::group_size) scan.wake();
}

void on_scan_complete(void* closure) { delete static_cast<std::shared_ptr<scan_state>*>(closure); }

}  // namespace

asio::awaitable<result<std::vector<entry>>> bucket::scan(std::string pattern, scan_mode mode, std::string what) {
  std::vector<entry> all;
  auto append = [&all](std::vector<entry>& group) {
    if (all.empty()) {
      all.swap(group);
    } else {
      all.insert(all.end(), std::make_move_iterator(group.begin()), std::make_move_iterator(group.end()));
    }
  };
  auto scanned = co_await scan(std::move(pattern), mode, std::move(what), append);
  if (!scanned) co_return std::move(scanned).error();
  co_return all;
}

asio::awaitable<result<void>> bucket::scan(std::string pattern, scan_mode mode, std::string what,
                                           std::function<void(std::vector<entry>&)> on_batch) {
  const auto executor = co_await asio::this_coro::executor;
  auto scan = std::make_shared<scan_state>(state_->prefix);
  const std::string subject = state_->prefix + pattern;

  // Subscribing waits for the consumer's creation, whose reply may queue behind entries the
  // server already streams; so does the consumer's count, which ends a scan that has nothing to
  // deliver. Both run on the pool while this coroutine takes the groups that arrive meanwhile.
  asio::post(blocking_pool(), [s = state_, scan, subject, mode, what] {
    jsSubOptions options;
    jsSubOptions_Init(&options);
    options.Stream = s->stream.c_str();  // skips a stream lookup round trip
    options.Ordered = true;
    options.Config.DeliverPolicy = mode == scan_mode::all ? js_DeliverAll : js_DeliverLastPerSubject;
    auto* closure = new std::shared_ptr<scan_state>(scan);
    natsSubscription* sub = nullptr;
    jsErrCode js_code = static_cast<jsErrCode>(0);
    natsStatus st =
        js_Subscribe(&sub, s->js.get(), subject.c_str(), &on_scan_message, closure, nullptr, &options, &js_code);
    if (st != NATS_OK) {
      delete closure;  // no callback can run for a subscription that was never made
      std::lock_guard lock(scan->mutex);
      scan->finish(status_error(st, js_code, what));
      scan->end_setup();
      return;
    }
    natsSubscription_SetPendingLimits(sub, -1, -1);
    natsSubscription_SetOnCompleteCB(sub, &on_scan_complete, closure);
    {
      std::lock_guard lock(scan->mutex);
      scan->subscription = sub;
    }
    jsConsumerInfo* consumer = nullptr;
    std::optional<std::uint64_t> total;
    if (natsSubscription_GetConsumerInfo(&consumer, sub, nullptr, &js_code) == NATS_OK) {
      total = consumer->NumPending + consumer->Delivered.Consumer;
      jsConsumerInfo_Destroy(consumer);
    }
    std::lock_guard lock(scan->mutex);
    if (total) {
      scan->expected = total;
      if (scan->received >= *total) scan->finish();
    }
    scan->end_setup();
  });

  // Hand over groups as they arrive; time out only when nothing arrives for a whole timeout.
  asio::steady_timer timer(executor);
  std::uint64_t seen = 0;
  std::optional<error> outcome;
  std::vector<entry> group;
  while (true) {
    bool finished = false;
    {
      std::lock_guard lock(scan->mutex);
      if (scan->group_ready()) group.swap(scan->entries);
      finished = scan->done;
    }
    if (!group.empty()) {
      on_batch(group);
      group.clear();
      continue;  // the scan may have finished meanwhile: take what is left first
    }
    if (finished) break;
    timer.expires_after(state_->config.timeout);
    co_await (scan->async_wait_group(scan, asio::use_awaitable) || timer.async_wait(use_tuple));
    if (was_cancelled(co_await asio::this_coro::cancellation_state)) {
      std::lock_guard lock(scan->mutex);
      if (scan->done && !scan->failure) continue;  // complete anyway: hand over the rest
      outcome = cancelled(what);
      break;
    }
    std::lock_guard lock(scan->mutex);
    if (scan->group_ready()) continue;
    // While setting up, the pool's requests time out by themselves, with their own error.
    if (scan->received == seen && !scan->setting_up) {
      outcome =
          error{errc::timeout, what + ": no message for " + std::to_string(state_->config.timeout.count()) + " ms"};
      scan->done = true;
      break;
    }
    seen = scan->received;
  }

  // Unsubscribing deletes the consumer with a blocking request: on the pool, and awaited, so
  // that no cleanup of this scan races a close of the connection that follows it. Skipped while
  // disconnected (it would wait out its whole timeout; the server drops an idle consumer).
  auto cleanup_job = [nc = state_->connection->native(), scan] {
    natsSubscription* sub = nullptr;
    {
      std::unique_lock lock(scan->mutex);
      scan->set_up.wait(lock, [&scan] { return !scan->setting_up; });
      sub = scan->subscription;
    }
    if (sub == nullptr) return 0;  // subscribing failed
    if (natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED) natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    return 0;
  };
  co_await run_blocking(std::move(cleanup_job), teardown_strand());

  std::lock_guard lock(scan->mutex);
  scan->done = true;
  if (outcome) co_return std::move(*outcome);
  if (scan->failure) co_return std::move(*scan->failure);
  co_return success();
}

}  // namespace flowstore::detail::kv
