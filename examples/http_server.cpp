// An HTTP/1.1 server for the flow-builder UI, all coroutines on one io_context thread:
//
//   GET    /flowbuilder/flows                 200 {"flows":[…]}
//   POST   /flowbuilder/flows                 201 the stored flow (an id is generated when missing)
//   GET    /flowbuilder/flows/{id}            200 the flow, or 404
//   PUT    /flowbuilder/flows/{id}            200 the stored flow; 409 when the version is stale
//   DELETE /flowbuilder/flows/{id}            204, or 404
//   POST   /flowbuilder/flows/{id}/validate   200 {"valid":…,"problems":[…]} for the flow in the body
//                                             (the stored one when the body is empty)
//   GET    /flowbuilder/flows/events          text/event-stream, one `data:` line per change made
//                                             after connecting; a `: heartbeat` comment when quiet
//
// Errors are {"error":"…"}. SIGINT or SIGTERM stops the server cleanly.
//
//   http_server NATS_URL [PORT]      (listens on 127.0.0.1; port 0 picks a free one)
#include <flowstore/connection.hpp>
#include <flowstore/error.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/json.hpp>
#include <flowstore/store.hpp>
#include <flowstore/watch.hpp>

#include "example_main.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid_io.hpp>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

constexpr std::string_view flows_path = "/flowbuilder/flows";
constexpr std::string_view validate_suffix = "/validate";
constexpr std::uint64_t max_request_body = 4 * 1024 * 1024;
constexpr auto idle_timeout = 60s;        // a kept-alive connection without a new request is closed
constexpr auto send_timeout = 30s;        // a client that takes no data for this long is dropped
constexpr auto heartbeat_interval = 15s;  // a quiet event stream still sends this often
// Events waiting for one event-stream client. When a client reads slowly this buffer fills and
// then the NATS server pauses that client's watch (flow control), so what a slow client holds
// stays bounded, and nobody else notices.
constexpr std::size_t events_buffered_per_client = 64;

// What every connection shares. Shared ownership: connections may outlive the coroutine that
// started the server by a few steps while they wind down.
struct server_state {
  explicit server_state(flowstore::store s, tcp::acceptor a) : store(std::move(s)), acceptor(std::move(a)) {}
  flowstore::store store;
  tcp::acceptor acceptor;
  boost::uuids::random_generator new_uuid;
  // Open connections and event watchers, closed and stopped on shutdown (one thread: no locking).
  std::set<beast::tcp_stream*> streams;
  std::set<flowstore::watcher*> watchers;
  bool stopping = false;
};

// Adds an object to one of the shutdown sets for as long as it lives.
template <class T>
class registration {
 public:
  registration(std::set<T*>& set, T* item) : set_(set), item_(item) { set_.insert(item_); }
  ~registration() { set_.erase(item_); }
  registration(const registration&) = delete;
  registration& operator=(const registration&) = delete;

 private:
  std::set<T*>& set_;
  T* item_;
};

std::string json_string(std::string_view text) { return boost::json::serialize(boost::json::value(text)); }

