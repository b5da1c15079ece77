#include <flowstore/catalog.hpp>

#include "model/message.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <map>
#include <set>

namespace flowstore {

namespace json = boost::json;
using detail::quoted;

std::string_view to_string(port_direction d) noexcept { return d == port_direction::input ? "input" : "output"; }

std::string_view to_string(port_pattern p) noexcept {
  switch (p) {
    case port_pattern::stream:
      return "stream";
    case port_pattern::request:
      return "request";
    case port_pattern::watch:
      return "watch";
    case port_pattern::network:
      return "network";
  }
  return "network";
}

port_pattern pattern_of_port_kind(std::string_view kind) noexcept {
  if (kind.empty() || kind == "nats" || kind == "jetstream") return port_pattern::stream;
  if (kind == "nats-request") return port_pattern::request;
  if (kind == "kvwatch" || kind == "kv-watch" || kind == "kvwrite" || kind == "kv-write") return port_pattern::watch;
  return port_pattern::network;
}

struct component_catalog::data {
  std::vector<component_spec> specs;  // sorted by id
};

component_catalog::component_catalog() : data_(std::make_shared<const data>()) {}

component_catalog::component_catalog(std::shared_ptr<const data> d) noexcept : data_(std::move(d)) {}

const component_spec* component_catalog::find(std::string_view id) const noexcept {
  const auto& specs = data_->specs;
  auto it = std::lower_bound(specs.begin(), specs.end(), id,
                             [](const component_spec& c, std::string_view key) { return c.id < key; });
  return it != specs.end() && it->id == id ? &*it : nullptr;
}

const std::vector<component_spec>& component_catalog::components() const noexcept { return data_->specs; }

namespace {

error catalog_error(std::string what) { return {errc::invalid_argument, "read component catalog: " + std::move(what)}; }

// A string member, empty when absent; false when present and not a string.
bool string_member(const json::object& o, std::string_view key, std::string& out) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (!v->is_string()) return false;
  out = std::string(v->get_string());
  return true;
}

result<port_spec> read_port(const json::value& v, const std::string& where) {
  if (!v.is_object()) return catalog_error(where + ": a port is not an object");
  const json::object& o = v.get_object();
  port_spec p;
  std::string direction;
  std::string kind;
  for (auto [key, target] : {std::pair{"name", &p.name}, std::pair{"direction", &direction},
                             std::pair{"type", &kind}, std::pair{"subject", &p.subject},
                             std::pair{"interface", &p.interface_type}, std::pair{"description", &p.description}}) {
    if (!string_member(o, key, *target)) return catalog_error(where + ": port field '" + key + "' is not a string");
  }
  if (p.name.empty()) return catalog_error(where + ": a port has no name");
  if (direction == "input") {
    p.direction = port_direction::input;
  } else if (direction == "output") {
    p.direction = port_direction::output;
  } else {
    return catalog_error(where + ": port " + quoted(p.name) + ": direction " + quoted(direction) +
                         " is not input or output");
  }
  if (!kind.empty()) p.kind = std::move(kind);
  if (const json::value* r = o.if_contains("required"); r && !r->is_null()) {
    if (!r->is_bool()) return catalog_error(where + ": port " + quoted(p.name) + ": required is not a boolean");
    p.required = r->get_bool();
  }
  return p;
}

result<component_spec> read_component(const json::value& v, std::size_t index) {
  std::string where = "entry " + std::to_string(index);
  if (!v.is_object()) return catalog_error(where + " is not an object");
  const json::object& o = v.get_object();
  component_spec c;
  std::string type;
  for (auto [key, target] : {std::pair{"id", &c.id}, std::pair{"name", &c.name}, std::pair{"type", &type},
                             std::pair{"protocol", &c.protocol}, std::pair{"domain", &c.domain},
                             std::pair{"description", &c.description}, std::pair{"version", &c.version}}) {
    if (!string_member(o, key, *target)) return catalog_error(where + ": field '" + key + "' is not a string");
  }
  if (c.id.empty()) return catalog_error(where + ": id is required");
  where += " " + quoted(c.id);
  if (c.name.empty()) c.name = c.id;
  c.category = component_type_from_string(type);
  if (c.category == component_type::unset || c.category == component_type::unrecognized) {
    return catalog_error(where + ": type " + quoted(type) + " is not one of input, processor, output, storage, gateway");
  }
  if (const json::value* s = o.if_contains("schema"); s && !s->is_null()) {
    if (!s->is_object()) return catalog_error(where + ": schema is not an object");
    c.schema = s->get_object();
  }
  if (const json::value* ports = o.if_contains("ports"); ports && !ports->is_null()) {
    if (!ports->is_array()) return catalog_error(where + ": ports is not an array");
    std::set<std::pair<port_direction, std::string>> seen;
    for (const json::value& p : ports->get_array()) {
      auto port = read_port(p, where);
      if (!port) return std::move(port).error();
      if (!seen.emplace(port->direction, port->name).second) {
        return catalog_error(where + ": two " + std::string(to_string(port->direction)) + " ports named " +
                             quoted(port->name));
      }
      c.ports.push_back(std::move(port).value());
    }
  }
  return c;
}

}  // namespace

result<component_catalog> component_catalog::from_json(std::string_view text) {
  boost::system::error_code ec;
  json::value parsed = json::parse(text, ec);
  if (ec) return catalog_error("not JSON: " + ec.message());
  if (!parsed.is_array()) return catalog_error("not a JSON array of component types");
  auto d = std::make_shared<data>();
  const json::array& entries = parsed.get_array();
  d->specs.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto c = read_component(entries[i], i);
    if (!c) return std::move(c).error();
    d->specs.push_back(std::move(c).value());
  }
  std::sort(d->specs.begin(), d->specs.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  for (std::size_t i = 1; i < d->specs.size(); ++i) {
    if (d->specs[i].id == d->specs[i - 1].id) return catalog_error("two entries with id " + quoted(d->specs[i].id));
  }
  return component_catalog(std::shared_ptr<const data>(std::move(d)));
}

std::string to_json(const component_spec& c) {
  json::array ports;
  for (const port_spec& p : c.ports) {
    ports.push_back(json::object{{"name", p.name},
                                 {"direction", to_string(p.direction)},
                                 {"type", p.kind},
                                 {"subject", p.subject},
                                 {"interface", p.interface_type},
                                 {"required", p.required},
                                 {"description", p.description}});
  }
  // The Go service writes a map: its keys sorted.
  const json::object o{{"category", to_string(c.category)},
                       {"description", c.description},
                       {"domain", c.domain},
                       {"id", c.id},
                       {"name", c.name},
                       {"ports", std::move(ports)},
                       {"protocol", c.protocol},
                       {"schema", c.schema.empty() ? json::object{{"properties", json::object{}}, {"required", json::array{}}}
                                                   : c.schema},
                       {"type", to_string(c.category)},
                       {"version", c.version}};
  return json::serialize(o);
}

std::string to_json(const component_catalog& catalog) {
  std::string out = "[";
  for (const component_spec& c : catalog.components()) {
    if (out.size() > 1) out += ',';
    out += to_json(c);
  }
  out += ']';
  return out;
}

}  // namespace flowstore
