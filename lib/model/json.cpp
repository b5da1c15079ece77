#include <flowstore/json.hpp>

#include "model/flow_decoder.hpp"
#include "model/go_json_writer.hpp"
#include "model/strict_json.hpp"

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

}  // namespace

result<std::string> to_json(const flow& f) {
  std::string out;
  out.reserve(512 + f.nodes.size() * 256 + f.connections.size() * 128);
  flow_encoder encoder(out);
  if (auto r = encoder.encode(f); !r) return std::move(r).error();
  return out;
}

result<flow> flow_from_json(std::string_view json) { return detail::decode_flow(json); }

result<flow> flow_from_json(const boost::json::value& json) { return detail::decode_flow(json); }

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
