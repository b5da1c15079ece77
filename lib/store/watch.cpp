#include <flowstore/json.hpp>
#include <flowstore/store.hpp>
#include <flowstore/watch.hpp>

#include "kv/watch_subscription.hpp"
#include "model/message.hpp"
#include "nats/io_anchor.hpp"
#include "store/store_impl.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace flowstore {

namespace asio = boost::asio;

std::string_view to_string(flow_event::kind k) noexcept {
  switch (k) {
    case flow_event::kind::put:
      return "put";
    case flow_event::kind::deleted:
      return "deleted";
    case flow_event::kind::purged:
      return "purged";
    case flow_event::kind::initial_values_done:
      return "initial_values_done";
  }
  return {};
}

namespace detail {

class watch_impl {
 public:
  watch_impl(std::string watched, std::shared_ptr<kv::watch_subscription> subscribed, std::optional<error> refusal,
             const asio::any_io_executor& executor)
      : pattern(std::move(watched)),
        subscription(std::move(subscribed)),
        refused(std::move(refusal)),
        marker_guard(std::in_place, executor) {
    // A watcher may outlive its io_context: the timer goes with the io_context's shutdown.
    anchor = io_anchor::attach(executor, [this] { marker_guard.reset(); });
  }
  ~watch_impl() {
    anchor->release_now();
    if (subscription) subscription->stop();
  }

  // The marker comes at the latest when this fires (kept here, on the caller's side).
  void guard_marker(std::chrono::milliseconds limit) {
    marker_guard->expires_after(limit);
    marker_guard->async_wait(
        [weak = std::weak_ptr<kv::watch_subscription>(subscription)](boost::system::error_code ec) {
          if (ec) return;
          if (auto s = weak.lock()) s->force_marker();
        });
  }

  std::string pattern;
  std::shared_ptr<kv::watch_subscription> subscription;  // null when the pattern was refused
  std::optional<error> refused;                          // returned once, then errc::closed
  std::optional<asio::steady_timer> marker_guard;
  std::shared_ptr<io_anchor> anchor;
};

namespace {

flow_event to_event(kv::entry e) {
  flow_event event;
  event.id = std::move(e.key);
  event.revision = e.revision;
  event.time = e.time;
  switch (e.operation) {
    case kv::entry_operation::del:
      event.type = flow_event::kind::deleted;
      break;
    case kv::entry_operation::purge:
      event.type = flow_event::kind::purged;
      break;
    case kv::entry_operation::put: {
      event.type = flow_event::kind::put;
      auto decoded = flow_from_json(e.value);
      if (decoded) {
        decoded->revision = e.revision;
        event.value = std::move(decoded).value();
      } else {
        event.problem = error{errc::corrupt_data, "watch flow " + quoted(event.id) + " (revision " +
                                                      std::to_string(e.revision) + "): " + decoded.error().message};
      }
      break;
    }
  }
  return event;
}

}  // namespace
}  // namespace detail

watcher store::watch(std::string pattern, watch_options options) {
  if (!valid_watch_pattern(pattern)) {
    error refused{errc::invalid_id, "watch " + detail::quoted(pattern) +
                                        ": not a valid pattern (flow id tokens, '*' tokens, a final '>')"};
    return watcher(std::make_shared<detail::watch_impl>(std::move(pattern), nullptr, std::move(refused),
                                                        impl_->bucket.connection()->get_executor()));
  }
  detail::kv::watch_subscription::settings settings;
  settings.pattern = pattern;
  switch (options.start) {
    case watch_start::current_values:
      settings.policy = detail::kv::deliver_policy::last_per_key;
      break;
    case watch_start::updates_only:
      settings.policy = detail::kv::deliver_policy::new_only;
      break;
    case watch_start::all_history:
      settings.policy = detail::kv::deliver_policy::all;
      break;
  }
  settings.ignore_deletes = options.ignore_deletes;
  settings.capacity = options.buffer_capacity;
  const auto executor = impl_->bucket.connection()->get_executor();
  auto subscription = detail::kv::watch_subscription::start(impl_->bucket, std::move(settings), executor);
  auto watch =
      std::make_shared<detail::watch_impl>(std::move(pattern), std::move(subscription), std::nullopt, executor);
  watch->guard_marker(options.initial_values_timeout.value_or(impl_->bucket.timeout()));
  return watcher(std::move(watch));
}

watcher::watcher(std::shared_ptr<detail::watch_impl> impl) noexcept : impl_(std::move(impl)) {}
watcher::watcher(watcher&&) noexcept = default;
watcher& watcher::operator=(watcher&&) noexcept = default;
watcher::~watcher() = default;

asio::awaitable<result<flow_event>> watcher::next() {
  auto impl = impl_;  // the watcher may be moved while this waits
  if (!impl) co_return error{errc::closed, "watch: moved-from watcher"};
  if (impl->refused) {
    error refused = std::move(*impl->refused);
    impl->refused.reset();
    co_return refused;
  }
  if (!impl->subscription) co_return error{errc::closed, "watch " + detail::quoted(impl->pattern) + ": ended"};
  result<detail::kv::watch_item> item = co_await impl->subscription->async_next(asio::use_awaitable);
  if (!item) co_return std::move(item).error();
  if (!item->value) {
    flow_event marker;
    marker.type = flow_event::kind::initial_values_done;
    co_return marker;
  }
  co_return detail::to_event(std::move(*item->value));
}

void watcher::stop() {
  if (impl_ && impl_->subscription) impl_->subscription->stop();
}

const std::string& watcher::pattern() const noexcept { return impl_->pattern; }
std::size_t watcher::buffered() const { return impl_->subscription ? impl_->subscription->buffered() : 0; }
std::size_t watcher::peak_buffered() const { return impl_->subscription ? impl_->subscription->peak_buffered() : 0; }
std::size_t watcher::capacity() const { return impl_->subscription ? impl_->subscription->capacity() : 0; }

}  // namespace flowstore
