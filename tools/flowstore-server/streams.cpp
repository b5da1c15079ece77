// The streaming routes of flowstore-server: the status WebSocket the flow-builder UI opens for
// a flow (`/flowbuilder/status/stream?flowId=…`, which Go leaves unimplemented) and the
// runtime log as Server-Sent Events (`/flowbuilder/flows/{id}/runtime/logs`). Both carry what
// the store can tell of a flow — its state changes and lifecycle events — from the change hub.
//
// A client is noticed gone at once (a read is always pending on its socket), holds at most
// server_config::stream_budget of unread messages and the socket's send buffer (past that it is
// dropped: it reconnects and starts from the current state), and ends cleanly at shutdown.
#include "cli.hpp"
#include "http.hpp"
#include "hub.hpp"

#include <flowstore/json.hpp>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>

#include <array>
#include <functional>
#include <random>

namespace flowstore::server {

namespace websocket = beast::websocket;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr std::string_view status_stream_path = "/flowbuilder/status/stream";
constexpr std::string_view server_source = "flowstore-server";

// The message types of the UI's runtime stream that this server produces.
constexpr std::array<std::string_view, 2> produced_types{"flow_status", "log_entry"};

std::int64_t unix_ms(const timestamp& t) {
  return t.unix_seconds() * 1000 + static_cast<std::int64_t>(t.nanoseconds() / 1'000'000);
}

// What happened to a flow, in words, for the log.
std::optional<std::string> event_text(const flow_change& c) {
  if (c.kind != flow_event::kind::put) return std::string("Flow deleted");
  if (c.value == nullptr) return std::string("Flow changed, but its stored document is not a flow");
  const runtime_state now = c.value->state;
  if (c.previous == runtime_state::unset || c.previous == now) {
    return "Flow saved (version " + std::to_string(c.value->version) + ")";
  }
  switch (now) {
    case runtime_state::deployed_stopped:
      return std::string(c.previous == runtime_state::running ? "Flow stopped" : "Flow deployed");
    case runtime_state::running:
      return std::string("Flow started");
    case runtime_state::not_deployed:
      return std::string("Flow undeployed");
    default:
      return "Flow state changed to " + std::string(to_string(now));
  }
}

bool state_changed(const flow_change& c) {
  return c.kind == flow_event::kind::put && c.value != nullptr && c.previous != runtime_state::unset &&
         c.previous != c.value->state;
}

// A stream client of one flow: the hub hands it changes, it queues messages for its writer.
class stream_client : public subscriber {
 public:
  enum class format { websocket, server_sent_events };

  // `from` is the flow as the client starts from it: changes up to its revision are old news.
  stream_client(app& a, format f, const flow& from)
      : box(a.executor, a.config.stream_budget),
        budget_(a.config.stream_budget),
        format_(f),
        flow_id_(from.id),
        start_revision_(from.revision) {}

  outbox box;
  std::function<void()> abort;  // the session's: ends its socket's operations at once
  std::optional<std::string> level_filter;
  std::optional<std::string> component_filter;
  std::vector<std::string> message_types{produced_types.begin(), produced_types.end()};

  void on_change(const flow_change& c) override {
    if (c.revision <= start_revision_) return;  // the hub's watch may lag behind the client's read
    if (state_changed(c)) {
      send_status(c.value->state, c.previous, c.time);
    }
    if (auto text = event_text(c)) {
      send_log(c.kind == flow_event::kind::put && c.value != nullptr ? "INFO" : "WARN", *text, c.time, c.revision);
    }
  }
  void on_shutdown() override { box.close(); }

  void send_status(runtime_state state, runtime_state previous, const timestamp& time) {
    if (!wants("flow_status")) return;
    send(envelope("flow_status", "{\"state\":" + json_string(to_string(state)) +
                                     ",\"prev_state\":" + json_string(to_string(previous)) +
                                     ",\"timestamp\":" + std::to_string(unix_ms(time)) + "}"));
  }

  void send_log(std::string_view level, const std::string& message, const timestamp& time, std::uint64_t revision) {
    if (format_ == format::websocket) {
      if (!wants("log_entry")) return;
      send(envelope("log_entry", "{\"level\":\"" + std::string(level) + "\",\"source\":\"" +
                                     std::string(server_source) + "\",\"message\":" + json_string(message) +
                                     ",\"fields\":{\"revision\":" + std::to_string(revision) + "}}"));
      return;
    }
    if (level_filter && *level_filter != level) return;
    if (component_filter && *component_filter != server_source) return;
    send(sse_event("log", "{\"timestamp\":\"" + time.to_string() + "\",\"level\":\"" + std::string(level) +
                              "\",\"component\":\"" + std::string(server_source) +
                              "\",\"flow_id\":" + json_string(flow_id_) + ",\"message\":" + json_string(message) +
                              "}"));
  }

  std::string sse_event(std::string_view event, const std::string& data) {
    return "event: " + std::string(event) + "\nid: " + std::to_string(next_id_++) + "\ndata: " + data + "\n\n";
  }

