#include <flowstore/json.hpp>

#include "model/go_json_writer.hpp"
#include "model/strict_json.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>

#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

namespace flowstore {
namespace {

// ---------------------------------------------------------------------------------------------
// Encoding: the Go package's struct field order, written by hand for speed.

// Nesting levels above a node's config (flow object, nodes array, node object) and above an
// unknown field's value (its containing object).
constexpr std::size_t config_depth = 3;

class flow_encoder {
 public:
  explicit flow_encoder(std::string& out) : w_(out) {}

  result<void> encode(const flow& f) {
    w_.raw("{\"id\":");
    w_.string(f.id);
    w_.raw(",\"name\":");
    w_.string(f.name);
    if (!f.description.empty()) {
      w_.raw(",\"description\":");
      w_.string(f.description);
    }
    w_.raw(",\"version\":");
    w_.number(f.version);
    w_.raw(",\"nodes\":[");
    for (std::size_t i = 0; i < f.nodes.size(); ++i) {
      if (i != 0) w_.raw(',');
      if (auto r = node(f.nodes[i], i); !r) return r;
    }
    w_.raw("],\"connections\":[");
    for (std::size_t i = 0; i < f.connections.size(); ++i) {
      if (i != 0) w_.raw(',');
      if (auto r = connection(f.connections[i], i); !r) return r;
    }
    w_.raw("],\"runtime_state\":");
    w_.string(f.state == runtime_state::unrecognized ? std::string_view(f.unrecognized_state) : to_string(f.state));
    for (auto [name, value] : {std::pair{"deployed_at", &f.deployed_at}, std::pair{"started_at", &f.started_at},
                               std::pair{"stopped_at", &f.stopped_at}}) {
      if (value->has_value()) {
        if (auto r = time_field(name, **value); !r) return r;
      }
    }
    if (auto r = time_field("created_at", f.created_at); !r) return r;
    if (auto r = time_field("updated_at", f.updated_at); !r) return r;
    if (!f.created_by.empty()) {
      w_.raw(",\"created_by\":");
      w_.string(f.created_by);
    }
    if (auto r = time_field("last_modified", f.last_modified); !r) return r;
    if (auto r = unknown_fields(f.unknown_fields, "flow", 1); !r) return r;
    w_.raw('}');
    return success();
  }

 private:
  result<void> node(const flow_node& n, std::size_t index) {
    w_.raw("{\"id\":");
    w_.string(n.id);
    w_.raw(",\"component\":");
    w_.string(n.component);
    w_.raw(",\"type\":");
    w_.string(n.type == component_type::unrecognized ? std::string_view(n.unrecognized_type) : to_string(n.type));
    w_.raw(",\"name\":");
    w_.string(n.name);
    w_.raw(",\"position\":{\"x\":");
    const bool finite = w_.number(n.pos.x);
    w_.raw(",\"y\":");
    if (!finite || !w_.number(n.pos.y)) return failure(where_node(index) + ": position is not a finite number");
    w_.raw("},\"config\":");
    if (!w_.object(n.config, max_json_depth - config_depth)) {
      return failure(where_node(index) + ": config holds a non-finite number or nests too deep");
    }
    if (auto r = unknown_fields(n.unknown_fields, where_node(index), 3); !r) return r;
    w_.raw('}');
    return success();
  }

  result<void> connection(const flow_connection& c, std::size_t index) {
    w_.raw("{\"id\":");
    w_.string(c.id);
    w_.raw(",\"source_node_id\":");
    w_.string(c.source_node_id);
    w_.raw(",\"source_port\":");
    w_.string(c.source_port);
    w_.raw(",\"target_node_id\":");
    w_.string(c.target_node_id);
    w_.raw(",\"target_port\":");
    w_.string(c.target_port);
    if (auto r = unknown_fields(c.unknown_fields, "connection[" + std::to_string(index) + "]", 3); !r) return r;
    w_.raw('}');
    return success();
  }

