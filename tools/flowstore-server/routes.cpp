// The routes of flowstore-server that answer with one response: the Go flow service's
// (/flowbuilder/…), /health and /components/types, with Go's request and response shapes.
// Where Go's status code is plainly wrong, the right one in the same `{"error":…}` shape
// (docs/server.md lists each).
#include "cli.hpp"
#include "http.hpp"
#include "hub.hpp"

#include <flowstore/json.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid_io.hpp>

#include <charconv>
#include <chrono>
#include <vector>

namespace flowstore::server {

namespace {

// A path's segments after the first '/', each percent-decoded: a flow id is one segment, so
// `a%2Fb` names the flow "a/b" and no id can be taken for a route. nullopt for a bad escape.
std::optional<std::vector<std::string>> path_segments(std::string_view path) {
  std::vector<std::string> out;
  if (path.starts_with('/')) path.remove_prefix(1);
  while (true) {
    const auto slash = path.find('/');
    auto segment = percent_decode(path.substr(0, slash));
    if (!segment) return std::nullopt;
    out.push_back(std::move(*segment));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

response method_not_allowed(std::string_view allow) {
  response res = error_response(http::status::method_not_allowed, "Method not allowed");
  res.set(http::field::allow, allow);
  return res;
}

response not_found_response() { return error_response(http::status::not_found, "Not found"); }

response flow_response(http::status status, const flow& f) {
  auto json = to_json(f);
  if (!json) return error_response(json.error());
  return json_response(status, std::move(*json));
}

bool blank(std::string_view text) { return text.find_first_not_of(" \t\r\n") == std::string_view::npos; }

// A flow sent by a client. Its document may leave out anything (a create may hold only a name).
result<flow> flow_from_body(const request& req, std::string_view what) {
  if (blank(req.body())) return error{errc::invalid_argument, std::string(what) + ": the body is empty"};
  auto f = flow_from_json(req.body());
  if (!f) return error{errc::invalid_argument, std::string(what) + ": " + f.error().message};
  return f;
}

std::string now_text() { return timestamp::now().to_string(); }

// ---------------------------------------------------------------------------------------------
// /health and /components/types

response health(app& a) {
  const bool connected = a.conn && a.conn->is_connected();
  const std::string now = now_text();
  auto status_json = [&](std::string_view component, bool healthy, std::string_view message) {
    return "{\"component\":" + json_string(component) + ",\"healthy\":" + (healthy ? "true" : "false") +
           ",\"status\":\"" + (healthy ? "healthy" : "unhealthy") + "\",\"message\":" + json_string(message) +
           ",\"timestamp\":\"" + now + "\"}";
  };
  const std::string nats = status_json("nats", connected, connected ? "Connected" : "Disconnected (reconnecting)");
  const std::string builder = status_json("flow-builder", true, "Service operating normally");
  std::string body = status_json("system", connected,
                                 connected ? "All sub-components are healthy" : "One or more sub-components are unhealthy");
  body.pop_back();
  body += ",\"sub_statuses\":[" + builder + "," + nats + "]}";
  return json_response(connected ? http::status::ok : http::status::service_unavailable, std::move(body));
}

response component_types(app& a, const std::vector<std::string>& path) {
  const component_catalog& catalog = a.engine->catalog();
  if (path.size() == 2) return json_response(http::status::ok, to_json(catalog));
  const component_spec* spec = catalog.find(path[2]);
  if (spec == nullptr) return error_response(http::status::not_found, "Component type " + path[2] + " not found");
  return json_response(http::status::ok, to_json(*spec));
}

// ---------------------------------------------------------------------------------------------
// Flows

// The stored documents are sent as they are (no decoding, no encoding): what the library and
// the Go package store is the flow's JSON already. One that is not a JSON object is left out
// (and logged), as a document that does not decode would be.
asio::awaitable<response> list_flows(app& a) {
  auto listed = co_await a.flows->list_raw();
  if (!listed) co_return error_response(listed.error());
  std::string body = "{\"flows\":[";
  bool first = true;
  for (const raw_flow& f : *listed) {
    if (!is_json_object(f.document)) {
      log_line("list: skipped flow " + cli::quote(f.id) + " (revision " + std::to_string(f.revision) +
               "): the stored document is not a JSON object");
      continue;
    }
    if (!first) body += ',';
    first = false;
    body += f.document;
  }
  body += "]}";
  co_return json_response(http::status::ok, std::move(body));
}

asio::awaitable<response> create_flow(app& a, const request& req) {
  auto body = flow_from_body(req, "Invalid request body");
  if (!body) co_return error_response(http::status::bad_request, body.error().message);
  flow f = std::move(*body);
  if (f.id.empty()) f.id = boost::uuids::to_string(boost::uuids::random_generator()());
  // The UI puts ids into its URLs unescaped: an id with a slash would name another route there.
  if (f.id.find('/') != std::string::npos) {
    co_return error_response(http::status::bad_request,
                             "Invalid flow id " + json_string(f.id) + ": a flow made over HTTP cannot have '/' in its id");
  }
  // The lifecycle is the engine's and the version the store's, whatever the client sent.
  f.state = runtime_state::not_deployed;
  f.unrecognized_state.clear();
  f.deployed_at.reset();
  f.started_at.reset();
  f.stopped_at.reset();
  f.version = 0;
  f.revision = 0;
  auto created = co_await a.flows->create(std::move(f));
  if (!created) co_return error_response(created.error());
  co_return flow_response(http::status::created, *created);
}

asio::awaitable<response> get_flow(app& a, std::string id) {
  auto got = co_await a.flows->get_raw(std::move(id));
  if (!got) co_return error_response(got.error());
  if (!is_json_object(got->document)) {
    const std::string what = "get flow " + cli::quote(got->id) + " (revision " + std::to_string(got->revision) + ")";
    co_return error_response(error{errc::corrupt_data, what + ": the stored document is not a JSON object"});
  }
  co_return json_response(http::status::ok, std::move(got->document));
}

asio::awaitable<response> update_flow(app& a, std::string id, const request& req) {
  auto body = flow_from_body(req, "Invalid request body");
  if (!body) co_return error_response(http::status::bad_request, body.error().message);
  flow f = std::move(*body);
  if (!f.id.empty() && f.id != id) co_return error_response(http::status::bad_request, "ID mismatch");
  f.id = std::move(id);
  f.revision = 0;
  auto saved = co_await a.engine->edit(std::move(f));
  if (!saved && saved.error() == errc::invalid_state) {
    co_return error_response(http::status::conflict, "Cannot modify running flow. Stop the flow first.");
  }
  if (!saved) co_return error_response(saved.error());
  co_return flow_response(http::status::ok, *saved);
}

asio::awaitable<response> delete_flow(app& a, std::string id) {
  auto removed = co_await a.engine->remove(std::move(id));
  if (!removed) co_return error_response(removed.error());
  response res{http::status::no_content, 11};
  co_return res;
}

asio::awaitable<response> validate_flow(app& a, std::string id, const request& req) {
  flow f;
  if (blank(req.body())) {
    auto stored = co_await a.flows->get(id);
    if (!stored && stored.error() == errc::not_found) co_return error_response(http::status::not_found, "Flow not found");
    if (!stored) co_return error_response(stored.error());
    f = std::move(*stored);
  } else {
    // A draft from the editor, not saved yet.
    auto draft = flow_from_body(req, "Invalid JSON in request body");
    if (!draft) co_return error_response(http::status::bad_request, draft.error().message);
    if (!draft->id.empty() && draft->id != id) {
      co_return error_response(http::status::bad_request,
                               "Flow ID mismatch: URL has '" + id + "' but body has '" + draft->id + "'");
    }
    f = std::move(*draft);
    f.id = std::move(id);
  }
  co_return json_response(http::status::ok, to_json(validate_deployment(f, a.engine->catalog())));
}

asio::awaitable<response> deployment(app& a, std::string id, std::string_view operation) {
  result<flow> done = error{errc::invalid_argument, ""};
  if (operation == "deploy") {
    done = co_await a.engine->deploy(id);
  } else if (operation == "start") {
    done = co_await a.engine->start(id);
  } else if (operation == "stop") {
    done = co_await a.engine->stop(id);
  } else if (operation == "undeploy") {
    done = co_await a.engine->undeploy(id);
  } else {
    co_return error_response(http::status::bad_request, "Unknown operation");
  }
  if (done) co_return flow_response(http::status::ok, *done);
  if (done.error() == errc::validation_failed) {
    // The UI shows the check's result: the same check, on the flow as stored now.
    auto stored = co_await a.flows->get(id);
    if (stored) {
      co_return json_response(http::status::bad_request,
                              "{\"error\":\"Flow validation failed\",\"validation_result\":" +
                                  to_json(validate_deployment(*stored, a.engine->catalog())) + "}");
    }
  }
  co_return error_response(done.error());
}

// ---------------------------------------------------------------------------------------------
// Runtime: what the store and semstreams_config can tell. flowstore-server does not observe the
// semstreams runtime itself, so health reports what the configuration asks of it.

std::string null_or_time(const std::optional<timestamp>& t) {
  return t ? "\"" + t->to_string() + "\"" : std::string("null");
}

asio::awaitable<response> runtime_health(app& a, std::string id) {
  auto f = co_await a.flows->get(id);
  if (!f && f.error() == errc::not_found) co_return error_response(http::status::not_found, "Flow not found");
  if (!f) co_return error_response(f.error());
  auto components = co_await a.engine->components(id);
  if (!components) co_return error_response(components.error());
  const bool running = f->state == runtime_state::running;
  std::size_t running_count = 0;
  std::size_t error_count = 0;
  std::string entries;
  for (const flow_node& node : f->nodes) {
    const std::string key = component_key(node.name);
    const deployed_component* deployed = nullptr;
    for (const auto& c : *components) {
      if (c.key == key) deployed = &c;
    }
    std::string status = "stopped";
    std::string message = "Not deployed";
    bool healthy = false;
    if (deployed != nullptr && deployed->enabled && running) {
      status = "running";
      healthy = true;
      message = "Enabled in " + a.engine->config_bucket() + " (the runtime's own health is not observed)";
      ++running_count;
    } else {
      if (deployed != nullptr) message = deployed->enabled ? "Enabled, flow not running" : "Deployed, not enabled";
      ++error_count;
    }
    std::string uptime = "null";
    if (healthy && f->started_at) {
      const timestamp now = timestamp::now();
      uptime = std::to_string(static_cast<double>(now.unix_seconds() - f->started_at->unix_seconds()) +
                              (static_cast<double>(now.nanoseconds()) - f->started_at->nanoseconds()) / 1e9);
    }
    if (!entries.empty()) entries += ',';
    entries += "{\"name\":" + json_string(node.name) + ",\"type\":" + json_string(node.component) +
               ",\"status\":\"" + status + "\",\"healthy\":" + (healthy ? "true" : "false") +
               ",\"message\":" + json_string(message) + ",\"start_time\":" +
               (healthy ? null_or_time(f->started_at) : std::string("null")) +
               ",\"last_activity\":null,\"uptime_seconds\":" + uptime + ",\"details\":null}";
  }
  const char* overall = error_count > 0 ? "error" : "healthy";
  co_return json_response(http::status::ok,
                          "{\"timestamp\":\"" + now_text() + "\",\"overall\":{\"status\":\"" + overall +
                              "\",\"running_count\":" + std::to_string(running_count) +
                              ",\"degraded_count\":0,\"error_count\":" + std::to_string(error_count) +
                              "},\"components\":[" + entries + "]}");
}

asio::awaitable<response> runtime_metrics(app& a, std::string id) {
  auto f = co_await a.flows->get(id);
  if (!f && f.error() == errc::not_found) co_return error_response(http::status::not_found, "Flow not found");
  if (!f) co_return error_response(f.error());
  std::string entries;
  for (const flow_node& node : f->nodes) {
    if (!entries.empty()) entries += ',';
    entries += "{\"name\":" + json_string(node.name) + ",\"type\":" + json_string(node.component) +
               ",\"status\":\"unknown\",\"throughput\":null,\"error_rate\":null,\"queue_depth\":null,"
               "\"raw_counters\":null}";
  }
  co_return json_response(http::status::ok, "{\"timestamp\":\"" + now_text() +
                                                "\",\"prometheus_available\":false,\"components\":[" + entries + "]}");
}

asio::awaitable<response> runtime_messages(app& a, std::string id, std::string_view query) {
  auto f = co_await a.flows->get(id);
  if (!f && f.error() == errc::not_found) co_return error_response(http::status::not_found, "Flow not found");
  if (!f) co_return error_response(f.error());
  // Go's rules: 100 by default, at most 1000; a value that is not a positive number is the default.
  int limit = 100;
  if (auto text = query_value(query, "limit")) {
    int parsed = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), parsed);
    if (ec == std::errc() && end == text->data() + text->size() && parsed >= 1) limit = std::min(parsed, 1000);
  }
  co_return json_response(http::status::ok,
                          "{\"timestamp\":\"" + now_text() + "\",\"messages\":[],\"total\":0,\"limit\":" +
                              std::to_string(limit) +
                              ",\"note\":\"flowstore-server does not record runtime messages\"}");
}

// ---------------------------------------------------------------------------------------------

using handler = asio::awaitable<response>;

handler route_flowbuilder(app& a, const request& req, const std::vector<std::string>& path, std::string_view query) {
  const http::verb method = req.method();
  const bool get = method == http::verb::get || method == http::verb::head;
  // path[0] is "flowbuilder".
  if (path.size() == 2 && path[1] == "flows") {
    if (get) co_return co_await list_flows(a);
    if (method == http::verb::post) co_return co_await create_flow(a, req);
    co_return method_not_allowed("GET, HEAD, POST");
  }
  if (path.size() >= 3 && path[1] == "flows" && !path[2].empty()) {
    const std::string& id = path[2];
    if (path.size() == 3) {
      if (get) co_return co_await get_flow(a, id);
      if (method == http::verb::put) co_return co_await update_flow(a, id, req);
      if (method == http::verb::delete_) co_return co_await delete_flow(a, id);
      co_return method_not_allowed("GET, HEAD, PUT, DELETE");
    }
    if (path.size() == 4 && path[3] == "validate") {
      if (method == http::verb::post) co_return co_await validate_flow(a, id, req);
      co_return method_not_allowed("POST");
    }
    if (path.size() == 5 && path[3] == "runtime") {
      if (!get) co_return method_not_allowed("GET, HEAD");
      if (path[4] == "health") co_return co_await runtime_health(a, id);
      if (path[4] == "metrics") co_return co_await runtime_metrics(a, id);
      if (path[4] == "messages") co_return co_await runtime_messages(a, id, query);
    }
  }
  if (path.size() == 4 && path[1] == "deployment" && !path[2].empty()) {
    if (method == http::verb::post) co_return co_await deployment(a, path[2], path[3]);
    co_return method_not_allowed("POST");
  }
  co_return not_found_response();
}

}  // namespace

asio::awaitable<response> handle_request(app& a, const request& req) {
  const auto [raw_path, query] = split_target(req.target());
  auto path = path_segments(raw_path);
  if (!path) co_return error_response(http::status::bad_request, "Malformed percent-escape in the path");
  const http::verb method = req.method();
  const bool get = method == http::verb::get || method == http::verb::head;
  if (path->size() == 1 && (*path)[0] == "health") {
    if (get) co_return health(a);
    co_return method_not_allowed("GET, HEAD");
  }
  if ((path->size() == 2 || path->size() == 3) && (*path)[0] == "components" && (*path)[1] == "types") {
    if (get) co_return component_types(a, *path);
    co_return method_not_allowed("GET, HEAD");
  }
  if (!path->empty() && (*path)[0] == "flowbuilder") co_return co_await route_flowbuilder(a, req, *path, query);
  co_return not_found_response();
}

}  // namespace flowstore::server
