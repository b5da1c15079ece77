#include "nats/connection_impl.hpp"

#include "nats/blocking.hpp"
#include "nats/nkey.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <variant>
#include <vector>

namespace flowstore::detail {

namespace asio = boost::asio;

std::string redact_url(std::string_view url) {
  const auto scheme = url.find("://");
  const std::size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
  const auto at = url.find('@', start);
  if (at == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, start)) + "***@" + std::string(url.substr(at + 1));
}

namespace {

// Posts the completion to the handler's own executor: never inline from the initiating call.
void post_completion(connection_impl::completion done, std::error_code ec, nats_message_ptr msg) {
  asio::post(done.executor, asio::append(std::move(done.handler), ec, std::move(msg)));
}

// From a strand handler (never from the initiating call): when the strand runs on the
// caller's io_context thread, the awaiting coroutine resumes right here instead of after one
// more trip through the io_context's queue.
void dispatch_completion(connection_impl::completion done, std::error_code ec, nats_message_ptr msg) {
  asio::dispatch(done.executor, asio::append(std::move(done.handler), ec, std::move(msg)));
}

std::string servers_for_message(const std::vector<std::string>& servers) {
  std::string text;
  for (const auto& url : servers) {
    if (!text.empty()) text += ", ";
    text += redact_url(url);
  }
  return text;
}

// Closes a connection on a library thread. Before that, while still connected, the inbox is
// unsubscribed and a ping answered: every reply the server sent before it has then been read
// whole. nats.c 3.4.1 does not free the buffer of a large message that is half read when its
// connection closes, and at exit that is a leak. A server that does not answer in time only
// delays the close by the flush's bound.
void quiet_close(natsConnection* nc, natsSubscription* inbox) {
  if (natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED) {
    if (inbox != nullptr) natsSubscription_Unsubscribe(inbox);
    natsConnection_FlushTimeout(nc, 250);
  }
  natsConnection_Close(nc);
}

}  // namespace

struct connection_impl::nats_resources {
  callback_hub* hub = nullptr;
  nats_subscription_ptr inbox;
  nats_connection_ptr connection;
  nats_options_ptr options;
};

connection_impl::connection_impl(asio::any_io_executor executor, connect_options options)
    : executor_(executor),
      strand_(asio::make_strand(executor)),
      options_(std::move(options)),
      hub_(new callback_hub),
      timer_(std::in_place, *strand_) {
  // When the io_context goes first, its shutdown detaches nats.c's callbacks from this object,
  // ends every request and consumer as a close would (their handlers are queued to executors
  // that no longer run, and destroyed with them: a coroutine suspended in a scan or a watch
  // owns no more than its frame), and destroys the strand and the timer while their services
  // still exist.
  anchor_ = io_anchor::attach(executor, [this] {
    {
      std::lock_guard lock(hub_->mutex);
      hub_->target = nullptr;
    }
    closed_.store(true, std::memory_order_release);
    fail_all(errc::closed);
    tell_listeners(connection_event::kind::closed);
    routes_.clear();
    timer_.reset();
    std::lock_guard lock(strand_mutex_);
    strand_.reset();
  });
}

connection_impl::~connection_impl() {
  anchor_->release_now();
  asio::post(blocking_pool(), [resources = release_resources()]() mutable { shut_down(std::move(resources)); });
}

connection_impl::nats_resources connection_impl::release_resources() {
  {
    std::lock_guard lock(hub_->mutex);
    hub_->target = nullptr;
  }
  nats_resources resources;
  resources.hub = std::exchange(hub_, nullptr);
  resources.inbox = std::move(inbox_subscription_);
  resources.connection = std::move(connection_);
  resources.options = std::move(nats_options_);
  return resources;
}

void connection_impl::shut_down(nats_resources resources) {
  callback_hub* hub = resources.hub;
  if (resources.connection) {
    quiet_close(resources.connection.get(), resources.inbox.get());
    std::unique_lock lock(hub->mutex);
    // The closed callback and the inbox's completion callback are the last nats.c calls that
    // can use the hub. Should they never come, leaking the hub beats a use after free.
    const bool finished = hub->finished.wait_for(lock, std::chrono::seconds(10), [&] {
      return hub->connection_closed && (!resources.inbox || hub->inbox_complete);
    });
    if (!finished) {
      (void)resources.inbox.release();
      (void)resources.connection.release();
      return;
    }
  }
  resources.inbox.reset();
  resources.connection.reset();
  resources.options.reset();
  delete hub;
}