  result<void> time_field(std::string_view name, const timestamp& t) {
    if (!t.json_representable()) return failure(std::string(name) + ": year outside 0000-9999");
    w_.raw(",\"");
    w_.raw(name);
    w_.raw("\":\"");
    w_.raw(t.to_string());
    w_.raw('"');
    return success();
  }

  result<void> unknown_fields(const boost::json::object& fields, const std::string& where, std::size_t depth) {
    for (const auto& member : fields) {
      w_.raw(',');
      w_.string(member.key());
      w_.raw(':');
      if (!w_.value(member.value(), max_json_depth - depth)) {
        return failure(where + ": field '" + std::string(member.key()) +
                       "' holds a non-finite number or nests too deep");
      }
    }
    return success();
  }

  static std::string where_node(std::size_t index) { return "node[" + std::to_string(index) + "]"; }
  static error failure(std::string what) { return {errc::encode_failed, "encode flow: " + std::move(what)}; }

  detail::go_json_writer w_;
};

// ---------------------------------------------------------------------------------------------
// Decoding: what Go's encoding/json accepts for the Go package's structs. `null` leaves a
// field's zero value; a name matches a field exactly or, failing that, case-insensitively.

bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Index of `key` in `names`, exact match first, then ignoring ASCII case; names.size() if none.
template <std::size_t N>
std::size_t field_index(const std::array<std::string_view, N>& names, std::string_view key) noexcept {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == key) return i;
  }
  for (std::size_t i = 0; i < N; ++i) {
    if (equal_ignoring_ascii_case(names[i], key)) return i;
  }
  return N;
}

std::string_view kind_name(const boost::json::value& v) noexcept {
  switch (v.kind()) {
    case boost::json::kind::null:
      return "null";
    case boost::json::kind::bool_:
      return "a boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_:
      return "a number";
    case boost::json::kind::string:
      return "a string";
    case boost::json::kind::array:
      return "an array";
    case boost::json::kind::object:
      return "an object";
  }
  return "a value";
}

class flow_decoder {
 public:
  // Moves strings and objects out of `root`.
  result<flow> decode(boost::json::value& root) {
    flow f;
    if (!root.is_object()) return failure("document", "expected an object, got " + std::string(kind_name(root)));
    if (!decode_flow(root.get_object(), f)) return std::move(error_);
    return f;
  }

 private:
  static constexpr std::array<std::string_view, 14> flow_fields{
      "id",          "name",       "description", "version",    "nodes",      "connections", "runtime_state",
      "deployed_at", "started_at", "stopped_at",  "created_at", "updated_at", "created_by",  "last_modified"};
  static constexpr std::array<std::string_view, 6> node_fields{"id", "component", "type", "name", "position", "config"};
  static constexpr std::array<std::string_view, 5> connection_fields{"id", "source_node_id", "source_port",
                                                                     "target_node_id", "target_port"};

  bool decode_flow(boost::json::object& o, flow& f) {
    for (auto& member : o) {
      const std::string_view key = member.key();
      boost::json::value& v = member.value();
      const std::size_t field = field_index(flow_fields, key);
      if (field == flow_fields.size()) {
        f.unknown_fields.insert_or_assign(key, std::move(v));
        continue;
      }
      if (v.is_null()) continue;
      bool ok = true;
      std::string state;
      switch (field) {
        case 0:
          ok = string_field(v, key, f.id);
          break;
        case 1:
          ok = string_field(v, key, f.name);
          break;
        case 2:
          ok = string_field(v, key, f.description);
          break;
        case 3:
          ok = int_field(v, key, f.version);
          break;
        case 4:
          ok = nodes(v, f.nodes);
          break;
        case 5:
          ok = connections(v, f.connections);
          break;
        case 6:
          ok = string_field(v, key, state);
          f.state = runtime_state_from_string(state);
          f.unrecognized_state = f.state == runtime_state::unrecognized ? std::move(state) : std::string();
          break;
        case 7:
          ok = optional_time_field(v, key, f.deployed_at);
          break;
        case 8:
          ok = optional_time_field(v, key, f.started_at);
          break;
        case 9:
          ok = optional_time_field(v, key, f.stopped_at);
          break;
        case 10:
          ok = time_field(v, key, f.created_at);
          break;
        case 11:
          ok = time_field(v, key, f.updated_at);
          break;
        case 12:
          ok = string_field(v, key, f.created_by);
          break;
        case 13:
          ok = time_field(v, key, f.last_modified);
          break;
      }
      if (!ok) return false;
    }
    return true;
  }

