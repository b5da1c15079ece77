#include "hub.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace flowstore::server {

bool outbox::push(std::string message) {
  if (done()) return false;
  if (bytes_ + message.size() > budget_) {
    overflowed_ = true;
    queue_.clear();
    bytes_ = 0;
    signal_.cancel();
    return false;
  }
  bytes_ += message.size();
  queue_.push_back(std::move(message));
  signal_.cancel();
  return true;
}

asio::awaitable<std::optional<std::string>> outbox::pop(std::chrono::milliseconds quiet) {
  if (queue_.empty() && !done()) {
    signal_.expires_after(quiet);
    boost::system::error_code ec;
    co_await signal_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (done() || queue_.empty()) co_return std::nullopt;
  std::string next = std::move(queue_.front());
  queue_.pop_front();
  bytes_ -= next.size();
  co_return next;
}

void outbox::close() {
  closed_ = true;
  signal_.cancel();
}

void change_hub::start() {
  asio::co_spawn(app_.executor, [self = shared_from_this()] { return self->run(); }, asio::detached);
}

void change_hub::stop() {
  stopped_ = true;
  if (watch_) watch_->stop();
  auto all = std::move(by_flow_);
  by_flow_.clear();
  for (auto& [id, list] : all) {
    for (auto& weak : list) {
      if (auto s = weak.lock()) s->on_shutdown();
    }
  }
}

void change_hub::subscribe(const std::string& flow_id, std::weak_ptr<subscriber> s) {
  auto& list = by_flow_[flow_id];
  std::erase_if(list, [](const auto& w) { return w.expired(); });
  list.push_back(std::move(s));
}

void change_hub::remember(const flow& f) { states_.try_emplace(f.id, f.state); }

asio::awaitable<void> change_hub::run() {
  while (!stopped_) {
    watch_options options;
    options.start = watch_start::updates_only;
    watch_.emplace(app_.flows->watch(">", options));
    while (true) {
      auto event = co_await watch_->next();
      if (!event) {
        if (!stopped_) log_line("status hub: watch ended (" + event.error().message + "); restarting in 1 s");
        break;
      }
      dispatch(*event);
    }
    watch_.reset();
    if (stopped_) break;
    asio::steady_timer pause(app_.executor, 1s);
    boost::system::error_code ec;
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

void change_hub::dispatch(const flow_event& e) {
  if (e.type == flow_event::kind::initial_values_done) return;
  flow_change change;
  change.kind = e.type;
  change.id = e.id;
  change.revision = e.revision;
  change.time = e.time;
  if (auto known = states_.find(e.id); known != states_.end()) change.previous = known->second;
  if (e.type == flow_event::kind::put && e.value) {
    change.value = &*e.value;
    states_.insert_or_assign(e.id, e.value->state);
  } else if (e.type != flow_event::kind::put) {
    states_.erase(e.id);
  }
  for (const std::string& key : {e.id, std::string()}) {
    auto it = by_flow_.find(key);
    if (it == by_flow_.end()) continue;
    // A subscriber may unsubscribe (be destroyed) while told: take the live ones first.
    std::vector<std::shared_ptr<subscriber>> live;
    std::erase_if(it->second, [&](const auto& w) {
      auto s = w.lock();
      if (!s) return true;
      live.push_back(std::move(s));
      return false;
    });
    if (it->second.empty()) by_flow_.erase(it);
    for (auto& s : live) s->on_change(change);
  }
}

}  // namespace flowstore::server