asio::awaitable<result<std::shared_ptr<connection_impl>>> connection_impl::connect(asio::any_io_executor executor,
                                                                                   connect_options options) {
  if (options.servers.empty()) co_return error{errc::invalid_argument, "connect: no server URL given"};
  for (const auto& url : options.servers) {
    if (url.empty()) co_return error{errc::invalid_argument, "connect: a server URL is empty"};
  }
  if (options.operation_timeout <= std::chrono::milliseconds::zero() ||
      options.connect_timeout <= std::chrono::milliseconds::zero()) {
    co_return error{errc::invalid_argument, "connect: timeouts must be positive"};
  }
  auto impl = std::make_shared<connection_impl>(executor, std::move(options));
  auto connect_job = [impl] { return impl->connect_blocking(); };
  result<void> connected = co_await run_blocking(std::move(connect_job));
  if (!connected) co_return std::move(connected).error();
  co_return impl;
}

result<void> connection_impl::connect_blocking() {
  const std::string what = "connect to " + servers_for_message(options_.servers);
  auto failed = [&](natsStatus s) { return error_from_status(s, what); };

  natsOptions* raw_options = nullptr;
  if (natsStatus s = natsOptions_Create(&raw_options); s != NATS_OK) return failed(s);
  nats_options_.reset(raw_options);
  natsOptions* o = raw_options;

  std::vector<const char*> urls;
  bool tls = options_.tls.enabled;
  for (const auto& url : options_.servers) {
    urls.push_back(url.c_str());
    tls = tls || url.starts_with("tls://");
  }
  natsStatus s = natsOptions_SetServers(o, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetNoRandomize(o, true);
  if (s == NATS_OK) s = natsOptions_SetName(o, options_.name.c_str());
  // Write each request at once: nats.c's default buffering waits for its flusher thread, which
  // adds about a millisecond to every lone request. Pipelined requests still share writes.
  if (s == NATS_OK) s = natsOptions_SetSendAsap(o, true);
  // The inbox is delivered by nats.c's shared delivery thread: a closed subscription's queued
  // messages are then destroyed before its completion callback runs, so once close() has seen
  // that callback no message of the connection is left for nats.c to free later (at exit, after
  // its collector is gone, it would leak).
  if (s == NATS_OK) s = natsOptions_UseGlobalMessageDelivery(o, true);
  if (s == NATS_OK && !options_.user.empty()) {
    s = natsOptions_SetUserInfo(o, options_.user.c_str(), options_.password.c_str());
  }
  if (s == NATS_OK && !options_.token.empty()) s = natsOptions_SetToken(o, options_.token.c_str());
  if (s == NATS_OK && !options_.credentials_file.empty()) {
    s = natsOptions_SetUserCredentialsFromFiles(o, options_.credentials_file.c_str(), nullptr);
  }
  if (s == NATS_OK && !options_.nkey_seed_file.empty()) {
    // The library signs (see nats/nkey.hpp), and the public key comes from the seed.
    nkey::decoded_seed seed = nkey::read_user_seed(options_.nkey_seed_file);
    if (const auto* problem = std::get_if<std::string>(&seed)) return error{errc::configuration_error, what + ": " + *problem};
    const std::string public_key = nkey::public_key_of(std::get<nkey::seed_bytes>(seed));
    nkey::wipe(std::get<nkey::seed_bytes>(seed));
    if (!options_.nkey_public_key.empty() && options_.nkey_public_key != public_key) {
      return error{errc::configuration_error,
                   what + ": the nkey public key " + options_.nkey_public_key + " is not the seed's (" + public_key + ")"};
    }
    hub_->nkey_seed_file = options_.nkey_seed_file;
    s = natsOptions_SetNKey(o, public_key.c_str(), &on_sign_nonce, hub_);
  }
  if (s == NATS_OK && tls) {
    s = natsOptions_SetSecure(o, true);
    if (s == NATS_OK && !options_.tls.ca_file.empty()) {
      s = natsOptions_LoadCATrustedCertificates(o, options_.tls.ca_file.c_str());
    }
    if (s == NATS_OK && !options_.tls.cert_file.empty()) {
      s = natsOptions_LoadCertificatesChain(o, options_.tls.cert_file.c_str(), options_.tls.key_file.c_str());
    }
    if (s == NATS_OK && !options_.tls.verify_server) s = natsOptions_SkipServerVerification(o, true);
    if (s != NATS_OK) return error{errc::configuration_error, what + ": TLS setup failed", last_error_text()};
  }
  if (s == NATS_OK) s = natsOptions_SetTimeout(o, options_.connect_timeout.count());
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, options_.reconnect.enabled);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, options_.reconnect.max_attempts);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, options_.reconnect.wait.count());
  if (s == NATS_OK) {
    s = natsOptions_SetReconnectBufSize(o, static_cast<int>(options_.reconnect.buffer_bytes));
  }
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(o, &on_disconnected, hub_);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(o, &on_reconnected, hub_);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(o, &on_closed, hub_);
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(o, &on_async_error, hub_);
  if (s != NATS_OK) return error{errc::invalid_argument, what + ": invalid connection options", last_error_text()};

  natsConnection* raw_connection = nullptr;
  // An attempt whose nonce signature could not be sent is made again: with a fresh nonce it fails
  // so only one time in 256.
  for (int attempt = 1;; ++attempt) {
    hub_->unsendable_signature = false;
    s = natsConnection_Connect(&raw_connection, o);
    if (s == NATS_OK || !hub_->unsendable_signature || attempt == 8) break;
  }
  if (s != NATS_OK) {
    error e = failed(s);
    if (s == NATS_SSL_ERROR || s == NATS_SECURE_CONNECTION_WANTED || s == NATS_SECURE_CONNECTION_REQUIRED) {
      e.code = errc::configuration_error;
    }
    return e;
  }
  connection_.reset(raw_connection);

  natsInbox* inbox = nullptr;
  if (s = natsInbox_Create(&inbox); s != NATS_OK) return failed(s);
  inbox_prefix_ = std::string(inbox) + ".";
  natsInbox_Destroy(inbox);

  natsSubscription* raw_subscription = nullptr;
  s = natsConnection_Subscribe(&raw_subscription, raw_connection, (inbox_prefix_ + "*").c_str(), &on_inbox_message,
                               hub_);
  if (s != NATS_OK) return failed(s);
  inbox_subscription_.reset(raw_subscription);
  // Thousands of replies may be in flight; nats.c's default limits would drop them as a slow consumer.
  if (s = natsSubscription_SetPendingLimits(raw_subscription, -1, -1); s != NATS_OK) return failed(s);
  if (s = natsSubscription_SetOnCompleteCB(raw_subscription, &on_inbox_complete, hub_); s != NATS_OK) {
    return failed(s);
  }
  max_payload_ = natsConnection_GetMaxPayload(raw_connection);

  std::lock_guard lock(hub_->mutex);
  hub_->target = this;
  return success();
}

