// The ordered pull consumer: the one primitive under list, history and watch, as a state machine
// without I/O. Its owner (kv/consumer_driver) feeds it what the server answers and carries out
// the actions it asks for; the unit tests feed it replies and check those actions.
//
// It keeps one ephemeral JetStream consumer (ack none, memory, one replica) and pulls from it,
// one fetch at a time: a request whose statuses (heartbeats, expiry) come on its own reply
// subject and whose messages name the consumer. A fetch asks for no more than the window has
// room for (messages delivered and not yet consumed, plus those asked for, never exceed it), so
// memory is bounded by the window, not by the server. Messages must come in
// consumer-sequence order; on a gap, a lost consumer (silence, 409 Consumer Deleted) or a
// reconnect it makes a new consumer that starts after the last stream sequence delivered, so
// nothing is delivered twice and nothing the stream still holds is skipped.
//
// The initial values (what existed when the consumer was made) are complete once a message says
// nothing is pending or as many arrived as the consumer reported pending. A scan (list, history)
// then finishes; a watch reports the marker and goes on. A scan may also be told a stream
// sequence it must reach first: on a replicated bucket its consumer may sit on a replica that
// is behind the stream leader, and the leader's last sequence says what it must catch up to.
#pragma once

#include <flowstore/error.hpp>

#include "kv/jetstream_api.hpp"
#include "kv/protocol.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flowstore::detail::kv {

enum class start_from { all, last_per_key, new_only };

struct ordered_consumer_settings {
  std::string stream;          // KV_<bucket>
  std::string filter_subject;  // $KV.<bucket>.<pattern>
  std::string key_prefix;      // $KV.<bucket>., taken off subjects to give keys
  start_from start = start_from::last_per_key;
  bool scan = false;                          // ends once the initial values are delivered
  std::uint64_t window = 1;                   // delivered and not consumed, plus asked for, at most this many
  std::chrono::milliseconds expires{30000};   // how long one fetch may wait on the server
  std::chrono::milliseconds heartbeat{5000};  // the server's idle heartbeat while a fetch waits
  std::chrono::milliseconds silence{11000};   // a fetch that hears nothing this long is lost
  std::chrono::milliseconds inactive_threshold{std::chrono::minutes(5)};  // the server drops an idle consumer
  std::uint64_t reach = 0;  // a scan finishes only once it has seen this stream sequence
  int max_recreations = 5;  // a scan fails when its consumer is lost more often than this
  // Fetches also need credit (grant()): the connection's bound on what all its scans may have
  // asked for at once.
  bool budgeted = false;
};

/// What the state machine asks its owner to do.
struct consumer_action {
  enum class kind {
    create,        // send `subject`/`body`; pass the reply to on_create_reply(`id`, …)
    fetch,         // open fetch `id`: send `subject`/`body`, route its reply subject to
                   // on_fetch_message(`id`, …) until close_fetch, and end it with
                   // on_fetch_ended(`id`, timeout) after `delay` of silence
    close_fetch,   // fetch `id` is over: stop routing its reply subject
    remove,        // send `subject` (a consumer delete); its reply does not matter
    deliver,       // hand `delivered` to the consumer of the entries
    initial_done,  // every initial value is delivered (a watch's marker)
    finished,      // a scan is complete
    failed,        // the consumer ended with `problem`; no action follows
    retry_after,   // call on_retry_due() after `delay`
    want_credit,   // a budgeted consumer would fetch `count` messages: call grant() with what it may
  };
  kind what;
  std::uint64_t id = 0;
  std::string subject{};
  std::string body{};
  std::chrono::milliseconds delay{};
  std::optional<entry> delivered{};
  std::optional<error> problem{};
  std::uint64_t count = 0;  // fetch: its batch; want_credit: the messages wanted
};

/// A message that arrived on a fetch's reply subject, as its owner read it from the wire.
struct fetched_message {
  int status = 0;                               // 0 for a delivered message; else the status code (100, 408, 409, …)
  std::string_view description{};               // the status text
  std::string_view subject{};                   // the message's subject ($KV.<bucket>.<key>)
  std::string_view reply{};                     // $JS.ACK.… of a delivered message
  std::optional<std::string_view> operation{};  // KV-Operation
  std::optional<std::string_view> owner{};           // Flowstore-Flow
  std::optional<std::string_view> owner_revision{};  // Flowstore-Flow-Revision
  std::optional<std::string_view> last_consumer{};  // Nats-Last-Consumer of a heartbeat
  std::optional<std::string_view> last_stream{};    // Nats-Last-Stream of a heartbeat
  std::string_view body{};
};

