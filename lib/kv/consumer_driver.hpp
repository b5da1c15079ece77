// Runs an ordered_consumer over a connection: on its strand, with its request multiplexer.
// Consumer creates and deletes are requests, fetches are streams on the one inbox, and a
// reconnect or the close reaches the consumer as a connection event. No thread of its own, no
// blocking call.
#pragma once

#include "kv/ordered_consumer.hpp"
#include "nats/connection_impl.hpp"

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace flowstore::detail::kv {

/// Where a driven consumer's results go, on the connection's strand.
class consumer_output {
 public:
  /// Entries in stream order; the callee may move them out.
  virtual void on_entries(std::vector<entry>& entries) = 0;
  /// Every initial value was delivered (a watch's marker).
  virtual void on_initial_done() = 0;
  /// A scan is complete.
  virtual void on_finished() = 0;
  /// The consumer ended with an error; nothing follows.
  virtual void on_failed(error why) = 0;

 protected:
  ~consumer_output() = default;
};

class consumer_driver final : public reply_sink,
                              public connection_listener,
                              public std::enable_shared_from_this<consumer_driver> {
 public:
  /// A consumer that sends its results to `output` while the output lives; `request_timeout`
  /// bounds its creates. Nothing happens before start().
  consumer_driver(std::shared_ptr<connection_impl> connection, ordered_consumer_settings settings,
                  std::shared_ptr<consumer_output> output, std::chrono::milliseconds request_timeout);

  /// Any thread: starts the consumer on the connection's strand.
  void start();
  /// Any thread: the owner consumed `n` delivered entries.
  void consumed(std::uint64_t n);
  /// Any thread: ends the consumer (deletes it on the server) and drops the output. Idempotent.
  void stop();

  void on_stream_reply(std::uint64_t token, std::error_code ec, nats_message_ptr msg) override;
  void on_connection_event(connection_event::kind what) override;

 private:
  struct open_fetch {
    std::uint64_t id;
    std::uint64_t token;
    std::uint64_t batch = 0;    // asked for
    std::uint64_t arrived = 0;  // delivered so far
  };

  void run();  // carries out the state machine's actions; strand only
  void send_create(consumer_action& a);
  void open(consumer_action& a);
  void close(std::uint64_t fetch_id);
  void retry_after(std::chrono::milliseconds delay);
  void unroute();
  // A budgeted consumer's credit: asked of the connection's budget, given back as messages
  // arrive or fetches end.
  void request_credit(std::uint64_t wanted);
  void give_back(std::uint64_t messages);
  void fetch_over(const open_fetch& f);

  std::shared_ptr<connection_impl> connection_;
  ordered_consumer consumer_;
  // Weak: the output's owner keeps it (and the driver) alive; reset once the consumer ended.
  std::weak_ptr<consumer_output> output_;
  std::chrono::milliseconds request_timeout_;
  // Made when first needed, on the strand, and gone with the close (also the one an
  // io_context's shutdown makes): the driver may outlive its io_context.
  std::optional<boost::asio::steady_timer> retry_timer_;
  std::vector<open_fetch> fetches_;
  std::string routed_consumer_;         // whose deliveries the connection routes here
  std::vector<consumer_action> spare_;  // the actions vector of the last run, emptied
  std::vector<entry> delivered_;        // a run of entries handed to the output at once
  std::atomic<std::uint64_t> consumed_{0};
  std::atomic<bool> consumed_posted_{false};
};

}  // namespace flowstore::detail::kv
