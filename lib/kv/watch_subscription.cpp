#include "kv/watch_subscription.hpp"

#include "kv/message.hpp"
#include "nats/blocking.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/post.hpp>

namespace flowstore::detail::kv {

std::shared_ptr<watch_subscription> watch_subscription::start(const bucket& b, settings s,
                                                              asio::any_io_executor executor) {
  auto self = std::make_shared<watch_subscription>(b.key_prefix(), std::move(s), std::move(executor));
  asio::post(blocking_pool(), [self, b] { self->subscribe(b); });
  return self;
}

watch_subscription::watch_subscription(std::string key_prefix, settings s, asio::any_io_executor executor)
    : prefix_(std::move(key_prefix)), settings_(std::move(s)), executor_(std::move(executor)) {
  if (settings_.capacity == 0) settings_.capacity = 1;
}

watch_subscription::~watch_subscription() {
  // Reached after nats.c's completion callback (which owned a reference) or when subscribing
  // never succeeded: no callback can run any more.
  if (subscription_ != nullptr) natsSubscription_Destroy(subscription_);
}

void watch_subscription::subscribe(const bucket& b) {
  const std::string what = "watch " + settings_.pattern;
  jsSubOptions options;
  jsSubOptions_Init(&options);
  options.Stream = b.stream().c_str();  // skips a stream lookup round trip
  options.Ordered = true;
  switch (settings_.policy) {
    case deliver_policy::last_per_key:
      options.Config.DeliverPolicy = js_DeliverLastPerSubject;
      break;
    case deliver_policy::all:
      options.Config.DeliverPolicy = js_DeliverAll;
      break;
    case deliver_policy::new_only:
      options.Config.DeliverPolicy = js_DeliverNew;
      break;
  }
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
  }
  const std::string subject = prefix_ + settings_.pattern;
  auto* closure = new std::shared_ptr<watch_subscription>(shared_from_this());
  natsSubscription* sub = nullptr;
  jsErrCode js_code = static_cast<jsErrCode>(0);
  natsStatus s =
      js_Subscribe(&sub, b.jetstream(), subject.c_str(), &message_callback, closure, nullptr, &options, &js_code);
  if (s != NATS_OK) {
    delete closure;  // no callback runs for a subscription that was never made
    std::lock_guard lock(mutex_);
    end_locked(status_error(s, js_code, what));
    return;
  }
  natsSubscription_SetPendingLimits(sub, -1, -1);
  natsSubscription_SetOnCompleteCB(sub, &complete_callback, closure);

  connection_ = b.connection()->native();  // valid while the subscription lives: it holds a reference
  if (settings_.policy == deliver_policy::new_only) {
    // The consumer exists now, so every later change will be delivered: the marker may go out
    // (unless a first message already sent it ahead of itself).
    std::lock_guard lock(mutex_);
    if (!marker_done_) {
      push_marker_locked();
      wake_consumer_locked();
    }
  }
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      subscription_ = sub;
      natsSubscription_Unsubscribe(sub);  // no consumer info for a watch already stopped
      return;
    }
  }

  // Nothing pending at creation: the initial values are complete at once.
  std::optional<std::uint64_t> expected;
  std::uint64_t start_after = 0;
  jsConsumerInfo* info = nullptr;
  if (natsSubscription_GetConsumerInfo(&info, sub, nullptr, &js_code) == NATS_OK) {
    expected = info->NumPending + info->Delivered.Consumer;
    // An updates-only consumer starts after the stream's last message. nats.c re-creates an
    // ordered consumer from the last delivered sequence + 1 after a reconnect, which is the
    // stream's start when nothing was delivered yet: remember where "new" began (only then;
    // otherwise Delivered.Stream may cover messages still on their way to the callback).
    if (settings_.policy == deliver_policy::new_only && info->Delivered.Consumer == 0) {
      start_after = info->Delivered.Stream;
    }
    jsConsumerInfo_Destroy(info);
  }
  if (settings_.policy == deliver_policy::new_only) expected = 0;

  bool stop_now = false;
  {
    std::lock_guard lock(mutex_);
    subscription_ = sub;
    last_revision_ = std::max(last_revision_, start_after);
    stop_now = stopping_;
    initial_expected_ = expected;
    if (!marker_done_ && expected && initial_received_ >= *expected) {
      push_marker_locked();
      wake_consumer_locked();
    }
  }
  if (stop_now) natsSubscription_Unsubscribe(sub);
}

void watch_subscription::force_marker() {
  std::lock_guard lock(mutex_);
  if (marker_done_ || stopping_) return;
  push_marker_locked();
  wake_consumer_locked();
}

void watch_subscription::message_callback(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  (*static_cast<std::shared_ptr<watch_subscription>*>(closure))->on_message(msg);
}

void watch_subscription::complete_callback(void* closure) {
  auto* owner = static_cast<std::shared_ptr<watch_subscription>*>(closure);
  (*owner)->on_complete();
  delete owner;
}

