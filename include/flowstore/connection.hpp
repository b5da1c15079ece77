// A connection to NATS: the transport every store and watcher of a program shares.
#pragma once

#include <flowstore/error.hpp>
#include <flowstore/export.hpp>

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

namespace detail {
class connection_impl;
struct access;  // the library's way to the implementation (lib/access.hpp)
}  // namespace detail

/// TLS settings. TLS is used when `enabled` is set or a server URL has the `tls://` scheme;
/// setting a file here does not turn it on by itself. A failed TLS setup or handshake makes
/// connect() fail with errc::configuration_error.
struct tls_options {
  bool enabled = false;       ///< Use TLS with every server, whatever the URL scheme.
  std::string ca_file{};      ///< PEM file of the CAs that sign the server certificate.
  std::string cert_file{};    ///< PEM client certificate, for servers that verify clients.
  std::string key_file{};     ///< PEM private key of the client certificate.
  bool verify_server = true;  ///< Turn off only for tests: anybody could pose as the server.
};

/// What to do when the connection drops. While it is down, every operation fails at once with
/// errc::disconnected (nothing is queued); watchers resume by themselves once it is back. When
/// every attempt failed the connection closes: a connection_event::kind::closed event, and
/// errc::closed from then on.
struct reconnect_policy {
  bool enabled = true;                         ///< Reconnect at all; when false a drop closes the connection.
  std::chrono::milliseconds wait{2000};        ///< Between attempts to the same server.
  int max_attempts = 60;                       ///< Per server; -1 tries forever.
  std::size_t buffer_bytes = 8 * 1024 * 1024;  ///< nats.c's buffer for publishes made while reconnecting.
};

/// Something that happened to the connection, delivered to connect_options::on_event.
struct connection_event {
  /// The kinds of event.
  enum class kind {
    disconnected,  ///< The connection dropped; operations in flight failed with errc::disconnected.
    reconnected,   ///< The connection is back; stores and watchers carry on.
    closed,        ///< The connection is closed for good; every operation now fails with errc::closed.
    error,         ///< An asynchronous error (for instance a permissions violation or a slow consumer).
  };
  kind what;         ///< What happened.
  std::string text;  ///< Details for `error`, and the server URL (without credentials) for `reconnected`.
};

/// Settings for connect(): an aggregate, every member has a working default for a local server.
/// Secrets given here are never written into error messages or events; URLs appear there
/// with any `user:password@` replaced by `***@`.
struct connect_options {
  /// Server URLs (`nats://host:port`, `tls://host:port`, optionally `nats://user:password@host`),
  /// tried in order when connecting and when reconnecting; at least one.
  std::vector<std::string> servers{"nats://127.0.0.1:4222"};
  std::string name = "flowstore";  ///< Connection name shown by the server's monitoring.

  std::string user{};              ///< User/password authentication: the user…
  std::string password{};          ///< …and the password.
  std::string token{};             ///< Token authentication.
  std::string credentials_file{};  ///< A `.creds` file (JWT and nkey seed) for decentralized auth.
  /// nkey authentication, optional: the user's public key (`U…`), derived from the seed when
  /// empty; when set it must be the seed's (else connect() fails with errc::configuration_error).
  std::string nkey_public_key{};
  /// nkey authentication: the file holding the user's seed (`SU…`), read again at every
  /// (re)connect; nkey auth is used when this is set. The library signs the server's nonce.
  std::string nkey_seed_file{};

  tls_options tls{};  ///< TLS; see tls_options.

  std::chrono::milliseconds connect_timeout{2000};  ///< Per server attempt; must be positive.
  reconnect_policy reconnect{};                     ///< What to do when the connection drops.
  /// Default for every store operation (store_options::operation_timeout overrides it); must be
  /// positive.
  std::chrono::milliseconds operation_timeout{5000};

  /// Called for each connection_event on the connection's strand (of the executor given to
  /// connect()); must not block or throw. Unset: events are dropped.
  std::function<void(const connection_event&)> on_event{};
};

