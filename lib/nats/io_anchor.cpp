#include "nats/io_anchor.hpp"

#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/query.hpp>

#include <mutex>
#include <set>
#include <vector>

namespace flowstore::detail {

struct io_anchor::registry {
  std::mutex mutex;
  bool gone = false;
  std::set<io_anchor*> anchors;

  void shutdown() {
    std::vector<std::function<void()>> actions;
    {
      std::lock_guard lock(mutex);
      gone = true;
      for (io_anchor* a : anchors) actions.push_back(std::move(a->on_shutdown_));
      anchors.clear();
    }
    for (auto& action : actions) {
      if (action) action();
    }
  }
};

namespace {

// An execution-context service: the context calls shutdown() on it while its other services
// (timers, strands) still exist.
class anchor_service : public boost::asio::execution_context::service {
 public:
  using key_type = anchor_service;
  static boost::asio::execution_context::id id;

  explicit anchor_service(boost::asio::execution_context& context)
      : service(context), registry(std::make_shared<io_anchor::registry>()) {}

  void shutdown() override { registry->shutdown(); }

  std::shared_ptr<io_anchor::registry> registry;
};

boost::asio::execution_context::id anchor_service::id;

}  // namespace

std::shared_ptr<io_anchor> io_anchor::attach(const boost::asio::any_io_executor& executor,
                                             std::function<void()> on_shutdown) {
  auto& context = boost::asio::query(executor, boost::asio::execution::context);
  auto r = boost::asio::use_service<anchor_service>(context).registry;
  auto anchor = std::make_shared<io_anchor>(r, std::move(on_shutdown));
  std::lock_guard lock(r->mutex);
  if (!r->gone) r->anchors.insert(anchor.get());
  return anchor;
}

void io_anchor::release_now() {
  std::function<void()> action;
  {
    std::lock_guard lock(registry_->mutex);
    if (registry_->anchors.erase(this) == 0) return;  // ran already
    action = std::move(on_shutdown_);
  }
  if (action) action();
}

}  // namespace flowstore::detail

namespace flowstore::detail {

void io_anchor::forget() {
  std::function<void()> action;
  {
    std::lock_guard lock(registry_->mutex);
    if (registry_->anchors.erase(this) == 0) return;
    action = std::move(on_shutdown_);
  }
  // Destroyed outside the lock: it may hold what owns this anchor.
}

}  // namespace flowstore::detail
