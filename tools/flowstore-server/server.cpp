// The listener and the HTTP/1.1 sessions of flowstore-server, on one io_context thread: bounded
// headers, bodies and times for every request, an accept loop that backs off at the
// file-descriptor limit instead of ending, and a stop that lets requests in flight finish.
#include "server.hpp"

#include "http.hpp"
#include "hub.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <set>

#include <sys/resource.h>

namespace flowstore::server {

using asio::ip::tcp;
using clock = std::chrono::steady_clock;

void log_line(std::string_view text) {
  static std::mutex mutex;
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[64];  // room for any int the fields could hold
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  std::string line = cli::sanitize(text);
  std::lock_guard lock(mutex);
  std::cerr << stamp << ' ' << line << '\n' << std::flush;
}

namespace {

// A session as the stop sees it: idle ones (waiting for a request) are cancelled at once,
// busy ones finish the request they are serving.
struct session_handle {
  beast::tcp_stream* stream = nullptr;
  bool idle = true;
};

struct server_state {
  app& a;
  std::set<session_handle*> sessions;
  asio::steady_timer all_done;  // cancelled when the last session ends during the stop
  explicit server_state(app& application) : a(application), all_done(application.executor) {}
};

// The request line as it goes to the log: bounded, control characters replaced there.
std::string log_target(std::string_view target) {
  constexpr std::size_t limit = 200;
  return target.size() <= limit ? std::string(target) : std::string(target.substr(0, limit)) + "...";
}

std::string elapsed_ms(clock::time_point since) {
  const double ms = std::chrono::duration<double, std::milli>(clock::now() - since).count();
  char text[32];
  std::snprintf(text, sizeof text, "%.1f ms", ms);
  return text;
}

// What a malformed request gets, by the parser's verdict; nullopt when the peer left or was
// too slow (nothing to answer).
std::optional<response> refusal_for(const boost::system::error_code& ec) {
  if (ec == http::error::header_limit) {
    return error_response(http::status::request_header_fields_too_large, "Request header fields too large");
  }
  if (ec == http::error::body_limit) return error_response(http::status::payload_too_large, "Request body too large");
  if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
      ec == asio::error::connection_reset || ec == asio::error::eof || ec == http::error::partial_message) {
    return std::nullopt;
  }
  if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
    return error_response(http::status::bad_request, "Malformed request: " + ec.message());
  }
  return std::nullopt;
}

asio::awaitable<boost::system::error_code> write_response(app& a, beast::tcp_stream& stream, response& res) {
  stream.expires_after(a.config.write_timeout);
  boost::system::error_code ec;
  co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

void log_request(const request& req, unsigned status, clock::time_point started) {
  log_line(std::string(req.method_string()) + " " + log_target(req.target()) + " " + std::to_string(status) + " " +
           elapsed_ms(started));
}

asio::awaitable<void> session(server_state& s, tcp::socket socket) {
  app& a = s.a;
  ++a.sessions;
  beast::tcp_stream stream(std::move(socket));
  session_handle handle{&stream, true};
  s.sessions.insert(&handle);
  beast::flat_buffer buffer;
  bool first = true;
  while (!a.shutting_down || first) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(a.config.header_limit));
    parser.body_limit(a.config.body_limit);
    handle.idle = true;
    stream.expires_after(first ? a.config.header_timeout : a.config.idle_timeout);
    boost::system::error_code ec;
    co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    first = false;
    handle.idle = false;
    const auto started = clock::now();
    std::optional<response> refused;
    if (ec) {
      refused = refusal_for(ec);
      if (!refused) break;
    } else if (std::distance(parser.get().begin(), parser.get().end()) >
               static_cast<std::ptrdiff_t>(a.config.max_header_count)) {
      refused = error_response(http::status::request_header_fields_too_large,
                               "Too many header fields (at most " + std::to_string(a.config.max_header_count) + ")");
    } else {
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        stream.expires_after(a.config.write_timeout);
        co_await asio::async_write(stream, asio::buffer("HTTP/1.1 100 Continue\r\n\r\n", 25),
                                   asio::redirect_error(asio::use_awaitable, ec));
      }
      if (!ec && !parser.is_done()) {
        stream.expires_after(a.config.body_timeout);
        co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      }
      if (ec) {
        refused = refusal_for(ec);
        if (!refused) break;
      }
    }
    if (refused) {
      // Whatever else the client sent cannot be trusted to be a request: answer and close.
      refused->keep_alive(false);
      log_line("refused request: " + std::to_string(refused->result_int()) + " " + std::string(refused->body()));
      (void)co_await write_response(a, stream, *refused);
      break;
    }

    request req = parser.release();
    if (is_stream_request(req)) {
      ++a.streams;
      log_line(std::string(req.method_string()) + " " + log_target(req.target()) + " stream opened");
      std::optional<response> not_streamed;
      try {
        not_streamed = co_await serve_stream(a, stream, req);
      } catch (const std::exception& e) {
        log_line(std::string("stream failed: ") + e.what());
      }
      --a.streams;
      if (not_streamed) {
        not_streamed->keep_alive(false);
        log_request(req, not_streamed->result_int(), started);
        (void)co_await write_response(a, stream, *not_streamed);
      } else {
        log_line(std::string(req.method_string()) + " " + log_target(req.target()) + " stream closed after " +
                 elapsed_ms(started));
      }
      break;
    }

    response res;
    try {
      res = co_await handle_request(a, req);
    } catch (const std::exception& e) {
      res = error_response(http::status::internal_server_error, std::string("Internal error: ") + e.what());
    }
    res.version(req.version());
    res.keep_alive(req.keep_alive() && !a.shutting_down);
    if (req.method() == http::verb::head) {
      res.content_length(res.body().size());
      res.body().clear();
    }
    log_request(req, res.result_int(), started);
    if (co_await write_response(a, stream, res) || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.close();
  s.sessions.erase(&handle);
  --a.sessions;
  if (a.shutting_down && a.sessions == 0) s.all_done.cancel();
}

