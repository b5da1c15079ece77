#include "kv/ordered_consumer.hpp"

#include <algorithm>
#include <charconv>

namespace flowstore::detail::kv {
namespace {

using namespace std::chrono_literals;

std::optional<std::uint64_t> number(std::optional<std::string_view> text) noexcept {
  if (!text || text->empty()) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc{} || end != text->data() + text->size()) return std::nullopt;
  return value;
}

std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

}  // namespace

ordered_consumer::ordered_consumer(ordered_consumer_settings settings) : settings_(std::move(settings)) {
  if (settings_.window == 0) settings_.window = 1;
}

std::uint64_t ordered_consumer::requested() const noexcept {
  std::uint64_t n = 0;
  for (const auto& f : fetches_) n += f.remaining;
  return n;
}

void ordered_consumer::start(clock::time_point now) {
  if (phase_ != phase::idle) return;
  create(now);
}

void ordered_consumer::create(clock::time_point now) {
  phase_ = phase::creating;
  ++generation_;
  consumer_config config;
  config.stream = settings_.stream;
  config.filter_subject = settings_.filter_subject;
  config.inactive_threshold = settings_.inactive_threshold;
  if (last_stream_seq_ > 0 || (settings_.start == start_from::new_only && created_once_)) {
    // Carry on after what was delivered: the new consumer skips nothing the stream still holds.
    config.start = consumer_start::from_sequence;
    config.start_sequence = last_stream_seq_ + 1;
  } else if (settings_.start == start_from::all) {
    config.start = consumer_start::all;
  } else if (settings_.start == start_from::last_per_key) {
    config.start = consumer_start::last_per_subject;
  } else {
    config.start = consumer_start::new_only;
  }
  last_activity_ = now;
  actions_.push_back({consumer_action::kind::create, generation_, consumer_create_subject(settings_.stream),
                      consumer_create_request(config)});
}

void ordered_consumer::recreate(clock::time_point now) {
  if (settings_.scan && ++recreations_ > settings_.max_recreations) {
    return fail({errc::server_error, "the consumer was lost " + std::to_string(recreations_) + " times"});
  }
  if (!settings_.scan) ++recreations_;
  close_fetches();
  remove_consumer();
  create(now);
}

void ordered_consumer::on_create_reply(std::uint64_t id, std::error_code transport, std::string_view body,
                                       clock::time_point now) {
  std::optional<consumer_create_reply> reply;
  if (!transport) {
    auto parsed = parse_consumer_create_reply(body);
    if (parsed) reply = std::move(parsed).value();
    if (id != generation_ || phase_ != phase::creating) {
      // A consumer nobody uses any more (made before a recreate, a stop or a failure): delete it.
      if (reply && reply->created && phase_ != phase::failed) {
        actions_.push_back(
            {consumer_action::kind::remove, 0, consumer_delete_subject(settings_.stream, reply->created->name)});
      }
      return;
    }
    if (!parsed) return fail(std::move(parsed).error());
  } else if (id != generation_ || phase_ != phase::creating) {
    return;
  }
  if (transport) {
    if (transport == errc::timeout) {
      return handle_create_failure({transport, "creating the consumer: no reply within the operation timeout"});
    }
    return handle_create_failure({transport, "creating the consumer: " + transport.message()});
  }
  if (reply->error) {
    const api_error& e = *reply->error;
    return handle_create_failure(api_failure("creating the consumer", e));
  }

  const consumer_created& created = *reply->created;
  name_ = created.name;
  phase_ = phase::active;
  next_consumer_seq_ = 1;
  failures_ = 0;
  last_activity_ = now;
  if (settings_.start == start_from::new_only && !created_once_) {
    // "New" starts after the stream's last message as this consumer's host saw it.
    last_stream_seq_ = std::max(last_stream_seq_, created.delivered_stream_seq);
  }
  position_ = std::max(position_, created.delivered_stream_seq);
  created_once_ = true;
  if (!initial_done_ && !initial_reached_) {
    initial_remaining_ = created.num_pending;
    if (initial_remaining_ == 0 || settings_.start == start_from::new_only) initial_reached_ = true;
  }
  maybe_finish();
  issue_fetches(now);
}

void ordered_consumer::handle_create_failure(error why) {
  if (why.code == errc::closed || settings_.scan) return fail(std::move(why));
  if (why.code == errc::disconnected) {
    phase_ = phase::waiting_reconnect;  // on_reconnected() makes it
    return;
  }
  if (why.code != condition::transient) return fail(std::move(why));
  phase_ = phase::backoff;
  retry_later();
}