void watch_subscription::on_message(natsMsg* raw) {
  nats_message_ptr msg(raw);
  std::uint64_t pending = 0;
  auto e = entry_from_message(raw, prefix_, pending);
  msg.reset();

  std::unique_lock lock(mutex_);
  if (stopping_ || ended_) return;
  if (!e) return end_locked(std::move(e).error());
  // nats.c re-creates an ordered consumer from the last sequence + 1 after a gap or a
  // reconnect; anything at or below what was delivered is a repeat.
  if (e->revision <= last_revision_) return;
  last_revision_ = e->revision;

  // Updates only: a message may come before subscribe() returned; the marker goes first.
  if (settings_.policy == deliver_policy::new_only && !marker_done_) push_marker_locked();
  const bool initial = !marker_done_;
  if (initial) ++initial_received_;
  if (!settings_.ignore_deletes || e->operation == entry_operation::put) {
    room_.wait(lock, [&] { return stopping_ || buffer_.size() < settings_.capacity; });
    if (stopping_) return;
    buffer_.push_back({std::move(e).value()});
    peak_ = std::max(peak_, buffer_.size());
  }
  if (initial && (pending == 0 || (initial_expected_ && initial_received_ >= *initial_expected_))) {
    push_marker_locked();
  }
  wake_consumer_locked();
}

void watch_subscription::on_complete() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  room_.notify_all();
  end_locked(error{errc::closed, "watch " + settings_.pattern + ": the subscription ended"});
}

void watch_subscription::push_marker_locked() {
  marker_done_ = true;
  buffer_.push_back({std::nullopt});  // may exceed the capacity by this one marker
  peak_ = std::max(peak_, buffer_.size());
}

void watch_subscription::end_locked(error why) {
  if (!ended_) ended_ = std::move(why);
  wake_consumer_locked();
}

void watch_subscription::wake_consumer_locked() {
  if (!waiter_ || wake_posted_ || (buffer_.empty() && !ended_)) return;
  wake_posted_ = true;
  // Completion runs on the consumer's executor, which also owns the cancellation slot.
  asio::post(waiter_->executor, [self = shared_from_this()] {
    std::unique_lock lock(self->mutex_);
    self->wake_posted_ = false;
    if (!self->waiter_) return;
    waiter w = std::move(*self->waiter_);
    self->waiter_.reset();
    result<watch_item> item = error{errc::closed, ""};
    if (!self->buffer_.empty()) {
      item = std::move(self->buffer_.front());
      self->buffer_.pop_front();
      self->room_.notify_one();
    } else if (self->ended_) {
      item = *self->ended_;
    } else {
      self->waiter_ = std::move(w);  // nothing after all: keep waiting
      return;
    }
    lock.unlock();
    auto slot = asio::get_associated_cancellation_slot(w.handler);
    if (slot.is_connected()) slot.clear();
    std::move(w.handler)(std::move(item));
  });
}

void watch_subscription::start_next(waiter w) {
  std::unique_lock lock(mutex_);
  auto complete_later = [](waiter done, result<watch_item> value) {
    asio::post(done.executor,
               [h = std::move(done.handler), v = std::move(value)]() mutable { std::move(h)(std::move(v)); });
  };
  if (waiter_) {
    lock.unlock();
    return complete_later(std::move(w),
                          error{errc::already_running, "watch " + settings_.pattern + ": next() is already waiting"});
  }
  if (!buffer_.empty()) {
    watch_item item = std::move(buffer_.front());
    buffer_.pop_front();
    room_.notify_one();
    lock.unlock();
    return complete_later(std::move(w), std::move(item));
  }
  if (ended_) {
    error why = *ended_;
    lock.unlock();
    return complete_later(std::move(w), std::move(why));
  }
  auto slot = asio::get_associated_cancellation_slot(w.handler);
  if (slot.is_connected()) {
    slot.assign([weak = weak_from_this()](asio::cancellation_type type) {
      if ((type & (asio::cancellation_type::terminal | asio::cancellation_type::partial)) ==
          asio::cancellation_type::none) {
        return;
      }
      auto self = weak.lock();
      if (!self) return;
      std::unique_lock guard(self->mutex_);
      if (!self->waiter_) return;
      waiter cancelled = std::move(*self->waiter_);
      self->waiter_.reset();
      guard.unlock();
      // Posted: this handler is the slot's own and must not be destroyed while it runs.
      asio::post(cancelled.executor, [h = std::move(cancelled.handler), what = self->settings_.pattern]() mutable {
        std::move(h)(error{errc::cancelled, "watch " + what + ": next() cancelled"});
      });
    });
  }
  waiter_ = std::move(w);
}

void watch_subscription::stop() {
  natsSubscription* sub = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    buffer_.clear();  // stopped means no more events, also none already buffered
    room_.notify_all();
    sub = subscription_;
    end_locked(error{errc::closed, "watch " + settings_.pattern + ": stopped"});
  }
  if (sub != nullptr) {
    // Unsubscribing an ordered consumer deletes it with a blocking request: on the pool. The
    // completion callback then releases the last reference nats.c holds.
    // Skipped while disconnected (the delete would wait out its timeout): closing the
    // connection ends the subscription too, and the server drops the idle consumer.
    asio::post(teardown_strand(), [self = shared_from_this(), sub] {
      if (natsConnection_Status(self->connection_) == NATS_CONN_STATUS_CONNECTED) natsSubscription_Unsubscribe(sub);
    });
  }
}

std::size_t watch_subscription::buffered() const {
  std::lock_guard lock(mutex_);
  return buffer_.size();
}

std::size_t watch_subscription::peak_buffered() const {
  std::lock_guard lock(mutex_);
  return peak_;
}

}  // namespace flowstore::detail::kv