  bool nodes(boost::json::value& v, std::vector<flow_node>& out) {
    if (!v.is_array()) return type_error("nodes", "an array", v);
    auto& array = v.get_array();
    out.clear();
    out.resize(array.size());
    for (std::size_t i = 0; i < array.size(); ++i) {
      if (array[i].is_null()) continue;
      const std::string where = "nodes[" + std::to_string(i) + "]";
      if (!array[i].is_object()) return type_error(where, "an object", array[i]);
      if (!node(array[i].get_object(), out[i], where)) return false;
    }
    return true;
  }

  bool node(boost::json::object& o, flow_node& n, const std::string& where) {
    for (auto& member : o) {
      const std::string_view key = member.key();
      boost::json::value& v = member.value();
      const std::size_t field = field_index(node_fields, key);
      if (field == node_fields.size()) {
        n.unknown_fields.insert_or_assign(key, std::move(v));
        continue;
      }
      if (v.is_null()) continue;
      const std::string path = where + "." + std::string(key);
      bool ok = true;
      std::string type;
      switch (field) {
        case 0:
          ok = string_field(v, path, n.id);
          break;
        case 1:
          ok = string_field(v, path, n.component);
          break;
        case 2:
          ok = string_field(v, path, type);
          n.type = component_type_from_string(type);
          n.unrecognized_type = n.type == component_type::unrecognized ? std::move(type) : std::string();
          break;
        case 3:
          ok = string_field(v, path, n.name);
          break;
        case 4:
          ok = position_field(v, path, n.pos);
          break;
        case 5:
          if (!v.is_object()) return type_error(path, "an object", v);
          n.config = std::move(v.get_object());
          break;
      }
      if (!ok) return false;
    }
    return true;
  }

  bool connections(boost::json::value& v, std::vector<flow_connection>& out) {
    if (!v.is_array()) return type_error("connections", "an array", v);
    auto& array = v.get_array();
    out.clear();
    out.resize(array.size());
    for (std::size_t i = 0; i < array.size(); ++i) {
      if (array[i].is_null()) continue;
      const std::string where = "connections[" + std::to_string(i) + "]";
      if (!array[i].is_object()) return type_error(where, "an object", array[i]);
      flow_connection& c = out[i];
      for (auto& member : array[i].get_object()) {
        const std::string_view key = member.key();
        boost::json::value& value = member.value();
        const std::size_t field = field_index(connection_fields, key);
        if (field == connection_fields.size()) {
          c.unknown_fields.insert_or_assign(key, std::move(value));
          continue;
        }
        if (value.is_null()) continue;
        std::string* target[] = {&c.id, &c.source_node_id, &c.source_port, &c.target_node_id, &c.target_port};
        if (!string_field(value, where + "." + std::string(key), *target[field])) return false;
      }
    }
    return true;
  }

  bool position_field(boost::json::value& v, const std::string& path, position& p) {
    if (!v.is_object()) return type_error(path, "an object", v);
    for (auto& member : v.get_object()) {
      const std::size_t field = field_index(std::array<std::string_view, 2>{"x", "y"}, member.key());
      if (field == 2 || member.value().is_null()) continue;  // Go drops unknown position fields
      const boost::json::value& n = member.value();
      double& target = field == 0 ? p.x : p.y;
      if (n.is_double()) {
        target = n.get_double();
      } else if (n.is_int64()) {
        target = static_cast<double>(n.get_int64());
      } else if (n.is_uint64()) {
        target = static_cast<double>(n.get_uint64());
      } else {
        return type_error(path + "." + std::string(member.key()), "a number", n);
      }
    }
    return true;
  }

  bool string_field(boost::json::value& v, std::string_view path, std::string& out) {
    if (!v.is_string()) return type_error(path, "a string", v);
    out.assign(v.get_string().data(), v.get_string().size());
    return true;
  }