bool connection_impl::is_connected() const noexcept {
  return !is_closed() && connection_ && natsConnection_Status(connection_.get()) == NATS_CONN_STATUS_CONNECTED;
}

// ---------------------------------------------------------------------------------------------
// Requests

void connection_impl::fail_waiter(waiter w, std::error_code ec) {
  // A stream's opener learns of the failure from open_stream's result; a forgotten request
  // has nobody to tell.
  if (!w.sink && w.done.handler) {
    if (w.slot.is_connected()) w.slot.clear();
    post_completion(std::move(w.done), ec, nullptr);
  }
}

std::uint64_t connection_impl::publish_request(outgoing_message& message, std::chrono::milliseconds timeout, waiter w,
                                               request_kind kind, std::error_code& ec) {
  // Published while reconnecting, a request would sit in nats.c's buffer and might be applied
  // long after its caller gave up: fail it now, clearly transient.
  if (is_closed()) {
    ec = errc::closed;
  } else if (!is_connected()) {
    ec = errc::disconnected;
  }
  if (ec) {
    fail_waiter(std::move(w), ec);
    return 0;
  }
  const std::uint64_t token = requests_.add(std::move(w), kind, timeout, clock::now(), std::move(message.subject));
  char reply[160];
  const std::size_t prefix = std::min(inbox_prefix_.size(), sizeof reply - 24);
  std::memcpy(reply, inbox_prefix_.data(), prefix);
  *std::to_chars(reply + prefix, reply + sizeof reply - 1, token).ptr = '\0';

  natsConnection* nc = connection_.get();
  const char* subject = requests_.subject_of(token)->c_str();  // moved into the table above
  natsStatus s;
  if (message.headers.empty()) {
    s = natsConnection_PublishRequest(nc, subject, reply, message.body.data(), static_cast<int>(message.body.size()));
  } else {
    natsMsg* raw = nullptr;
    s = natsMsg_Create(&raw, subject, reply, message.body.data(), static_cast<int>(message.body.size()));
    nats_message_ptr msg(raw);
    for (const auto& header : message.headers) {
      if (s == NATS_OK) s = natsMsgHeader_Set(raw, header.name, header.value.c_str());
    }
    if (s == NATS_OK) s = natsConnection_PublishMsg(nc, raw);
  }
  if (s != NATS_OK) {
    ec = code_from_status(s);
    fail_waiter(std::move(*requests_.take(token)), ec);
    return 0;
  }
  arm_timer();
  return token;
}