  // A message of `type` with `fields` (`"name":value,…`) after the envelope's own: the UI drops
  // one without an id and a timestamp, so answers to commands carry them too.
  std::string reply(std::string_view type, const std::string& fields) {
    char id[17];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(random_()));
    return "{\"type\":\"" + std::string(type) + "\",\"id\":\"" + id +
           "\",\"timestamp\":" + std::to_string(unix_ms(timestamp::now())) + ",\"flow_id\":" + json_string(flow_id_) +
           "," + fields + "}";
  }

  // Queues a message; a client past its budget is dropped at once.
  void send(std::string message) {
    if (box.push(std::move(message)) || dropped_ || !box.overflowed()) return;
    dropped_ = true;
    log_line("stream of flow " + cli::quote(flow_id_) + " dropped: its client left more than " +
             std::to_string(budget_) + " bytes unread");
    if (abort) abort();
  }

 private:
  bool wants(std::string_view type) const {
    return std::find(message_types.begin(), message_types.end(), type) != message_types.end();
  }

  std::string envelope(std::string_view type, const std::string& payload) {
    return reply(type, "\"payload\":" + payload);
  }

  std::size_t budget_;
  bool dropped_ = false;
  format format_;
  std::string flow_id_;
  std::uint64_t start_revision_;
  std::uint64_t next_id_ = 1;
  std::mt19937_64 random_{std::random_device{}()};
};

// What the kernel may buffer for a stream client beyond its budget (Linux doubles it).
constexpr int stream_send_buffer = 64 * 1024;

void bound_send_buffer(beast::tcp_stream& stream) {
  boost::system::error_code ignored;
  stream.socket().set_option(asio::socket_base::send_buffer_size(stream_send_buffer), ignored);
}

// The flow a stream is for, or the response that refuses it.
asio::awaitable<std::variant<flow, response>> stream_flow(app& a, const std::optional<std::string>& id) {
  if (!id || id->empty()) co_return error_response(http::status::bad_request, "Missing flowId parameter");
  if (!valid_flow_id(*id)) co_return error_response(http::status::bad_request, "Invalid flowId");
  if (a.shutting_down) co_return error_response(http::status::service_unavailable, "The server is stopping");
  auto f = co_await a.flows->get(*id);
  if (!f && f.error() == errc::not_found) co_return error_response(http::status::not_found, "Flow not found");
  if (!f) co_return error_response(f.error());
  co_return std::move(*f);
}

// ---------------------------------------------------------------------------------------------
// The status WebSocket

using ws_stream = websocket::stream<beast::tcp_stream&>;

// The UI's one command: `{"command":"subscribe","message_types":[…]}`. The answers have
// semstreams' fields (`subscribed`; `code` and `message`) beside the envelope's.
std::string answer_command(stream_client& client, std::string_view text) {
  boost::system::error_code ec;
  const boost::json::value command = boost::json::parse(text, ec);
  if (ec || !command.is_object()) {
    return client.reply("error", R"("code":"invalid_json","message":"A command is a JSON object")");
  }
  const auto* name = command.as_object().if_contains("command");
  if (name == nullptr || !name->is_string()) {
    return client.reply("error", R"("code":"missing_command","message":"The object has no \"command\"")");
  }
  if (name->as_string() != "subscribe") {
    return client.reply("error", R"("code":"unknown_command","message":)" +
                                     json_string("Unknown command " + std::string(name->as_string())));
  }
  if (const auto* types = command.as_object().if_contains("message_types");
      types != nullptr && types->is_array() && !types->as_array().empty()) {
    client.message_types.clear();
    for (const auto& type : types->as_array()) {
      if (type.is_string()) client.message_types.emplace_back(type.as_string());
    }
  }
  std::string subscribed;
  for (const auto& type : client.message_types) {
    if (!subscribed.empty()) subscribed += ',';
    subscribed += json_string(type);
  }
  return client.reply("subscribe_ack", "\"subscribed\":[" + subscribed + "]");
}

asio::awaitable<void> read_commands(ws_stream& ws, stream_client& client) {
  beast::flat_buffer buffer;
  while (true) {
    boost::system::error_code ec;
    co_await ws.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;  // the client left, or the session ended the read
    client.send(answer_command(client, beast::buffers_to_string(buffer.data())));
    buffer.consume(buffer.size());
  }
}