// A connection beyond max_connections: told so, and closed.
asio::awaitable<void> refuse_connection(app& a, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  response res = error_response(http::status::service_unavailable, "Too many connections");
  res.keep_alive(false);
  (void)co_await write_response(a, stream, res);
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

// Descriptors kept free for everything but client connections: the refusals themselves, NATS
// reconnects, the log. Beyond what the limit leaves, connections are refused with 503 rather
// than left unaccepted.
constexpr std::size_t reserved_descriptors = 16;

std::size_t connections_the_fd_limit_allows() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  std::size_t open = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++open;
  }
  const std::size_t used = open + reserved_descriptors;
  return limit.rlim_cur > used ? static_cast<std::size_t>(limit.rlim_cur) - used : 1;
}

bool out_of_resources(const boost::system::error_code& ec) {
  return ec == asio::error::no_descriptors || ec.value() == ENFILE || ec == asio::error::no_buffer_space ||
         ec == asio::error::no_memory;
}

asio::awaitable<void> accept_loop(server_state& s, tcp::acceptor& acceptor) {
  app& a = s.a;
  clock::time_point last_warning{};
  std::size_t backoffs = 0;
  while (!a.shutting_down) {
    tcp::socket socket(a.executor);
    boost::system::error_code ec;
    co_await acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (a.shutting_down || ec == asio::error::operation_aborted) break;
      // At the descriptor limit the pending connection stays in the backlog: wait for a
      // descriptor to be freed and accept it then. The warning at most once a second.
      ++backoffs;
      if (clock::now() - last_warning > 1s) {
        log_line("accept: " + ec.message() + (out_of_resources(ec) ? "; backing off" : "") + " (" +
                 std::to_string(backoffs) + " times)");
        last_warning = clock::now();
      }
      asio::steady_timer pause(a.executor, out_of_resources(ec) ? 50ms : 10ms);
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (a.sessions >= a.config.max_connections) {
      asio::co_spawn(a.executor, refuse_connection(a, std::move(socket)), asio::detached);
      continue;
    }
    asio::co_spawn(a.executor, session(s, std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> run_server(server_state& s, cli::server_settings settings, component_catalog catalog, int& code) {
  app& a = s.a;
  connect_options options = cli::make_connect_options(settings);
  options.name = "flowstore-server";
  options.on_event = [](const connection_event& e) {
    const char* what = e.what == connection_event::kind::disconnected ? "disconnected"
                       : e.what == connection_event::kind::reconnected ? "reconnected"
                       : e.what == connection_event::kind::closed      ? "closed"
                                                                        : "error";
    log_line(std::string("nats: ") + what + (e.text.empty() ? "" : ": " + e.text));
  };
  auto conn = co_await flowstore::connect(a.executor, std::move(options));
  if (!conn) {
    code = cli::report(conn.error());
    co_return;
  }
  a.conn.emplace(std::move(conn).value());
  auto stop_with = [&](int exit_code) -> asio::awaitable<void> {
    code = exit_code;
    co_await a.conn->close();
  };

  store_options bucket;
  bucket.bucket = settings.bucket;
  auto flows = co_await store::open(*a.conn, std::move(bucket));
  if (!flows) co_return co_await stop_with(cli::report(flows.error()));
  a.flows.emplace(*flows);
  engine_options engine_settings;
  engine_settings.config_bucket = a.config.config_bucket;
  const std::size_t component_types = catalog.components().size();
  auto engine = co_await flowstore::engine::open(*flows, std::move(catalog), std::move(engine_settings));
  if (!engine) co_return co_await stop_with(cli::report(engine.error()));
  a.engine.emplace(std::move(engine).value());
  a.engine->on_event([](const engine_event& e) {
    if (e.what != engine_event::kind::state_changed) return;
    log_line("flow " + cli::quote(e.flow_id) + ": " + std::string(to_string(e.from)) + " -> " +
             std::string(to_string(e.to)));
  });
  if (a.config.body_limit == 0) a.config.body_limit = static_cast<std::size_t>(a.conn->max_payload());

  boost::system::error_code ec;
  const auto address = asio::ip::make_address(a.config.listen_host, ec);
  if (ec) co_return co_await stop_with(cli::report("--listen: not an IP address: " + a.config.listen_host, cli::exit_usage));
  tcp::acceptor acceptor(a.executor);
  const tcp::endpoint endpoint(address, a.config.listen_port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    co_return co_await stop_with(cli::report("cannot listen on " + a.config.listen_host + ":" +
                                                 std::to_string(a.config.listen_port) + ": " + ec.message(),
                                             cli::exit_usage));
  }
  a.hub = std::make_shared<change_hub>(a);
  a.hub->start();

  asio::signal_set signals(a.executor, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& error, int number) {
    if (error) return;
    log_line(std::string("stopping on ") + (number == SIGINT ? "SIGINT" : "SIGTERM") + ": " +
             std::to_string(a.sessions) + " connections open, " + std::to_string(a.streams) + " streams");
    a.shutting_down = true;
    boost::system::error_code ignored;
    acceptor.close(ignored);
    a.hub->stop();
    for (session_handle* h : s.sessions) {
      if (h->idle) h->stream->cancel();
    }
  });

  if (const std::size_t allowed = connections_the_fd_limit_allows(); allowed < a.config.max_connections) {
    log_line("at most " + std::to_string(allowed) + " connections: the file-descriptor limit allows no more");
    a.config.max_connections = allowed;
  }
  const auto bound = acceptor.local_endpoint();
  log_line("listening on http://" + bound.address().to_string() + ":" + std::to_string(bound.port()) + " (bucket " +
           cli::quote(a.flows->bucket()) + ", components in " + cli::quote(a.engine->config_bucket()) + ", " +
           std::to_string(component_types) + " component types)");
  // Last: whoever waits for this line may send a signal or count descriptors at once.
  std::cout << "listening on " << bound.address().to_string() << ":" << bound.port() << std::endl;

  co_await accept_loop(s, acceptor);
  if (a.sessions > 0) {
    s.all_done.expires_after(a.config.shutdown_grace);
    co_await s.all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (a.sessions > 0) log_line("stopping with " + std::to_string(a.sessions) + " connections still open");
  }
  co_await a.conn->close();
  log_line("stopped");
  code = cli::exit_ok;
}

}  // namespace

int serve(server_config config, const cli::server_settings& settings, component_catalog catalog) {
  // A peer that closes while we write must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context io(1);
  app a;
  a.config = std::move(config);
  a.executor = io.get_executor();
  server_state state(a);
  int code = cli::exit_fatal;
  asio::co_spawn(io, run_server(state, settings, std::move(catalog), code), [&](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& failure) {
      code = cli::report(std::string("internal error: ") + failure.what(), cli::exit_fatal);
    }
  });
  io.run();
  return code;
}

}  // namespace flowstore::server