void connection_impl::start_request(outgoing_message message, std::chrono::milliseconds timeout, completion done) {
  // Already on the strand (a request made by a coroutine the strand resumed, the usual case in
  // a loop of requests): at once, without the dispatch's moves and type erasure.
  if (strand_->running_in_this_thread()) return send_request(message, timeout, std::move(done));
  asio::dispatch(*strand_,
                 [self = shared_from_this(), message = std::move(message), timeout, done = std::move(done)]() mutable {
                   self->send_request(message, timeout, std::move(done));
                 });
}

void connection_impl::send_request(outgoing_message& message, std::chrono::milliseconds timeout, completion done) {
  auto slot = asio::get_associated_cancellation_slot(done.handler);
  std::error_code ec;
  const std::uint64_t token =
      publish_request(message, timeout, waiter{std::move(done), slot, nullptr}, request_kind::once, ec);
  if (token == 0 || !slot.is_connected()) return;  // a failure was completed already
  slot.assign([weak = weak_from_this(), strand = *strand_, token](asio::cancellation_type type) {
    if ((type & (asio::cancellation_type::terminal | asio::cancellation_type::partial)) ==
        asio::cancellation_type::none) {
      return;
    }
    // Posted, not dispatched: completing clears this very slot handler.
    asio::post(strand, [weak, token] {
      if (auto me = weak.lock()) me->cancel_request(token);
    });
  });
}

std::uint64_t connection_impl::open_stream(outgoing_message message, std::chrono::milliseconds silence,
                                           std::shared_ptr<reply_sink> sink, std::error_code& ec) {
  ec.clear();
  return publish_request(message, silence, waiter{{}, {}, std::move(sink)}, request_kind::stream, ec);
}

void connection_impl::close_stream(std::uint64_t token) {
  (void)requests_.take(token);
  release_held_replies();
}

void connection_impl::send_and_forget(outgoing_message message, std::chrono::milliseconds timeout) {
  std::error_code ec;
  (void)publish_request(message, timeout, waiter{}, request_kind::once, ec);
}

void connection_impl::add_listener(std::weak_ptr<connection_listener> listener) {
  listeners_.push_back(std::move(listener));
}

void connection_impl::tell_listeners(connection_event::kind what) {
  // A copy: a listener may add listeners; the dead ones are dropped on the way.
  std::vector<std::shared_ptr<connection_listener>> alive;
  alive.reserve(listeners_.size());
  std::erase_if(listeners_, [&alive](const std::weak_ptr<connection_listener>& weak) {
    auto l = weak.lock();
    if (!l) return true;
    alive.push_back(std::move(l));
    return false;
  });
  if (what == connection_event::kind::closed) listeners_.clear();
  for (auto& l : alive) l->on_connection_event(what);
}

void connection_impl::complete(std::uint64_t token, std::error_code ec, nats_message_ptr msg) {
  auto w = requests_.take(token);
  if (!w) return;  // a late reply after timeout or cancellation: dropped
  if (w->slot.is_connected()) w->slot.clear();
  if (!w->done.handler) return;  // nobody waits for it
  // The usual case: the coroutine awaiting the reply runs on the io_context this strand runs
  // on, and so is resumed right here, as dispatch would, without its layers of type erasure.
  if (w->done.executor == executor_) return std::move(w->done.handler)(ec, std::move(msg));
  dispatch_completion(std::move(w->done), ec, std::move(msg));
}