  bool int_field(const boost::json::value& v, std::string_view path, std::int64_t& out) {
    // Go parses the literal as a base-10 int64: fractions, exponents and overflow are errors.
    if (v.is_int64()) {
      out = v.get_int64();
      return true;
    }
    // The parser keeps "-0" as the double -0 for the sake of floats; as an integer it is 0.
    if (v.is_double() && v.get_double() == 0 && std::signbit(v.get_double())) {
      out = 0;
      return true;
    }
    if (v.is_uint64() || v.is_double()) return failure_bool(path, "expected a 64-bit integer");
    return type_error(path, "an integer", v);
  }

  bool time_field(const boost::json::value& v, std::string_view path, timestamp& out) {
    if (!v.is_string()) return type_error(path, "an RFC 3339 time string", v);
    auto parsed = timestamp::parse(v.get_string());
    if (!parsed) return failure_bool(path, parsed.error().message);
    out = parsed.value();
    return true;
  }

  bool optional_time_field(const boost::json::value& v, std::string_view path, std::optional<timestamp>& out) {
    timestamp t;
    if (!time_field(v, path, t)) return false;
    out = t;
    return true;
  }

  bool type_error(std::string_view path, std::string_view expected, const boost::json::value& got) {
    return failure_bool(path, "expected " + std::string(expected) + ", got " + std::string(kind_name(got)));
  }

  bool failure_bool(std::string_view path, std::string what) {
    error_ = failure(path, std::move(what));
    return false;
  }

  static error failure(std::string_view path, std::string what) {
    return {errc::corrupt_data, "not a flow document: " + std::string(path) + ": " + std::move(what)};
  }

  error error_;
};

}  // namespace

result<std::string> to_json(const flow& f) {
  std::string out;
  out.reserve(512 + f.nodes.size() * 256 + f.connections.size() * 128);
  flow_encoder encoder(out);
  if (auto r = encoder.encode(f); !r) return std::move(r).error();
  return out;
}

result<flow> flow_from_json(std::string_view json) {
  // The parse tree lives only while it is converted, so it is built in one arena instead of
  // node by node on the heap. What the flow keeps of it (configs, unknown fields) is copied
  // out: Boost.JSON copies a value that moves into a container of another storage.
  unsigned char first_block[4096];
  boost::json::monotonic_resource arena(first_block, sizeof first_block);
  std::string problem;
  auto root = detail::parse_strict_json(json, max_json_depth, problem, &arena);
  if (!root) return error{errc::corrupt_data, "not a flow document: " + problem};
  return flow_decoder().decode(*root);
}

result<flow> flow_from_json(const boost::json::value& json) {
  boost::json::value copy = json;
  return flow_decoder().decode(copy);
}

result<std::string> to_go_json(const boost::json::value& v) {
  std::string out;
  detail::go_json_writer writer(out);
  if (!writer.value(v, max_json_depth)) {
    return error{errc::encode_failed, "encode JSON: value holds a non-finite number or nests too deep"};
  }
  return out;
}

void tag_invoke(boost::json::value_from_tag, boost::json::value& out, const flow& f) {
  // One encoder for both paths: the Go-compatible text, parsed back into a value by the
  // decoder's parser (Boost's default stops at depth 32 and turns "-0" into the integer 0).
  const std::string text = to_json(f).value();
  std::string problem;
  auto parsed = detail::parse_strict_json(text, max_json_depth, problem);
  if (!parsed) throw exception(error{errc::encode_failed, "encode flow: " + problem});
  out = std::move(*parsed);
}

flow tag_invoke(boost::json::value_to_tag<flow>, const boost::json::value& v) {
  return flow_from_json(v).value();
}

boost::system::result<flow> tag_invoke(boost::json::try_value_to_tag<flow>, const boost::json::value& v) {
  auto decoded = flow_from_json(v);
  if (!decoded) return boost::system::error_code(decoded.error().code);
  return std::move(decoded).value();
}

}  // namespace flowstore