void ordered_consumer::retry_later() {
  const auto delay = std::min<std::chrono::milliseconds>(250ms * (1 << std::min(failures_, 5)), 5000ms);
  ++failures_;
  consumer_action a{consumer_action::kind::retry_after};
  a.delay = delay;
  actions_.push_back(std::move(a));
}

void ordered_consumer::issue_fetches(clock::time_point now) {
  if (phase_ != phase::active) return;
  if (fetches_.empty() && now - last_activity_ > settings_.inactive_threshold / 2) {
    // Paused for long (nothing asked while the window was full): the server may have dropped
    // the idle consumer, and a fetch to it would go unanswered.
    return recreate(now);
  }
  // One fetch at a time: delivered messages name their consumer, not their fetch, so only then
  // does each message say which request it counts against and when that request is done.
  if (!fetches_.empty()) return;
  std::uint64_t room = settings_.window - std::min(settings_.window, unconsumed_);
  if (room == 0) return;
  if (settings_.budgeted) {
    if (credit_ == 0) {
      if (!credit_wanted_) {
        credit_wanted_ = true;
        consumer_action want{consumer_action::kind::want_credit};
        want.count = room;
        actions_.push_back(std::move(want));
      }
      return;
    }
    room = std::min(room, credit_);
    credit_ -= room;
  }
  consumer_action a{consumer_action::kind::fetch, ++next_fetch_id_, consumer_next_subject(settings_.stream, name_),
                    pull_request(room, settings_.expires, settings_.heartbeat)};
  a.delay = settings_.silence;
  a.count = room;
  actions_.push_back(std::move(a));
  fetches_.push_back({next_fetch_id_, generation_, room});
  last_activity_ = now;
}

std::uint64_t ordered_consumer::grant(std::uint64_t n, clock::time_point now) {
  credit_wanted_ = false;
  if (ended()) return n;
  credit_ += n;
  issue_fetches(now);
  return 0;
}

ordered_consumer::fetch_state* ordered_consumer::find_fetch(std::uint64_t id) noexcept {
  for (auto& f : fetches_) {
    if (f.id == id) return &f;
  }
  return nullptr;
}

void ordered_consumer::close_fetch(std::size_t index) {
  actions_.push_back({consumer_action::kind::close_fetch, fetches_[index].id});
  fetches_.erase(fetches_.begin() + static_cast<std::ptrdiff_t>(index));
}

void ordered_consumer::close_fetches() {
  while (!fetches_.empty()) close_fetch(fetches_.size() - 1);
}

void ordered_consumer::remove_consumer() {
  if (name_.empty()) return;
  actions_.push_back({consumer_action::kind::remove, 0, consumer_delete_subject(settings_.stream, name_)});
  name_.clear();
}

void ordered_consumer::on_fetch_message(std::uint64_t id, const fetched_message& m, clock::time_point now) {
  fetch_state* f = find_fetch(id);
  if (f == nullptr || f->generation != generation_ || phase_ != phase::active) return;
  last_activity_ = now;
  const auto index = static_cast<std::size_t>(f - fetches_.data());

  if (m.status == 0) {
    const auto d = parse_delivery_subject(m.reply);
    if (!d) return fail({errc::protocol_error, "a delivered message carries no JetStream metadata"});
    if (d->consumer != name_) return;                                 // an older consumer's message
    if (d->consumer_seq != next_consumer_seq_) return recreate(now);  // a gap: something was missed
    return deliver(m, *d, *f, now);
  }

  switch (classify_pull_status(m.status, m.description)) {
    case pull_status::heartbeat: {
      // The server's count of what it sent: more than arrived means a message was lost.
      if (const auto sent = number(m.last_consumer); sent && *sent >= next_consumer_seq_) return recreate(now);
      if (const auto seen = number(m.last_stream)) position_ = std::max(position_, *seen);
      maybe_finish();
      return;
    }
    case pull_status::expired:
    case pull_status::batch_bytes:
    case pull_status::leadership:
      close_fetch(index);
      return issue_fetches(now);
    case pull_status::consumer_gone:
      return recreate(now);
    case pull_status::too_many_waiting:
      close_fetch(index);
      return retry_later();
    case pull_status::refused:
      break;
  }
  error refused{errc::server_error, "a fetch was refused with status " + std::to_string(m.status),
                std::string(m.description)};
  if (settings_.scan) return fail(std::move(refused));
  close_fetch(index);
  retry_later();
}