void connection_impl::end(std::uint64_t token, waiter w, std::error_code ec) {
  if (w.sink) return w.sink->on_stream_reply(token, ec, nullptr);
  if (w.slot.is_connected()) w.slot.clear();
  if (w.done.handler) post_completion(std::move(w.done), ec, nullptr);
}

void connection_impl::handle_reply(nats_message_ptr msg) {
  constexpr std::string_view delivery = "$JS.ACK.";
  if (const char* reply = natsMsg_GetReply(msg.get());
      reply != nullptr && std::string_view(reply).starts_with(delivery)) {
    // A consumer's delivery: routed by "<stream>.<consumer>", never by its subject (a key).
    std::string_view rest = std::string_view(reply).substr(delivery.size());
    const auto stream_end = rest.find('.');
    const auto consumer_end = stream_end == std::string_view::npos ? stream_end : rest.find('.', stream_end + 1);
    if (consumer_end == std::string_view::npos) return;
    const auto route = routes_.find(rest.substr(0, consumer_end));
    if (route != routes_.end()) handle_stream_message(route->second, std::move(msg));
    return;
  }
  const std::string_view subject = natsMsg_GetSubject(msg.get());
  std::uint64_t token = 0;
  if (!subject.starts_with(inbox_prefix_)) return;
  const char* end = subject.data() + subject.size();
  const auto parsed = std::from_chars(subject.data() + inbox_prefix_.size(), end, token);
  if (parsed.ec != std::errc{} || parsed.ptr != end) return;
  waiter* w = requests_.find(token);
  if (w == nullptr) return;  // late (after a timeout, a cancellation or the stream's end): dropped
  if (w->sink) return handle_stream_message(token, std::move(msg));
  if (natsMsg_IsNoResponders(msg.get())) return complete(token, errc::no_responders, nullptr);
  complete(token, {}, std::move(msg));
}

void connection_impl::handle_stream_message(std::uint64_t token, nats_message_ptr msg) {
  waiter* w = requests_.find(token);
  if (w == nullptr || !w->sink) return;
  requests_.touch(token, clock::now());
  auto sink = w->sink;  // the sink may end its stream while it runs
  sink->on_stream_reply(token, {}, std::move(msg));
}

void connection_impl::route_deliveries(std::string_view stream, std::string_view consumer, std::uint64_t token) {
  std::string key;
  key.reserve(stream.size() + 1 + consumer.size());
  key.append(stream).append(".").append(consumer);
  routes_.insert_or_assign(std::move(key), token);
}

void connection_impl::unroute_deliveries(std::string_view stream, std::string_view consumer) {
  std::string key;
  key.reserve(stream.size() + 1 + consumer.size());
  key.append(stream).append(".").append(consumer);
  routes_.erase(key);
}

void connection_impl::cancel_request(std::uint64_t token) {
  complete(token, errc::cancelled, nullptr);
  release_held_replies();
}

void connection_impl::fail_all(errc code) {
  requests_.take_all([this, code](std::uint64_t token, waiter w) { end(token, std::move(w), code); });
  held_replies_.release_all();
}

// The server answers a publish it does not permit with an asynchronous -ERR naming the subject
// ("Permissions Violation for Publish to \"$KV.b.k\""), never with a reply: without this, the
// request would wait for its timeout and look transient. The oldest request to that subject
// is the one refused, since the server handles a connection's publishes in order.
void connection_impl::fail_denied_publish(std::string_view violation) {
  constexpr std::string_view marker = "Publish to \"";
  const auto start = violation.find(marker);
  if (start == std::string_view::npos) return;
  const auto subject_begin = start + marker.size();
  const auto subject_end = violation.find('"', subject_begin);
  if (subject_end == std::string_view::npos) return;
  const auto oldest = requests_.oldest_with_subject(violation.substr(subject_begin, subject_end - subject_begin));
  if (!oldest) return;
  if (auto w = requests_.take(*oldest)) end(*oldest, std::move(*w), errc::permission_denied);
}