asio::awaitable<void> write_messages(app& a, ws_stream& ws, stream_client& client) {
  while (true) {
    auto message = co_await client.box.pop(a.config.heartbeat);
    if (!message) {
      if (!client.box.done()) continue;  // quiet: the WebSocket's own pings keep it checked
      boost::system::error_code ec;
      const websocket::close_reason reason = client.box.overflowed()
                                                 ? websocket::close_reason(websocket::close_code::try_again_later,
                                                                           "too slow: reconnect")
                                                 : websocket::close_reason(websocket::close_code::going_away,
                                                                           "server stopping");
      co_await ws.async_close(reason, asio::redirect_error(asio::use_awaitable, ec));
      co_return;
    }
    ws.text(true);
    boost::system::error_code ec;
    co_await ws.async_write(asio::buffer(*message), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

asio::awaitable<std::optional<response>> serve_status_stream(app& a, beast::tcp_stream& stream, const request& req) {
  if (!websocket::is_upgrade(req)) {
    response res = error_response(http::status::upgrade_required, "This route is a WebSocket: send an upgrade");
    res.set(http::field::upgrade, "websocket");
    co_return res;
  }
  auto target = co_await stream_flow(a, query_value(split_target(req.target()).query, "flowId"));
  if (auto* refused = std::get_if<response>(&target)) co_return std::move(*refused);
  const flow& f = std::get<flow>(target);

  bound_send_buffer(stream);
  stream.expires_never();  // the WebSocket keeps its own times from here on
  ws_stream ws(stream);
  ws.set_option(websocket::stream_base::timeout{a.config.header_timeout, a.config.heartbeat * 2, true});
  ws.read_message_max(64 * 1024);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "flowstore-server"); }));
  boost::system::error_code ec;
  co_await ws.async_accept(req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return std::nullopt;

  auto client = std::make_shared<stream_client>(a, stream_client::format::websocket, f);
  client->abort = [&stream] { stream.cancel(); };
  a.hub->subscribe(f.id, client);
  a.hub->remember(f);
  // Where the flow stands now, before any change.
  client->send_status(f.state, f.state, f.updated_at);
  co_await (read_commands(ws, *client) || write_messages(a, ws, *client));
  client->abort = nullptr;
  co_return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// The runtime log, as Server-Sent Events

// Anything from the client ends the stream: at EOF it has gone, and it has nothing to say.
asio::awaitable<void> wait_for_departure(beast::tcp_stream& stream) {
  std::array<char, 256> discard{};
  boost::system::error_code ec;
  stream.expires_never();
  co_await stream.async_read_some(asio::buffer(discard), asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> write_events(app& a, beast::tcp_stream& stream, stream_client& client) {
  while (true) {
    auto message = co_await client.box.pop(a.config.heartbeat);
    if (!message && client.box.done()) co_return;
    const std::string text = message ? std::move(*message) : std::string(": heartbeat\n\n");
    stream.expires_after(a.config.write_timeout);
    boost::system::error_code ec;
    co_await asio::async_write(stream, asio::buffer(text), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

asio::awaitable<std::optional<response>> serve_log_stream(app& a, beast::tcp_stream& stream, const request& req,
                                                          std::string id) {
  const std::string_view query = split_target(req.target()).query;
  std::optional<std::string> level = query_value(query, "level");
  if (level) {
    for (char& c : *level) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (*level != "DEBUG" && *level != "INFO" && *level != "WARN" && *level != "ERROR") {
      co_return error_response(http::status::bad_request, "invalid level filter. Valid values: DEBUG, INFO, WARN, ERROR");
    }
  }
  auto target = co_await stream_flow(a, id);
  if (auto* refused = std::get_if<response>(&target)) co_return std::move(*refused);
  const flow& f = std::get<flow>(target);

  bound_send_buffer(stream);
  auto client = std::make_shared<stream_client>(a, stream_client::format::server_sent_events, f);
  client->level_filter = level;
  client->component_filter = query_value(query, "component");
  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n"
      "X-Accel-Buffering: no\r\nServer: flowstore-server\r\n\r\n";
  head += client->sse_event("connected", "{\"component_filter\":" + json_string(client->component_filter.value_or("")) +
                                             ",\"flow_id\":" + json_string(f.id) +
                                             ",\"level_filter\":" + json_string(level.value_or("")) + "}");
  head += "retry: 5000\n\n";
  stream.expires_after(a.config.write_timeout);
  boost::system::error_code ec;
  co_await asio::async_write(stream, asio::buffer(head), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return std::nullopt;

  client->abort = [&stream] { stream.cancel(); };
  a.hub->subscribe(f.id, client);
  a.hub->remember(f);
  co_await (wait_for_departure(stream) || write_events(a, stream, *client));
  client->abort = nullptr;
  co_return std::nullopt;
}

// `/flowbuilder/flows/{id}/runtime/logs`: the id (percent-decoded), or nullopt.
std::optional<std::string> log_stream_flow(std::string_view path) {
  constexpr std::string_view prefix = "/flowbuilder/flows/";
  constexpr std::string_view suffix = "/runtime/logs";
  if (!path.starts_with(prefix) || !path.ends_with(suffix) || path.size() <= prefix.size() + suffix.size()) {
    return std::nullopt;
  }
  const std::string_view id = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
  if (id.find('/') != std::string_view::npos) return std::nullopt;
  return percent_decode(id);
}

}  // namespace

bool is_stream_request(const request& req) {
  if (req.method() != http::verb::get) return false;
  const std::string_view path = split_target(req.target()).path;
  return path == status_stream_path || log_stream_flow(path).has_value();
}

asio::awaitable<std::optional<response>> serve_stream(app& a, beast::tcp_stream& stream, request req) {
  const std::string_view path = split_target(req.target()).path;
  if (path == status_stream_path) co_return co_await serve_status_stream(a, stream, req);
  co_return co_await serve_log_stream(a, stream, req, *log_stream_flow(path));
}

}  // namespace flowstore::server