response make_response(const request& req, http::status status, std::string body) {
  response res{status, req.version()};
  res.set(http::field::server, "flowstore-example");
  if (!body.empty()) res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

response error_response(const request& req, http::status status, std::string_view message) {
  return make_response(req, status, "{\"error\":" + json_string(message) + "}");
}

response id_mismatch_response(const request& req, std::string_view body_id, std::string_view path_id) {
  return error_response(
      req, http::status::bad_request,
      "flow id " + json_string(body_id) + " in the body does not match " + json_string(path_id) + " in the path");
}

// The HTTP status for a store error, by what the caller can do about it.
http::status status_for(const flowstore::error& e) {
  if (e == flowstore::errc::not_found) return http::status::not_found;
  if (e == flowstore::errc::conflict || e == flowstore::errc::already_exists) return http::status::conflict;
  if (e == flowstore::condition::invalid) return http::status::bad_request;
  if (e == flowstore::condition::transient) return http::status::service_unavailable;
  return http::status::internal_server_error;
}

response store_error_response(const request& req, const flowstore::error& e) {
  return error_response(req, status_for(e), e.what());
}

// A body that is not a flow document is the client's mistake, whatever the decoder's category.
response bad_body_response(const request& req, const flowstore::error& e) {
  return error_response(req, http::status::bad_request, e.what());
}

// A flow as the body of a response: its Go-compatible document.
response flow_response(const request& req, http::status status, const flowstore::flow& f) {
  auto document = flowstore::to_json(f);
  if (!document) return store_error_response(req, document.error());
  return make_response(req, status, std::move(*document));
}

asio::awaitable<response> list_flows(server_state& state, const request& req) {
  auto listed = co_await state.store.list();
  if (!listed) co_return store_error_response(req, listed.error());
  std::string body = "{\"flows\":[";
  bool first = true;
  for (const auto& f : listed->flows) {
    auto document = flowstore::to_json(f);
    if (!document) co_return store_error_response(req, document.error());
    if (!first) body += ',';
    first = false;
    body += *document;
  }
  body += "]}";
  co_return make_response(req, http::status::ok, std::move(body));
}

asio::awaitable<response> create_flow(server_state& state, const request& req) {
  auto parsed = flowstore::flow_from_json(req.body());
  if (!parsed) co_return bad_body_response(req, parsed.error());
  if (parsed->id.empty()) parsed->id = boost::uuids::to_string(state.new_uuid());
  auto created = co_await state.store.create(std::move(*parsed));
  if (!created) co_return store_error_response(req, created.error());
  co_return flow_response(req, http::status::created, *created);
}

asio::awaitable<response> get_flow(server_state& state, const request& req, std::string id) {
  auto found = co_await state.store.get(std::move(id));
  if (!found) co_return store_error_response(req, found.error());
  co_return flow_response(req, http::status::ok, *found);
}

asio::awaitable<response> replace_flow(server_state& state, const request& req, std::string id) {
  auto parsed = flowstore::flow_from_json(req.body());
  if (!parsed) co_return bad_body_response(req, parsed.error());
  if (parsed->id != id) {
    co_return id_mismatch_response(req, parsed->id, id);
  }
  // The body's version is the one the client read: update() refuses it with a conflict when
  // somebody else wrote in between.
  auto updated = co_await state.store.update(std::move(*parsed));
  if (!updated) co_return store_error_response(req, updated.error());
  co_return flow_response(req, http::status::ok, *updated);
}

asio::awaitable<response> delete_flow(server_state& state, const request& req, std::string id) {
  auto removed = co_await state.store.remove(std::move(id));
  if (!removed) co_return store_error_response(req, removed.error());
  co_return make_response(req, http::status::no_content, "");
}

// Validates the flow in the body (an editor checking its work before saving), or the stored
// flow when the body is empty.
asio::awaitable<response> validate_flow(server_state& state, const request& req, std::string id) {
  flowstore::flow candidate;
  if (req.body().empty()) {
    auto found = co_await state.store.get(id);
    if (!found) co_return store_error_response(req, found.error());
    candidate = std::move(*found);
  } else {
    auto parsed = flowstore::flow_from_json(req.body());
    if (!parsed) co_return bad_body_response(req, parsed.error());
    if (parsed->id.empty()) parsed->id = id;
    if (parsed->id != id) {
      co_return id_mismatch_response(req, parsed->id, id);
    }
    candidate = std::move(*parsed);
  }
  const auto problems = flowstore::validation_problems(candidate);
  std::string body = problems.empty() ? "{\"valid\":true,\"problems\":[" : "{\"valid\":false,\"problems\":[";
  for (std::size_t i = 0; i < problems.size(); ++i) {
    if (i > 0) body += ',';
    body += json_string(problems[i].to_string());
  }
  body += "]}";
  co_return make_response(req, http::status::ok, std::move(body));
}

// The part of the target after /flowbuilder/flows, without a query; nullopt outside the API.
std::optional<std::string_view> route_rest(std::string_view target) {
  target = target.substr(0, target.find('?'));
  if (!target.starts_with(flows_path)) return std::nullopt;
  std::string_view rest = target.substr(flows_path.size());
  if (!rest.empty() && rest.front() != '/') return std::nullopt;
  if (!rest.empty()) rest.remove_prefix(1);
  return rest;
}

bool is_event_stream(const request& req) {
  const auto rest = route_rest(req.target());
  return req.method() == http::verb::get && rest && *rest == "events";
}

// Picks the handler for a request. Flow ids may contain '/', so `{id}/validate` is recognised
// by its suffix and everything else after the prefix is the id.
asio::awaitable<response> route(server_state& state, const request& req) {
  const auto rest = route_rest(req.target());
  if (!rest) co_return error_response(req, http::status::not_found, "no such route");
  const http::verb method = req.method();
  if (rest->empty()) {
    if (method == http::verb::get) co_return co_await list_flows(state, req);
    if (method == http::verb::post) co_return co_await create_flow(state, req);
    co_return error_response(req, http::status::method_not_allowed, "method not allowed");
  }
  if (rest->ends_with(validate_suffix) && rest->size() > validate_suffix.size()) {
    std::string id(rest->substr(0, rest->size() - validate_suffix.size()));
    if (method == http::verb::post) co_return co_await validate_flow(state, req, std::move(id));
    co_return error_response(req, http::status::method_not_allowed, "method not allowed");
  }
  std::string id(*rest);
  if (method == http::verb::get) co_return co_await get_flow(state, req, std::move(id));
  if (method == http::verb::put) co_return co_await replace_flow(state, req, std::move(id));
  if (method == http::verb::delete_) co_return co_await delete_flow(state, req, std::move(id));
  co_return error_response(req, http::status::method_not_allowed, "method not allowed");
}

// One server-sent event: `data: {"type":…,"id":…,"revision":…,"flow":{…}}` and a blank line.
std::string event_message(const flowstore::flow_event& event) {
  std::string message = std::string("data: {\"type\":\"") + std::string(flowstore::to_string(event.type)) +
                        "\",\"id\":" + json_string(event.id) + ",\"revision\":" + std::to_string(event.revision);
  if (event.value) {
    auto document = flowstore::to_json(*event.value);
    if (document) message += ",\"flow\":" + *document;
  }
  if (event.problem) message += ",\"error\":" + json_string(event.problem->what());
  message += "}\n\n";
  return message;
}

// Sends a piece of the event stream; false when the client went away or took nothing for
// send_timeout (the stream then closes the connection).
asio::awaitable<bool> send(beast::tcp_stream& stream, std::string text) {
  stream.expires_after(send_timeout);
  boost::system::error_code ec;
  co_await asio::async_write(stream, asio::buffer(text), asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec;
}

// Streams the store's changes to one client until it goes away or the server stops. Each
// client has its own watcher and this coroutine: a client that reads slowly blocks only its
// own write here, its full watch buffer pauses only its own watch, and other clients and
// requests go on.
asio::awaitable<void> stream_events(server_state& state, beast::tcp_stream& stream, const request& req) {
  // updates_only: a client sees the changes made after it connected; it lists the flows for
  // the state before that.
  flowstore::watch_options options;
  options.start = flowstore::watch_start::updates_only;
  options.buffer_capacity = events_buffered_per_client;
  flowstore::watcher changes = state.store.watch(">", options);
  registration<flowstore::watcher> stoppable(state.watchers, &changes);

  // The header goes out once the watch is in place (its initial_values_done marker), so a
  // client that got it is sure to see every change made from then on.
  auto first = co_await changes.next();
  boost::system::error_code ec;
  if (!first) {
    response refused = store_error_response(req, first.error());
    refused.keep_alive(false);
    stream.expires_after(send_timeout);
    co_await http::async_write(stream, refused, asio::redirect_error(asio::use_awaitable, ec));
    co_return;
  }
  // No length and no chunking: the stream's body ends when the connection closes.
  http::response<http::empty_body> header{http::status::ok, req.version()};
  header.set(http::field::server, "flowstore-example");
  header.set(http::field::content_type, "text/event-stream");
  header.set(http::field::cache_control, "no-cache");
  header.keep_alive(false);
  http::response_serializer<http::empty_body> serializer{header};
  stream.expires_after(send_timeout);
  co_await http::async_write_header(stream, serializer, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  // An SSE comment, ignored by EventSource, that tells clients which only see the body (curl)
  // that the watch is in place.
  std::string opening = ": watching\n\n";
  if (first->type != flowstore::flow_event::kind::initial_values_done) opening += event_message(*first);
  if (!co_await send(stream, std::move(opening))) co_return;

  // A heartbeat comment when nothing happened for a while keeps proxies from closing the
  // stream as idle, and finds clients that went away without a word.
  asio::steady_timer heartbeat(co_await asio::this_coro::executor);
  while (!state.stopping) {
    heartbeat.expires_after(heartbeat_interval);
    auto next_or_heartbeat = changes.next() || heartbeat.async_wait(asio::use_awaitable);
    auto outcome = co_await std::move(next_or_heartbeat);
    std::string message = ": heartbeat\n\n";
    if (outcome.index() == 0) {
      auto& event = std::get<0>(outcome);
      if (!event) break;  // the watch ended: the server is stopping or lost its NATS connection
      if (event->type == flowstore::flow_event::kind::initial_values_done) continue;
      message = event_message(*event);
    }
    if (!co_await send(stream, std::move(message))) break;
  }
  changes.stop();
}

// One client connection: requests answered in turn while the client keeps it alive.
asio::awaitable<void> serve_connection(std::shared_ptr<server_state> state, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  registration<beast::tcp_stream> closable(state->streams, &stream);
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  try {
    while (!state->stopping) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(max_request_body);
      stream.expires_after(idle_timeout);
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;  // closed by the client, timed out, or not HTTP
      const request req = parser.release();
      if (is_event_stream(req)) {
        co_await stream_events(*state, stream, req);
        break;
      }
      response res = co_await route(*state, req);
      stream.expires_after(send_timeout);
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !res.keep_alive()) break;
    }
  } catch (const std::exception& e) {
    std::cerr << "connection failed: " << e.what() << '\n';
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.socket().close(ec);
}

asio::awaitable<void> accept_connections(std::shared_ptr<server_state> state) {
  while (true) {
    boost::system::error_code ec;
    tcp::socket socket = co_await state->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (!state->stopping) std::cerr << "accept failed, no new connections: " << ec.message() << '\n';
      break;
    }
    asio::co_spawn(state->acceptor.get_executor(), serve_connection(state, std::move(socket)), asio::detached);
  }
}

void stop_serving(server_state& state) {
  state.stopping = true;
  boost::system::error_code ignored;
  state.acceptor.close(ignored);
  for (flowstore::watcher* w : state.watchers) w->stop();
  for (beast::tcp_stream* s : state.streams) s->socket().close(ignored);
}

asio::awaitable<int> run(std::string url, unsigned short port) {
  auto executor = co_await asio::this_coro::executor;
  // Installed before the address is printed, so a signal sent by whoever reads it is handled.
  asio::signal_set signals(executor, SIGINT, SIGTERM);

  auto opened = co_await example::connect_and_open(url);
  if (!opened) co_return 1;
  auto& [conn, store] = *opened;

  const tcp::endpoint listen_on{asio::ip::address_v4::loopback(), port};
  auto state = std::make_shared<server_state>(std::move(store), tcp::acceptor(executor, listen_on));
  std::cout << "listening on http://127.0.0.1:" << state->acceptor.local_endpoint().port() << std::endl;
  asio::co_spawn(executor, accept_connections(state), asio::detached);

  boost::system::error_code ec;
  const int signal_number = co_await signals.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  std::cerr << "signal " << signal_number << ": stopping\n";
  stop_serving(*state);
  co_await conn.close();
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: http_server NATS_URL [PORT]\n";
    return 2;
  }
  const int port = argc > 2 ? std::stoi(argv[2]) : 0;
  if (port < 0 || port > 65535) {
    std::cerr << "port out of range: " << port << '\n';
    return 2;
  }
  return example::run_to_completion(run(argv[1], static_cast<unsigned short>(port)));
}
