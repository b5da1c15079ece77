// validate_deployment(): what must hold before a flow's nodes become semstreams components.
#include <flowstore/engine.hpp>

#include "model/message.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <map>
#include <set>
#include <tuple>

namespace flowstore {

namespace json = boost::json;
using detail::quoted;

std::string_view to_string(validation_status s) noexcept {
  switch (s) {
    case validation_status::valid:
      return "valid";
    case validation_status::warnings:
      return "warnings";
    case validation_status::errors:
      return "errors";
  }
  return "errors";
}

std::string_view to_string(issue_severity s) noexcept { return s == issue_severity::error ? "error" : "warning"; }

namespace {

// The longest instance name: its key `components.<name>` stays well inside a KV key's limits.
constexpr std::size_t max_component_name_length = 240;

// semstreams splits its keys at dots and requires instance names of [A-Za-z0-9_.-]: so no dot.
bool usable_component_name(std::string_view name) {
  if (name.empty() || name.size() > max_component_name_length) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == ' ';
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string_view> tokens_of(std::string_view subject) {
  std::vector<std::string_view> tokens;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = subject.find('.', start);
    tokens.push_back(subject.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return tokens;
}

// Whether some subject matches both (NATS wildcards on either side: `*` one token, `>` one or
// more at the end).
bool subjects_overlap(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty()) return false;
  const auto ta = tokens_of(a);
  const auto tb = tokens_of(b);
  std::size_t i = 0;
  for (; i < ta.size() && i < tb.size(); ++i) {
    if (ta[i] == ">" || tb[i] == ">") return true;
    if (ta[i] == "*" || tb[i] == "*" || ta[i] == tb[i]) continue;
    return false;
  }
  return i == ta.size() && i == tb.size();
}

// A string member, or the empty string.
std::string string_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// A port the node's config declares, as semstreams' PortDefinition (`name`, `type`,
// `subject`, `interface`, `required`) or as the UI's editor writes it (`config.type`,
// `config.<type>.subject`, `config.<type>.interface.type`).
std::optional<port_spec> port_from_config(const json::value& v, port_direction direction) {
  if (!v.is_object()) return std::nullopt;
  const json::object& o = v.get_object();
  port_spec p;
  p.direction = direction;
  p.name = string_at(o, "name");
  if (p.name.empty()) p.name = string_at(o, "id");
  if (p.name.empty()) return std::nullopt;
  p.kind = string_at(o, "type");
  p.subject = string_at(o, "subject");
  if (p.subject.empty()) p.subject = string_at(o, "stream_name");
  if (const json::value* i = o.if_contains("interface")) {
    if (i->is_string()) p.interface_type = std::string(i->get_string());
    if (i->is_object()) p.interface_type = string_at(i->get_object(), "type");
  }
  if (const json::value* config = o.if_contains("config"); config && config->is_object()) {
    const json::object& c = config->get_object();
    if (p.kind.empty()) p.kind = string_at(c, "type");
    if (const json::value* detail = c.if_contains(p.kind); detail && detail->is_object()) {
      const json::object& d = detail->get_object();
      if (p.subject.empty()) p.subject = string_at(d, "subject");
      if (p.subject.empty()) p.subject = string_at(d, "streamName");
      if (p.subject.empty()) p.subject = string_at(d, "bucket");
      if (const json::value* i = d.if_contains("interface"); i && p.interface_type.empty()) {
        if (i->is_string()) p.interface_type = std::string(i->get_string());
        if (i->is_object()) p.interface_type = string_at(i->get_object(), "type");
      }
    }
  }
  if (p.kind.empty()) p.kind = "nats";
  if (const json::value* r = o.if_contains("required"); r && r->is_bool()) p.required = r->get_bool();
  p.description = string_at(o, "description");
  return p;
}

validated_port resolved(const port_spec& p) {
  validated_port v;
  v.name = p.name;
  v.direction = p.direction;
  v.interface_type = p.interface_type;
  v.required = p.required;
  v.pattern = pattern_of_port_kind(p.kind);
  v.connection_id = p.subject;
  if (v.connection_id.empty()) v.connection_id = v.pattern == port_pattern::network ? "network_incomplete" : "missing_subject";
  v.description = p.description;
  return v;
}

// The node's ports: its config's own when it lists them, else its component's defaults.
// Nullopt when unknown (no catalog entry and no ports of its own).
std::optional<std::pair<std::vector<validated_port>, std::vector<validated_port>>> ports_of(
    const flow_node& n, const component_spec* spec) {
  std::vector<validated_port> inputs, outputs;
  const json::value* configured = n.config.if_contains("ports");
  if (configured && configured->is_object()) {
    const json::object& ports = configured->get_object();
    for (auto [key, direction] : {std::pair{"inputs", port_direction::input}, std::pair{"outputs", port_direction::output}}) {
      const json::value* list = ports.if_contains(key);
      if (!list || !list->is_array()) continue;
      std::set<std::string> seen;
      for (const json::value& item : list->get_array()) {
        auto p = port_from_config(item, direction);
        if (!p || !seen.insert(p->name).second) continue;  // nameless or repeated: not a port anyone can connect to
        (direction == port_direction::input ? inputs : outputs).push_back(resolved(*p));
      }
    }
    return std::pair{std::move(inputs), std::move(outputs)};
  }
  if (!spec) return std::nullopt;
  for (const port_spec& p : spec->ports) {
    (p.direction == port_direction::input ? inputs : outputs).push_back(resolved(p));
  }
  return std::pair{std::move(inputs), std::move(outputs)};
}

const validated_port* find_port(const std::vector<validated_port>& ports, std::string_view name) {
  for (const validated_port& p : ports) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

class checker {
 public:
  checker(const flow& f, const component_catalog& catalog) : f_(f), catalog_(catalog) {}

  validation_result run() {
    if (f_.nodes.empty()) {
      error("empty_flow", "(none)", {}, "Flow must contain at least one component",
            {"Add components from the palette", "Drag and drop components onto the canvas"});
      return finish();
    }
    for (const validation_problem& p : validation_problems(f_)) {
      error("invalid_flow", p.where, {}, p.what, {"Fix the flow definition"});
    }
    check_nodes();
    check_drawn_connections();
    discover_connections();
    check_unconnected();
    return finish();
  }

 private:
  struct node_ports {
    bool known = false;
    const component_spec* spec = nullptr;
  };

  void issue(std::vector<validation_issue>& into, issue_severity severity, std::string type, std::string component,
             std::string port, std::string message, std::vector<std::string> suggestions) {
    into.push_back({std::move(type), severity, std::move(component), std::move(port), std::move(message),
                    std::move(suggestions)});
  }
  void error(std::string type, std::string component, std::string port, std::string message,
             std::vector<std::string> suggestions = {}) {
    issue(result_.errors, issue_severity::error, std::move(type), std::move(component), std::move(port),
          std::move(message), std::move(suggestions));
  }
  void warning(std::string type, std::string component, std::string port, std::string message,
               std::vector<std::string> suggestions = {}) {
    issue(result_.warnings, issue_severity::warning, std::move(type), std::move(component), std::move(port),
          std::move(message), std::move(suggestions));
  }

  void check_nodes() {
    std::map<std::string, std::string> keys;  // component key -> the node id that has it
    known_.resize(f_.nodes.size());
    for (std::size_t i = 0; i < f_.nodes.size(); ++i) {
      const flow_node& n = f_.nodes[i];
      index_.emplace(n.id, i);
      const component_spec* spec = catalog_.find(n.component);
      if (!spec && !n.component.empty()) {
        error("unknown_component", n.id, {}, "Unknown component type: " + n.component,
              {"Check that component type is registered", "Verify component name spelling"});
      } else if (spec && n.type != component_type::unset && n.type != spec->category) {
        const std::string given =
            n.type == component_type::unrecognized ? n.unrecognized_type : std::string(to_string(n.type));
        error("type_mismatch", n.id, {},
              "Component " + quoted(n.component) + " is " + std::string(to_string(spec->category)) + ", not " + given,
              {"Set the node's type to " + std::string(to_string(spec->category))});
      }
      if (!n.name.empty()) {
        if (!usable_component_name(n.name)) {
          error("invalid_component_name", n.id, {},
                "Node name " + quoted(n.name) +
                    " cannot name a semstreams component (1-240 of letters, digits, '_', '-' and spaces)",
                {"Rename the node"});
        } else if (auto [it, fresh] = keys.emplace(component_key(n.name), n.id); !fresh) {
          error("duplicate_component_name", n.id, {},
                "Node name " + quoted(n.name) + " is also the component name of node " + quoted(it->second),
                {"Give every node its own name"});
        }
      }
      validated_node v;
      v.id = n.id;
      v.component = n.component;
      v.name = n.name;
      if (auto ports = ports_of(n, spec)) {
        known_[i] = true;
        v.input_ports = std::move(ports->first);
        v.output_ports = std::move(ports->second);
      }
      result_.nodes.push_back(std::move(v));
    }
  }

  const validated_node* node(const std::string& id) const {
    auto it = index_.find(id);
    return it == index_.end() ? nullptr : &result_.nodes[it->second];
  }
  bool ports_known(const std::string& id) const {
    auto it = index_.find(id);
    return it != index_.end() && known_[it->second];
  }

  void mark(const std::string& node_id, port_direction d, const std::string& port) {
    connected_ports_.emplace(node_id, d, port);
    connected_nodes_.insert(node_id);
  }

  // Interfaces of a connection: the same text, or the source's undeclared.
  void check_interfaces(const validated_node& from, const validated_port& out, const validated_node& to,
                        const validated_port& in) {
    const std::string nodes = from.name + " \u2192 " + to.name;
    const std::string ports = out.name + " \u2192 " + in.name;
    if (!out.interface_type.empty() && !in.interface_type.empty() && out.interface_type != in.interface_type) {
      error("interface_mismatch", from.id, ports,
            "Interface mismatch: source port '" + out.name + "' provides '" + out.interface_type +
                "' but target port '" + in.name + "' requires '" + in.interface_type + "' (" + nodes + ")",
            {"Check that connected components have compatible interfaces", "Source provides: " + out.interface_type,
             "Target requires: " + in.interface_type});
    } else if (out.interface_type.empty() && !in.interface_type.empty()) {
      warning("missing_interface", from.id, ports,
              "Source port '" + out.name + "' does not declare an interface, but target port '" + in.name +
                  "' requires '" + in.interface_type + "' (" + nodes + ")",
              {"Verify that source component produces compatible data", "Target requires: " + in.interface_type});
    }
  }

  void check_drawn_connections() {
    for (const flow_connection& c : f_.connections) {
      const validated_node* from = node(c.source_node_id);
      const validated_node* to = node(c.target_node_id);
      if (!from || !to) continue;  // an invalid_flow problem already
      drawn_.emplace(c.source_node_id, c.source_port, c.target_node_id, c.target_port);
      connected_nodes_.insert(c.source_node_id);
      connected_nodes_.insert(c.target_node_id);
      const validated_port* out = find_port(from->output_ports, c.source_port);
      const validated_port* in = find_port(to->input_ports, c.target_port);
      if (!out && ports_known(from->id) && !c.source_port.empty()) {
        error("unknown_port", from->id, c.source_port,
              "Connection " + quoted(c.id) + ": node " + quoted(from->name) + " (" + from->component +
                  ") has no output port " + quoted(c.source_port),
              {"Connect one of the node's output ports"});
      }
      if (!in && ports_known(to->id) && !c.target_port.empty()) {
        error("unknown_port", to->id, c.target_port,
              "Connection " + quoted(c.id) + ": node " + quoted(to->name) + " (" + to->component +
                  ") has no input port " + quoted(c.target_port),
              {"Connect one of the node's input ports"});
      }
      if (out) mark(from->id, port_direction::output, out->name);
      if (in) mark(to->id, port_direction::input, in->name);
      if (!out || !in) continue;
      if (out->pattern != in->pattern || out->pattern == port_pattern::network) {
        error("pattern_mismatch", from->id, out->name + " \u2192 " + in->name,
              "Connection " + quoted(c.id) + " joins a " + std::string(to_string(out->pattern)) + " port to a " +
                  std::string(to_string(in->pattern)) + " port" +
                  (out->pattern == port_pattern::network ? " (network ports connect to nothing)" : ""),
              {"Connect ports of the same kind"});
        continue;
      }
      check_interfaces(*from, *out, *to, *in);
    }
  }

  // The connections the ports imply, as semstreams' validator finds them: a stream output
  // whose subject overlaps an input's, a request output sharing an input's subject, a KV
  // write feeding a watch of its bucket. Drawn ones too: the UI redraws its edges from this
  // list alone (a drawn connection's interfaces were checked with it).
  void discover_connections() {
    for (const validated_node& from : result_.nodes) {
      for (const validated_port& out : from.output_ports) {
        if (out.pattern == port_pattern::network) continue;
        for (const validated_node& to : result_.nodes) {
          if (&to == &from) continue;
          for (const validated_port& in : to.input_ports) {
            if (in.pattern != out.pattern) continue;
            const bool joined = out.pattern == port_pattern::stream ? subjects_overlap(out.connection_id, in.connection_id)
                                                                    : out.connection_id == in.connection_id;
            if (!joined) continue;
            mark(from.id, port_direction::output, out.name);
            mark(to.id, port_direction::input, in.name);
            result_.discovered_connections.push_back(
                {from.id, out.name, to.id, in.name, out.connection_id, out.pattern});
            if (drawn_.count({from.id, out.name, to.id, in.name}) == 0) check_interfaces(from, out, to, in);
          }
        }
      }
    }
  }

  void check_unconnected() {
    for (const validated_node& n : result_.nodes) {
      if (connected_nodes_.count(n.id) == 0) {
        warning("disconnected_node", n.id, {}, "Component has no connections",
                {"Connect to other components", "Verify component configuration"});
      }
      for (const auto* ports : {&n.input_ports, &n.output_ports}) {
        for (const validated_port& p : *ports) {
          if (p.pattern == port_pattern::network || connected_ports_.count({n.id, p.direction, p.name}) != 0) continue;
          const bool input = p.direction == port_direction::input;
          const std::string message = std::string(input ? "input" : "output") + " port '" + p.name + "' (" +
                                      std::string(to_string(p.pattern)) + "): " +
                                      (input ? "no_publishers" : "no_subscribers");
          if (input && p.required && p.pattern == port_pattern::stream) {
            error("orphaned_port", n.id, p.name, message,
                  {"Connect an output from another component", "Check that source component is configured correctly"});
          } else if (p.required && p.pattern == port_pattern::stream) {
            warning("orphaned_port", n.id, p.name, message,
                    {"Consider connecting to a processor or output component",
                     "Data will be published to " + p.connection_id + " but not consumed"});
          } else {
            warning("orphaned_port", n.id, p.name, message, {"This port is optional and can remain unconnected"});
          }
        }
      }
    }
  }

  validation_result finish() {
    result_.status = !result_.errors.empty()     ? validation_status::errors
                     : !result_.warnings.empty() ? validation_status::warnings
                                                 : validation_status::valid;
    return std::move(result_);
  }

  const flow& f_;
  const component_catalog& catalog_;
  validation_result result_;
  std::map<std::string, std::size_t> index_;  // node id -> first node with it
  std::vector<bool> known_;                   // whether each node's ports are known
  std::set<std::tuple<std::string, port_direction, std::string>> connected_ports_;
  std::set<std::string> connected_nodes_;
  std::set<std::tuple<std::string, std::string, std::string, std::string>> drawn_;
};

json::object issue_json(const validation_issue& i) {
  json::object o{{"type", i.type},
                 {"severity", to_string(i.severity)},
                 {"component_name", i.component_name}};
  if (!i.port_name.empty()) o["port_name"] = i.port_name;
  o["message"] = i.message;
  if (!i.suggestions.empty()) {
    json::array s;
    for (const auto& text : i.suggestions) s.emplace_back(text);
    o["suggestions"] = std::move(s);
  }
  return o;
}

json::array ports_json(const std::vector<validated_port>& ports) {
  json::array a;
  for (const validated_port& p : ports) {
    a.push_back(json::object{{"name", p.name},
                             {"direction", to_string(p.direction)},
                             {"type", p.interface_type},
                             {"required", p.required},
                             {"connection_id", p.connection_id},
                             {"pattern", to_string(p.pattern)},
                             {"description", p.description}});
  }
  return a;
}

}  // namespace

validation_result validate_deployment(const flow& f, const component_catalog& catalog) {
  return checker(f, catalog).run();
}

std::string to_json(const validation_result& r) {
  json::array errors, warnings, nodes, connections;
  for (const auto& i : r.errors) errors.push_back(issue_json(i));
  for (const auto& i : r.warnings) warnings.push_back(issue_json(i));
  for (const validated_node& n : r.nodes) {
    nodes.push_back(json::object{{"id", n.id},
                                 {"type", n.component},
                                 {"name", n.name},
                                 {"input_ports", ports_json(n.input_ports)},
                                 {"output_ports", ports_json(n.output_ports)}});
  }
  for (const discovered_connection& c : r.discovered_connections) {
    connections.push_back(json::object{{"source_node_id", c.source_node_id},
                                       {"source_port", c.source_port},
                                       {"target_node_id", c.target_node_id},
                                       {"target_port", c.target_port},
                                       {"connection_id", c.connection_id},
                                       {"pattern", to_string(c.pattern)}});
  }
  const json::object o{{"validation_status", to_string(r.status)},
                       {"errors", std::move(errors)},
                       {"warnings", std::move(warnings)},
                       {"nodes", std::move(nodes)},
                       {"discovered_connections", std::move(connections)}};
  return json::serialize(o);
}

}  // namespace flowstore
