#include "kv/consumer_driver.hpp"

#include "nats/message_view.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>

namespace flowstore::detail::kv {
namespace {

using clock = std::chrono::steady_clock;

// A message on a fetch's reply subject: a delivered one carries its $JS.ACK metadata as its
// reply subject, a status has none.
fetched_message read_fetched(const message_view& v) {
  fetched_message m;
  m.subject = v.subject();
  m.body = v.body();
  if (v.reply().starts_with("$JS.ACK.")) {
    m.reply = v.reply();
    m.operation = v.header("KV-Operation");
    m.owner = v.header(owner_header);
    if (m.owner) m.owner_revision = v.header(owner_revision_header);
    return m;
  }
  const header_status status = v.status();
  int code = 0;
  for (char c : status.code) {
    if (c < '0' || c > '9') {
      code = 0;
      break;
    }
    code = code * 10 + (c - '0');
  }
  m.status = code != 0 ? code : -1;  // -1: neither delivered nor a status the protocol knows
  m.description = status.description;
  m.last_consumer = v.header("Nats-Last-Consumer");
  m.last_stream = v.header("Nats-Last-Stream");
  return m;
}

}  // namespace

void consumer_driver::start() {
  connection_->post([self = shared_from_this()] {
    self->connection_->add_listener(self);
    self->consumer_.start(clock::now());
    self->run();
  });
}

consumer_driver::consumer_driver(std::shared_ptr<connection_impl> connection, ordered_consumer_settings settings,
                                 std::shared_ptr<consumer_output> output, std::chrono::milliseconds request_timeout)
    : connection_(std::move(connection)),
      consumer_(std::move(settings)),
      output_(std::move(output)),
      request_timeout_(request_timeout) {}

void consumer_driver::consumed(std::uint64_t n) {
  consumed_.fetch_add(n, std::memory_order_relaxed);
  if (consumed_posted_.exchange(true, std::memory_order_acq_rel)) return;  // one on its way takes this too
  connection_->post([self = shared_from_this()] {
    self->consumed_posted_.store(false, std::memory_order_release);
    const std::uint64_t taken = self->consumed_.exchange(0, std::memory_order_acq_rel);
    if (taken == 0) return;
    self->consumer_.on_consumed(taken, clock::now());
    self->run();
  });
}

void consumer_driver::stop() {
  // Posted, never run inline: stop() may come from an output's callback inside run().
  connection_->post([self = shared_from_this()] {
    self->consumer_.stop();
    self->output_.reset();
    self->run();
    self->give_back(self->consumer_.release_credit());
    if (self->retry_timer_) self->retry_timer_->cancel();
  });
}

void consumer_driver::on_stream_reply(std::uint64_t token, std::error_code ec, nats_message_ptr msg) {
  const auto f =
      std::find_if(fetches_.begin(), fetches_.end(), [token](const open_fetch& o) { return o.token == token; });
  if (f == fetches_.end()) return;
  const std::uint64_t id = f->id;
  if (ec) {
    fetch_over(*f);
    fetches_.erase(f);
    consumer_.on_fetch_ended(id, ec, clock::now());
  } else {
    const message_view view(msg.get());
    const fetched_message m = read_fetched(view);
    if (m.status == 0 && consumer_.settings().budgeted && f->arrived < f->batch) {
      ++f->arrived;
      auto& budget = connection_->scan_budget();
      budget.observe(m.subject.size() + m.reply.size() + m.body.size() + 32);
      budget.give_back(1);
    }
    consumer_.on_fetch_message(id, m, clock::now());
  }
  run();
}

void consumer_driver::fetch_over(const open_fetch& f) {
  if (consumer_.settings().budgeted) give_back(f.batch - std::min(f.batch, f.arrived));
}

void consumer_driver::give_back(std::uint64_t messages) {
  if (messages > 0) connection_->scan_budget().give_back(messages);
}

void consumer_driver::request_credit(std::uint64_t wanted) {
  const std::uint64_t granted = connection_->scan_budget().take(wanted);
  if (granted > 0) {
    give_back(consumer_.grant(granted, clock::now()));
    return;
  }
  // Asked again once another scan's messages arrived; told later, not from inside that give-back.
  connection_->scan_budget().wait([weak = weak_from_this(), wanted] {
    if (auto self = weak.lock()) {
      self->connection_->post([self, wanted] {
        self->request_credit(wanted);
        self->run();
      });
    }
  });
}

void consumer_driver::on_connection_event(connection_event::kind what) {
  switch (what) {
    case connection_event::kind::disconnected:
      for (const auto& f : fetches_) fetch_over(f);
      fetches_.clear();  // the connection ended every stream
      consumer_.on_disconnected();
      break;
    case connection_event::kind::reconnected:
      consumer_.on_reconnected(clock::now());
      break;
    case connection_event::kind::closed:
      for (const auto& f : fetches_) fetch_over(f);
      fetches_.clear();
      consumer_.on_closed();
      retry_timer_.reset();
      break;
    case connection_event::kind::error:
      return;
  }
  run();
}

void consumer_driver::run() {
  // The two vectors trade places, so that no run allocates.
  std::vector<consumer_action> actions = std::move(spare_);
  // Until the consumer asks for nothing more: granting credit may queue a fetch.
  while (!consumer_.actions().empty()) {
    actions.swap(consumer_.actions());
    std::shared_ptr<consumer_output> output = output_.lock();
    auto flush = [this, &output] {
      if (delivered_.empty()) return;
      if (output) output->on_entries(delivered_);
      delivered_.clear();
    };
    for (auto& a : actions) {
      if (a.what != consumer_action::kind::deliver) flush();
      switch (a.what) {
        case consumer_action::kind::create:
          send_create(a);
          break;
        case consumer_action::kind::fetch:
          open(a);
          break;
        case consumer_action::kind::close_fetch:
          close(a.id);
          break;
        case consumer_action::kind::remove: {
          unroute();  // the consumer in use is the one removed, or a newer one not routed yet
          outgoing_message m;
          m.subject = std::move(a.subject);
          connection_->send_and_forget(std::move(m), request_timeout_);
          break;
        }
        case consumer_action::kind::deliver:
          delivered_.push_back(std::move(*a.delivered));
          break;
        case consumer_action::kind::initial_done:
          if (output) output->on_initial_done();
          break;
        case consumer_action::kind::want_credit:
          request_credit(a.count);
          break;
        case consumer_action::kind::finished:
          unroute();
          give_back(consumer_.release_credit());
          if (output) output->on_finished();
          output.reset();
          output_.reset();
          break;
        case consumer_action::kind::failed:
          unroute();
          give_back(consumer_.release_credit());
          if (output) output->on_failed(std::move(*a.problem));
          output.reset();
          output_.reset();
          break;
        case consumer_action::kind::retry_after:
          retry_after(a.delay);
          break;
      }
    }
    flush();
    actions.clear();
  }
  spare_ = std::move(actions);
}

void consumer_driver::send_create(consumer_action& a) {
  outgoing_message m;
  m.subject = std::move(a.subject);
  m.body = std::move(a.body);
  auto on_reply = [self = shared_from_this(), id = a.id](std::error_code ec, nats_message_ptr reply) {
    self->consumer_.on_create_reply(id, ec, ec ? std::string_view() : message_view(reply.get()).body(), clock::now());
    self->run();
  };
  connection_->async_request(std::move(m), request_timeout_,
                             boost::asio::bind_executor(connection_->strand(), std::move(on_reply)));
}

void consumer_driver::open(consumer_action& a) {
  outgoing_message m;
  m.subject = std::move(a.subject);
  m.body = std::move(a.body);
  std::error_code ec;
  const std::uint64_t token = connection_->open_stream(std::move(m), a.delay, shared_from_this(), ec);
  if (token != 0) {
    fetches_.push_back({a.id, token, a.count, 0});
    const std::string& name = consumer_.consumer_name();
    if (routed_consumer_ != name) unroute();
    routed_consumer_ = name;
    connection_->route_deliveries(consumer_.settings().stream, name, token);
    return;
  }
  if (consumer_.settings().budgeted) give_back(a.count);
  // Told later, not from inside this run of actions.
  boost::asio::post(connection_->strand(), [self = shared_from_this(), id = a.id, ec] {
    self->consumer_.on_fetch_ended(id, ec, clock::now());
    self->run();
  });
}

void consumer_driver::unroute() {
  if (routed_consumer_.empty()) return;
  connection_->unroute_deliveries(consumer_.settings().stream, routed_consumer_);
  routed_consumer_.clear();
}

void consumer_driver::close(std::uint64_t fetch_id) {
  for (auto it = fetches_.begin(); it != fetches_.end(); ++it) {
    if (it->id == fetch_id) {
      fetch_over(*it);
      connection_->close_stream(it->token);
      fetches_.erase(it);
      return;
    }
  }
}

void consumer_driver::retry_after(std::chrono::milliseconds delay) {
  if (connection_->is_closed()) return;
  if (!retry_timer_) retry_timer_.emplace(connection_->strand());
  retry_timer_->expires_after(delay);
  retry_timer_->async_wait(
      boost::asio::bind_executor(connection_->strand(), [weak = weak_from_this()](boost::system::error_code ec) {
        if (ec) return;
        if (auto self = weak.lock()) {
          self->consumer_.on_retry_due(clock::now());
          self->run();
        }
      }));
}

}  // namespace flowstore::detail::kv