void connection_impl::arm_timer() {
  const auto first = requests_.next_deadline();
  if (!first || *first >= timer_expiry_) return;  // the armed wait fires no later than that
  timer_expiry_ = *first;
  timer_->expires_at(*first);
  timer_->async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;  // re-armed or closing
    if (auto self = weak.lock()) self->handle_timer();
  });
}

void connection_impl::handle_timer() {
  timer_expiry_ = clock::time_point::max();
  std::vector<std::pair<std::uint64_t, waiter>> due;
  requests_.expire(clock::now(), [&due](std::uint64_t token, waiter w) { due.emplace_back(token, std::move(w)); });
  for (auto& [token, w] : due) end(token, std::move(w), errc::timeout);
  release_held_replies();
  arm_timer();
}

// ---------------------------------------------------------------------------------------------
// nats.c callbacks: on nats.c threads; they touch nothing but the hub and post to the strand.

namespace {

template <class F>
void post_to_target(void* closure, F f) {
  auto* hub = static_cast<callback_hub*>(closure);
  std::lock_guard lock(hub->mutex);
  if (hub->target == nullptr) return;
  asio::post(hub->target->strand(), [weak = hub->target->weak_from_this(), f = std::move(f)]() mutable {
    if (auto self = weak.lock()) f(*self);
  });
}

}  // namespace

void connection_impl::on_inbox_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  nats_message_ptr reply(msg);
  auto* hub = static_cast<callback_hub*>(closure);
  std::lock_guard lock(hub->mutex);
  if (hub->target == nullptr) return;
  hub->replies.push_back(std::move(reply));
  if (hub->replies.size() > 1) return;  // a drain is already on its way
  asio::post(hub->target->strand(), [weak = hub->target->weak_from_this()] {
    if (auto self = weak.lock()) self->drain_replies();
  });
}

void connection_impl::drain_replies() {
  // Swapping with the emptied vector of the last drain keeps both allocations in use.
  {
    std::lock_guard lock(hub_->mutex);
    draining_.swap(hub_->replies);
  }
  {
    const message_release_scope hold_releases(held_replies_);
    for (auto& reply : draining_) handle_reply(std::move(reply));
    draining_.clear();
  }
  release_held_replies();
}

// Held replies go once nothing waits, when waking nats.c's collector delays no reply; in a loop
// of requests the next one is already out when a drain ends. (The holder frees itself when full.)
void connection_impl::release_held_replies() {
  if (requests_.empty()) held_replies_.release_all();
}

void connection_impl::on_inbox_complete(void* closure) {
  auto* hub = static_cast<callback_hub*>(closure);
  std::lock_guard lock(hub->mutex);
  hub->inbox_complete = true;
  hub->finished.notify_all();
}

natsStatus connection_impl::on_sign_nonce(char** error_text, unsigned char** signature, int* length, const char* nonce,
                                          void* closure) {
  auto* hub = static_cast<callback_hub*>(closure);
  auto fail = [&](const std::string& text) {
    *error_text = strdup(text.c_str());  // nats.c frees it
    return NATS_ERR;
  };
  nkey::decoded_seed seed = nkey::read_user_seed(hub->nkey_seed_file);
  if (const auto* problem = std::get_if<std::string>(&seed)) return fail(*problem);
  auto& bytes = std::get<nkey::seed_bytes>(seed);
  const std::optional<nkey::signature_bytes> signed_nonce = nkey::sign(bytes, nonce == nullptr ? "" : nonce);
  nkey::wipe(bytes);
  if (!signed_nonce) return fail("nkey: signing the server's nonce failed");
  if (!nkey::sendable(*signed_nonce)) {
    hub->unsendable_signature = true;
    return fail("nkey: the nonce's signature starts with a zero byte, which nats.c cannot send");
  }
  auto* out = static_cast<unsigned char*>(std::malloc(signed_nonce->size()));  // nats.c frees it
  if (out == nullptr) return NATS_NO_MEMORY;
  std::memcpy(out, signed_nonce->data(), signed_nonce->size());
  *signature = out;
  if (length != nullptr) *length = static_cast<int>(signed_nonce->size());
  return NATS_OK;
}

void connection_impl::on_disconnected(natsConnection*, void* closure) {
  post_to_target(closure, [](connection_impl& self) {
    self.fail_all(errc::disconnected);
    self.tell_listeners(connection_event::kind::disconnected);
    self.emit({connection_event::kind::disconnected, {}});
  });
}

