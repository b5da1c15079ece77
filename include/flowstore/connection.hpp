// A connection to NATS: the transport every store and watcher of a program shares.
#pragma once

#include <flowstore/error.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace flowstore {

namespace asio = boost::asio;

namespace detail {
class connection_impl;
}

/// TLS settings. TLS is used when `enabled` is set or a server URL has the `tls://` scheme.
struct tls_options {
  bool enabled = false;
  std::string ca_file{};      ///< PEM file of the CAs that sign the server certificate.
  std::string cert_file{};    ///< PEM client certificate, for servers that verify clients.
  std::string key_file{};     ///< PEM private key of the client certificate.
  bool verify_server = true;  ///< Turn off only for tests: anybody could pose as the server.
};

/// What to do when the connection drops.
struct reconnect_policy {
  bool enabled = true;
  std::chrono::milliseconds wait{2000};        ///< Between attempts to the same server.
  int max_attempts = 60;                       ///< Per server; -1 tries forever.
  std::size_t buffer_bytes = 8 * 1024 * 1024;  ///< Publishes kept while reconnecting.
};

/// Something that happened to the connection, delivered to connect_options::on_event.
struct connection_event {
  enum class kind {
    disconnected,  ///< The connection dropped; operations in flight failed with errc::disconnected.
    reconnected,   ///< The connection is back; stores and watchers carry on.
    closed,        ///< The connection is closed for good; every operation now fails with errc::closed.
    error,         ///< An asynchronous error (for instance a permissions violation or a slow consumer).
  };
  kind what;
  std::string text;  ///< Details for `error`, and the server URL for `reconnected`.
};

/// Settings for connect(). Secrets given here are never written into error messages.
struct connect_options {
  std::vector<std::string> servers{"nats://127.0.0.1:4222"};  ///< Tried in order.
  std::string name = "flowstore";                             ///< Connection name shown by the server's monitoring.

  std::string user{};  ///< User/password authentication.
  std::string password{};
  std::string token{};             ///< Token authentication.
  std::string credentials_file{};  ///< A `.creds` file (JWT and nkey seed) for decentralized auth.
  std::string nkey_public_key{};   ///< nkey authentication: the user's public key (`U…`)…
  std::string nkey_seed_file{};    ///< …and the file holding its seed (`SU…`).

  tls_options tls{};

  std::chrono::milliseconds connect_timeout{2000};  ///< Per server attempt.
  reconnect_policy reconnect{};
  std::chrono::milliseconds operation_timeout{5000};  ///< Default for every store operation.

  /// Called on the connection's strand for each event; must not block or throw.
  std::function<void(const connection_event&)> on_event{};
};

/// A NATS connection. Cheap to move; stores and watchers opened on it share it, and it stays
/// open until close() or until the last of them is destroyed.
///
/// Thread safety: distinct objects are independent; one object may be used from several
/// threads only through its strand (the operations themselves are safe to start concurrently).
class connection {
 public:
  connection(connection&&) noexcept;
  connection& operator=(connection&&) noexcept;
  ~connection();

  /// The executor completions are delivered on (the one given to connect()).
  asio::any_io_executor get_executor() const;

  /// True while connected (not while reconnecting or closed).
  bool is_connected() const;

  /// The largest message the server accepts, in bytes.
  std::int64_t max_payload() const;

  /// The default operation timeout from connect_options.
  std::chrono::milliseconds operation_timeout() const;

  /// Closes the connection: every pending operation of every store and watcher on it ends with
  /// errc::closed, and the awaitable completes once no nats.c callback can touch it any more.
  /// Closing twice is harmless. Never blocks the caller's executor.
  asio::awaitable<void> close();

  /// For the library's own layers.
  const std::shared_ptr<detail::connection_impl>& impl() const noexcept { return impl_; }

 private:
  friend asio::awaitable<result<connection>> connect(asio::any_io_executor, connect_options);
  explicit connection(std::shared_ptr<detail::connection_impl> impl) noexcept;

  std::shared_ptr<detail::connection_impl> impl_;
};

/// Connects to the first reachable server of `options.servers`.
///
/// nats.c connects synchronously; that runs on a library thread, never on `executor`, and the
/// coroutine resumes on `executor`. Not cancellable while the attempt runs; bounded by
/// connect_timeout per server.
/// Errors: errc::invalid_argument (no servers, bad timeouts), errc::connection_failed (no server
/// reachable), errc::authentication_failed, errc::configuration_error (TLS setup or handshake).
asio::awaitable<result<connection>> connect(asio::any_io_executor executor, connect_options options);

}  // namespace flowstore