/// A NATS connection, made by connect(). Move-only and cheap to move; stores and watchers opened
/// on it share it, and it stays open until close() or until it and the last of them are
/// destroyed.
///
/// - Executor: the executor given to connect() runs the connection's strand (reply matching,
///   timeouts, connection events), so it must keep running while the connection is used.
///   Operations resume on the executor of the coroutine that awaits them.
/// - Lifetimes: a moved-from connection may only be destroyed, assigned to, closed (which does
///   nothing) or asked is_connected() (false).
/// - Thread safety: the const members and close() may be called from any thread, also
///   concurrently; moving, assigning and destroying need exclusive access.
class FLOWSTORE_DECL connection {
 public:
  /// Takes over the connection; the source is left moved-from.
  connection(connection&&) noexcept;
  /// Takes over the connection; the one held before is released (and closed when nothing else
  /// uses it).
  connection& operator=(connection&&) noexcept;
  /// Releases the connection: it closes, off the caller's thread, once no store or watcher uses it.
  ~connection();

  /// The executor given to connect(), on which the connection's strand runs.
  boost::asio::any_io_executor get_executor() const;

  /// True while connected (not while reconnecting or closed).
  bool is_connected() const;

  /// The largest message the server accepts, in bytes (its `max_payload`, 1 MiB by default); a
  /// flow whose document is larger is refused with errc::too_large before it is sent.
  std::int64_t max_payload() const;

  /// The default operation timeout from connect_options.
  std::chrono::milliseconds operation_timeout() const;

  /// Closes the connection: at once, every pending operation of every store and waiting
  /// watcher on it ends with errc::closed, and every later one fails with errc::closed without
  /// sending anything. The awaitable completes once nats.c has delivered or released every
  /// message of the connection and no nats.c callback can touch it any more (so a program may
  /// exit right after it). Destroying the last object that uses an unclosed connection closes
  /// it the same way, on a library thread, and the library waits for that at exit.
  ///
  /// - Errors: none; closing twice is harmless.
  /// - Executor: nats.c's blocking close runs on a library thread, never on the caller's
  ///   executor; the awaiting coroutine resumes on its own executor.
  /// - Cancellation: not supported; the close always completes.
  /// - Thread safety: may be called from any thread, also concurrently with operations.
  boost::asio::awaitable<void> close();

 private:
  friend struct detail::access;
  friend boost::asio::awaitable<result<connection>> connect(boost::asio::any_io_executor, connect_options);
  FLOWSTORE_HIDDEN explicit connection(std::shared_ptr<detail::connection_impl> impl) noexcept;

  std::shared_ptr<detail::connection_impl> impl_;
};

/// Connects to the first reachable server of `options.servers`, trying them in order.
///
/// nats.c connects synchronously; flowstore runs that on a library thread. Each server attempt
/// is bounded by connect_options::connect_timeout. The connection's strand, timers and events
/// run on `executor`.
///
/// - Errors: errc::invalid_argument (no server URL, a timeout that is not positive, options
///   nats.c refuses), errc::connection_failed (no server reachable),
///   errc::authentication_failed (credentials refused), errc::configuration_error (TLS setup
///   failed, TLS handshake or certificate refused, TLS required by one side only); other
///   nats.c failures (e.g. a credentials file that cannot be read) keep their nats.c status as
///   a code of category "nats", which still compares equal to its condition.
/// - Lifetimes: `options` is taken by value; nothing needs to outlive the call.
/// - Executor: never blocks `executor` or the caller's executor; the awaiting coroutine resumes
///   on its own executor.
/// - Cancellation: not supported while an attempt runs.
/// - Thread safety: may be called from any thread; connections are independent.
FLOWSTORE_DECL boost::asio::awaitable<result<connection>> connect(boost::asio::any_io_executor executor,
                                                                  connect_options options);

}  // namespace flowstore