void ordered_consumer::deliver(const fetched_message& m, const delivery_info& d, fetch_state& f,
                               clock::time_point now) {
  ++next_consumer_seq_;
  last_stream_seq_ = d.stream_seq;
  position_ = std::max(position_, d.stream_seq);
  ++unconsumed_;

  consumer_action a{consumer_action::kind::deliver};
  entry& e = a.delivered.emplace();
  const std::string_view prefix = settings_.key_prefix;
  e.key = std::string(m.subject.starts_with(prefix) ? m.subject.substr(prefix.size()) : m.subject);
  e.revision = d.stream_seq;
  e.operation = operation_from_header(m.operation);
  e.owner = owner_from_headers(m.owner, m.owner_revision);
  e.time = timestamp::from_unix(0, d.time_ns);
  e.value.assign(m.body.data(), m.body.size());
  actions_.push_back(std::move(a));
  // The batch is complete: the server ended the fetch without a word.
  if (--f.remaining == 0) close_fetch(static_cast<std::size_t>(&f - fetches_.data()));

  if (!initial_done_ && !initial_reached_) {
    if (initial_remaining_ > 0) --initial_remaining_;
    if (d.pending == 0 || initial_remaining_ == 0) initial_reached_ = true;
  }
  maybe_finish();
  issue_fetches(now);
}

void ordered_consumer::maybe_finish() {
  if (initial_done_ || !initial_reached_ || position_ < settings_.reach || phase_ != phase::active) return;
  initial_done_ = true;
  if (!settings_.scan) {
    actions_.push_back({consumer_action::kind::initial_done});
    return;
  }
  actions_.push_back({consumer_action::kind::finished});
  close_fetches();
  remove_consumer();
  phase_ = phase::done;
}

void ordered_consumer::on_fetch_ended(std::uint64_t id, std::error_code why, clock::time_point now) {
  fetch_state* f = find_fetch(id);
  if (f == nullptr || f->generation != generation_ || phase_ != phase::active) return;
  // The connection already stopped routing it: no close_fetch.
  fetches_.erase(fetches_.begin() + (f - fetches_.data()));
  if (why == errc::timeout) {
    return handle_lost({errc::timeout, "no message for " + ms(settings_.silence)}, now);
  }
  handle_lost({why, why.message()}, now);
}

void ordered_consumer::handle_lost(error why, clock::time_point now) {
  if (why.code == errc::closed || settings_.scan) return fail(std::move(why));
  if (why.code == errc::disconnected) {
    close_fetches();
    phase_ = phase::waiting_reconnect;
    return;
  }
  recreate(now);  // the consumer or its host is gone, or the server dropped the request
}

void ordered_consumer::on_consumed(std::uint64_t n, clock::time_point now) {
  unconsumed_ -= std::min(n, unconsumed_);
  issue_fetches(now);
}

void ordered_consumer::on_disconnected() {
  if (ended()) return;
  if (settings_.scan) return fail({errc::disconnected, "the connection dropped"});
  // Every request in flight failed with it; the consumer is made again once connected.
  fetches_.clear();
  phase_ = phase::waiting_reconnect;
}

void ordered_consumer::on_reconnected(clock::time_point now) {
  if (ended() || phase_ == phase::idle) return;
  // The server may have restarted without its memory-stored consumer, or dropped the fetches
  // of the old connection: start over after the last delivered message.
  fetches_.clear();
  recreate(now);
}

void ordered_consumer::on_retry_due(clock::time_point now) {
  if (phase_ == phase::backoff) return create(now);
  if (phase_ == phase::active) issue_fetches(now);
}

void ordered_consumer::on_closed() {
  if (ended()) return;
  fetches_.clear();
  name_.clear();
  fail({errc::closed, "the connection is closed"});
}

void ordered_consumer::stop() {
  if (ended()) return;
  close_fetches();
  remove_consumer();
  phase_ = phase::stopped;
}

void ordered_consumer::fail(error why) {
  if (ended()) return;
  close_fetches();
  if (why.code != errc::closed && why.code != errc::disconnected) remove_consumer();
  phase_ = phase::failed;
  consumer_action a{consumer_action::kind::failed};
  a.problem = std::move(why);
  actions_.push_back(std::move(a));
}

}  // namespace flowstore::detail::kv