class ordered_consumer {
 public:
  using clock = std::chrono::steady_clock;

  explicit ordered_consumer(ordered_consumer_settings settings);

  // Inputs. `now` is the owner's clock; each input may queue actions.
  void start(clock::time_point now);
  /// The reply to create `id`: a transport error, or the reply's body.
  void on_create_reply(std::uint64_t id, std::error_code transport, std::string_view body, clock::time_point now);
  void on_fetch_message(std::uint64_t id, const fetched_message& m, clock::time_point now);
  /// Fetch `id` ended without the server saying so: silence (errc::timeout), or the
  /// connection dropped or closed.
  void on_fetch_ended(std::uint64_t id, std::error_code why, clock::time_point now);
  /// The owner consumed `n` delivered entries: their room in the window is free again.
  void on_consumed(std::uint64_t n, clock::time_point now);
  void on_disconnected();
  void on_reconnected(clock::time_point now);
  void on_retry_due(clock::time_point now);
  void on_closed();
  /// Ends the consumer: closes the fetches and deletes it on the server.
  void stop();
  /// Credit for `n` more messages (a budgeted consumer). Returns what it does not keep (all of
  /// it once ended), for the owner to give back.
  std::uint64_t grant(std::uint64_t n, clock::time_point now);
  /// Takes the credit granted and not spent on a fetch (for the owner to give back when the
  /// consumer ended).
  std::uint64_t release_credit() noexcept { return std::exchange(credit_, 0); }

  /// The actions queued so far; the owner carries them out in order and clears the vector.
  std::vector<consumer_action>& actions() noexcept { return actions_; }

  const ordered_consumer_settings& settings() const noexcept { return settings_; }
  bool ended() const noexcept { return phase_ == phase::done || phase_ == phase::failed || phase_ == phase::stopped; }
  bool initial_done() const noexcept { return initial_done_; }
  const std::string& consumer_name() const noexcept { return name_; }
  std::uint64_t last_stream_sequence() const noexcept { return last_stream_seq_; }
  std::uint64_t unconsumed() const noexcept { return unconsumed_; }
  std::uint64_t requested() const noexcept;
  std::size_t open_fetches() const noexcept { return fetches_.size(); }
  int recreations() const noexcept { return recreations_; }

 private:
  enum class phase { idle, creating, active, backoff, waiting_reconnect, done, failed, stopped };

  struct fetch_state {
    std::uint64_t id;
    std::uint64_t generation;
    std::uint64_t remaining;  // messages asked for and not yet delivered
  };

  void create(clock::time_point now);
  void recreate(clock::time_point now);
  void issue_fetches(clock::time_point now);
  void close_fetches();
  void close_fetch(std::size_t index);
  void remove_consumer();
  void maybe_finish();
  void retry_later();
  void fail(error why);
  void handle_create_failure(error why);
  void handle_lost(error why, clock::time_point now);
  fetch_state* find_fetch(std::uint64_t id) noexcept;
  void deliver(const fetched_message& m, const delivery_info& d, fetch_state& f, clock::time_point now);

  ordered_consumer_settings settings_;
  std::vector<consumer_action> actions_;
  phase phase_ = phase::idle;
  std::uint64_t generation_ = 0;  // of the consumer being made or in use
  std::string name_;              // the consumer in use; empty while there is none
  bool created_once_ = false;
  std::uint64_t next_consumer_seq_ = 1;
  std::uint64_t last_stream_seq_ = 0;  // the last stream sequence delivered (or skipped over)
  std::uint64_t position_ = 0;         // the furthest stream sequence the consumer is known to have seen
  std::uint64_t unconsumed_ = 0;
  std::vector<fetch_state> fetches_;
  std::uint64_t next_fetch_id_ = 0;
  clock::time_point last_activity_{};  // of the consumer on the server: a fetch sent or a message heard
  bool initial_done_ = false;
  bool initial_reached_ = false;  // every initial value delivered (a scan may still have to reach `reach`)
  std::uint64_t initial_remaining_ = 0;
  int failures_ = 0;  // consecutive failed creates, for the backoff
  int recreations_ = 0;
  std::uint64_t credit_ = 0;
  bool credit_wanted_ = false;
};

}  // namespace flowstore::detail::kv
