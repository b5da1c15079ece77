#include "kv/watch_subscription.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/post.hpp>

namespace flowstore::detail::kv {

namespace asio = boost::asio;

std::shared_ptr<watch_subscription> watch_subscription::start(const bucket& b, settings s,
                                                              asio::any_io_executor executor) {
  auto self = std::make_shared<watch_subscription>(std::move(s), std::move(executor));
  ordered_consumer_settings c;
  c.stream = b.stream();
  c.filter_subject = b.key_prefix() + self->settings_.pattern;
  c.key_prefix = b.key_prefix();
  switch (self->settings_.policy) {
    case deliver_policy::last_per_key:
      c.start = start_from::last_per_key;
      break;
    case deliver_policy::all:
      c.start = start_from::all;
      break;
    case deliver_policy::new_only:
      c.start = start_from::new_only;
      break;
  }
  c.window = self->settings_.capacity;
  // A fetch waits up to half a minute and hears a heartbeat every 5 s meanwhile; two missed
  // heartbeats mean the consumer or its server is gone, and it is made again.
  c.expires = std::chrono::seconds(30);
  c.heartbeat = std::chrono::seconds(5);
  c.silence = std::chrono::seconds(11);
  c.inactive_threshold = std::chrono::minutes(5);
  self->driver_ = std::make_shared<consumer_driver>(b.connection(), std::move(c), self, b.timeout());
  self->driver_->start();
  return self;
}

watch_subscription::watch_subscription(settings s, asio::any_io_executor executor)
    : settings_(std::move(s)), executor_(std::move(executor)) {
  if (settings_.capacity == 0) settings_.capacity = 1;
}

void watch_subscription::on_entries(std::vector<entry>& entries) {
  std::size_t skipped = 0;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || ended_) return;
    for (entry& e : entries) {
      if (settings_.ignore_deletes && e.operation != entry_operation::put) {
        ++skipped;
        continue;
      }
      buffer_.push_back({std::move(e)});
    }
    peak_ = std::max(peak_, buffer_.size());
    wake_consumer_locked();
  }
  if (skipped > 0) driver_->consumed(skipped);  // never buffered: their room is free at once
}

void watch_subscription::on_initial_done() {
  std::lock_guard lock(mutex_);
  if (marker_done_ || stopping_ || ended_) return;
  push_marker_locked();
  wake_consumer_locked();
}

void watch_subscription::on_finished() {}

void watch_subscription::on_failed(error why) {
  std::lock_guard lock(mutex_);
  if (why.code == errc::closed)
    why.message = "watch " + settings_.pattern + ": the connection is closed";
  else
    why.message = "watch " + settings_.pattern + ": " + why.message;
  end_locked(std::move(why));
}

void watch_subscription::force_marker() {
  std::lock_guard lock(mutex_);
  if (marker_done_ || stopping_ || ended_) return;
  push_marker_locked();
  wake_consumer_locked();
}

bool watch_subscription::no_entry_left_locked() const noexcept {
  // At most the marker: what was taken must be told now, or the consumer waits for room forever.
  return buffer_.empty() || (buffer_.size() == 1 && !buffer_.front().value);
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

void watch_subscription::report_consumed(std::size_t n, bool buffer_empty) {
  std::size_t report = 0;
  {
    std::lock_guard lock(mutex_);
    unreported_ += n;
    // A few reports per buffer's worth, and always once it is empty: the consumer then asks
    // for more in few, large fetches, and never waits on a report that does not come.
    if (unreported_ >= std::max<std::size_t>(1, settings_.capacity / 4) || buffer_empty) {
      report = unreported_;
      unreported_ = 0;
    }
  }
  if (report > 0) driver_->consumed(report);
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
    bool took_entry = false;
    if (!self->buffer_.empty()) {
      took_entry = self->buffer_.front().value.has_value();
      item = std::move(self->buffer_.front());
      self->buffer_.pop_front();
    } else if (self->ended_) {
      item = *self->ended_;
    } else {
      self->waiter_ = std::move(w);  // nothing after all: keep waiting
      return;
    }
    const bool empty = self->no_entry_left_locked();
    lock.unlock();
    self->report_consumed(took_entry ? 1 : 0, empty);
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
    const bool took_entry = buffer_.front().value.has_value();
    watch_item item = std::move(buffer_.front());
    buffer_.pop_front();
    const bool empty = no_entry_left_locked();
    lock.unlock();
    report_consumed(took_entry ? 1 : 0, empty);
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
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    buffer_.clear();  // stopped means no more events, also none already buffered
    end_locked(error{errc::closed, "watch " + settings_.pattern + ": stopped"});
  }
  driver_->stop();
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