void connection_impl::on_reconnected(natsConnection* nc, void* closure) {
  char url[256] = {};
  natsConnection_GetConnectedUrl(nc, url, sizeof url);
  post_to_target(closure, [text = redact_url(url)](connection_impl& self) {
    self.tell_listeners(connection_event::kind::reconnected);
    self.emit({connection_event::kind::reconnected, text});
  });
}

void connection_impl::on_closed(natsConnection*, void* closure) {
  // One critical section: once the flag is set, shut_down may free the hub as soon as the lock
  // is released, so nothing may touch the hub after it.
  auto* hub = static_cast<callback_hub*>(closure);
  std::lock_guard lock(hub->mutex);
  hub->connection_closed = true;
  hub->finished.notify_all();
  // A target remains only when nats.c gave up reconnecting: close() detaches the hub first.
  if (hub->target == nullptr) return;
  asio::post(hub->target->strand(), [weak = hub->target->weak_from_this()] {
    if (auto self = weak.lock()) {
      self->closed_.store(true, std::memory_order_release);
      self->fail_all(errc::closed);
      self->tell_listeners(connection_event::kind::closed);
      self->emit({connection_event::kind::closed, {}});
    }
  });
}

void connection_impl::on_async_error(natsConnection* nc, natsSubscription*, natsStatus status, void* closure) {
  // The server's text (which names the subject) is kept as the connection's last error.
  std::string text = natsStatus_GetText(status);
  if (const char* last = nullptr; nc != nullptr && natsConnection_GetLastError(nc, &last) == status && last && *last) {
    text = without_source_location(last);
  }
  post_to_target(closure, [status, text = std::move(text)](connection_impl& self) {
    if (status == NATS_NOT_PERMITTED) self.fail_denied_publish(text);
    self.emit({connection_event::kind::error, text});
  });
}

void connection_impl::emit(connection_event event) {
  if (options_.on_event) options_.on_event(event);
}

// ---------------------------------------------------------------------------------------------
// Close

asio::awaitable<void> connection_impl::close() {
  auto self = shared_from_this();
  // First closer: mark closed, fail everything pending and tell the consumers, on the strand.
  auto mark_closed = [self](auto handler) {
    asio::dispatch(*self->strand_, [self, handler = std::move(handler)]() mutable {
      const bool was_open = !self->closed_.exchange(true, std::memory_order_acq_rel);
      if (was_open) {
        self->fail_all(errc::closed);
        self->tell_listeners(connection_event::kind::closed);
        self->timer_->cancel();
      }
      asio::post(asio::append(std::move(handler), was_open));
    });
  };
  const bool first = co_await asio::async_initiate<const asio::use_awaitable_t<>, void(bool)>(std::move(mark_closed),
                                                                                              asio::use_awaitable);
  if (!first || !connection_) co_return;

  // Close on a library thread and wait for nats.c's last callbacks: the inbox's completion
  // comes after its last queued message was delivered or destroyed. The handles themselves
  // are freed with this object.
  callback_hub* hub = hub_;
  {
    std::lock_guard lock(hub->mutex);
    hub->target = nullptr;
  }
  natsConnection* nc = connection_.get();
  natsSubscription* inbox = inbox_subscription_.get();
  const bool has_inbox = inbox != nullptr;
  auto close_job = [nc, inbox, hub, has_inbox] {
    quiet_close(nc, inbox);
    std::unique_lock lock(hub->mutex);
    hub->finished.wait_for(lock, std::chrono::seconds(10),
                           [&] { return hub->connection_closed && (!has_inbox || hub->inbox_complete); });
    return 0;
  };
  co_await run_blocking(std::move(close_job));
  auto announce_closed = [self](auto handler) {
    asio::dispatch(*self->strand_, [self, handler = std::move(handler)]() mutable {
      // Replies that reached the hub before it was detached: destroyed now, while nats.c runs.
      {
        std::lock_guard lock(self->hub_->mutex);
        self->hub_->replies.clear();
      }
      self->held_replies_.release_all();
      self->emit({connection_event::kind::closed, {}});
      asio::post(std::move(handler));
    });
  };
  co_await asio::async_initiate<const asio::use_awaitable_t<>, void()>(std::move(announce_closed), asio::use_awaitable);
}

}  // namespace flowstore::detail
