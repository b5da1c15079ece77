#include "model/flow_decoder.hpp"

#include <flowstore/json.hpp>

#include "model/strict_json.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse_options.hpp>

#include <array>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

namespace flowstore::detail {
namespace {

namespace json = boost::json;

// `null` for a field leaves its zero value; a key names a field exactly or, failing that,
// case-insensitively; unknown fields are kept whole for re-encoding (Go's reading of the Go
// package's structs, plus keeping what a newer peer wrote).

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

std::string_view kind_name(json::kind k) noexcept {
  switch (k) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "a number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "a value";
}

// What the values of an object or array are for.
enum class frame_kind { flow, nodes, node, position, connections, connection };

// Fields by frame, in the index order the builder switches on; the index one past the last
// means an unknown field.
constexpr std::array<std::string_view, 14> flow_fields{
    "id",          "name",       "description", "version",    "nodes",      "connections", "runtime_state",
    "deployed_at", "started_at", "stopped_at",  "created_at", "updated_at", "created_by",  "last_modified"};
constexpr std::array<std::string_view, 6> node_fields{"id", "component", "type", "name", "position", "config"};
constexpr std::array<std::string_view, 5> connection_fields{"id", "source_node_id", "source_port", "target_node_id",
                                                            "target_port"};
constexpr std::array<std::string_view, 2> position_fields{"x", "y"};

namespace flow_field {
enum : std::size_t {
  id,
  name,
  description,
  version,
  nodes,
  connections,
  runtime_state,
  deployed_at,
  started_at,
  stopped_at,
  created_at,
  updated_at,
  created_by,
  last_modified,
  unknown
};
}
namespace node_field {
enum : std::size_t { id, component, type, name, position, config, unknown };
}
constexpr std::size_t position_unknown = position_fields.size();

// Nodes and connections are read into arrays kept by the decoding thread and moved into arrays
// of their exact size at the end: growing the flow's own arrays element by element allocated
// three times for three nodes and kept room for a fourth. One builder runs at a time per thread.
struct scratch_arrays {
  std::vector<flow_node> nodes;
  std::vector<flow_connection> connections;
  bool in_use = false;
};

scratch_arrays& array_scratch() {
  thread_local scratch_arrays arrays;
  return arrays;
}

template <class T>
std::vector<T> take_all(std::vector<T>& read) {
  std::vector<T> exact;
  exact.reserve(read.size());
  std::move(read.begin(), read.end(), std::back_inserter(exact));
  read.clear();
  return exact;
}

// Empties a scratch array, giving its memory back after an unusually large document.
template <class T>
void release(std::vector<T>& read) {
  constexpr std::size_t kept_capacity = 64;
  read.clear();
  if (read.capacity() > kept_capacity) std::vector<T>().swap(read);
}

// Builds a flow from the events of one document in order: structure, keys and scalars of the
// flow's own fields, and whole values for configs and unknown fields. Every event returns
// false once the document is found not to be a flow; error() then says why.
class flow_builder {
 public:
  flow_builder() {
    assert(!array_scratch().in_use);
    array_scratch().in_use = true;
  }
  flow_builder(const flow_builder&) = delete;
  flow_builder& operator=(const flow_builder&) = delete;
  ~flow_builder() {
    release(nodes_);
    release(connections_);
    array_scratch().in_use = false;
  }

  bool object_begin() {
    if (depth_ == 0) return push(frame_kind::flow);
    frame& top = frames_[depth_ - 1];
    switch (top.kind) {
      case frame_kind::nodes:
        nodes_.emplace_back();
        return push(frame_kind::node);
      case frame_kind::connections:
        connections_.emplace_back();
        return push(frame_kind::connection);
      case frame_kind::node:
        if (top.field == node_field::position) {
          position_key_.assign(key_);
          return push(frame_kind::position);
        }
        break;
      default:
        break;
    }
    return type_error(json::kind::object);
  }

  bool object_end() {
    --depth_;
    return true;
  }

  bool array_begin() {
    if (depth_ != 0 && frames_[depth_ - 1].kind == frame_kind::flow) {
      switch (frames_[depth_ - 1].field) {
        case flow_field::nodes:
          nodes_.clear();
          return push(frame_kind::nodes);
        case flow_field::connections:
          connections_.clear();
          return push(frame_kind::connections);
        default:
          break;
      }
    }
    return type_error(json::kind::array);
  }

  bool array_end() {
    switch (frames_[--depth_].kind) {
      case frame_kind::nodes:
        flow_.nodes = take_all(nodes_);
        break;
      case frame_kind::connections:
        flow_.connections = take_all(connections_);
        break;
      default:
        break;
    }
    return true;
  }

  bool key(std::string_view k) {
    frame& top = frames_[depth_ - 1];
    switch (top.kind) {
      case frame_kind::flow:
        return field_key(top, flow_fields, k);
      case frame_kind::node:
        return field_key(top, node_fields, k);
      case frame_kind::connection:
        return field_key(top, connection_fields, k);
      case frame_kind::position:
        return field_key(top, position_fields, k);
      default:
        return true;  // keys only occur in objects
    }
  }

  bool string(std::string_view s) {
    if (depth_ == 0) return type_error(json::kind::string);
    const frame& top = frames_[depth_ - 1];
    switch (top.kind) {
      case frame_kind::flow:
        return flow_string(top.field, s);
      case frame_kind::node:
        return node_string(top.field, s);
      case frame_kind::connection: {
        flow_connection& c = connections_.back();
        std::string* fields[] = {&c.id, &c.source_node_id, &c.source_port, &c.target_node_id, &c.target_port};
        fields[top.field]->assign(s);
        return true;
      }
      default:
        return type_error(json::kind::string);
    }
  }

  // `n` is an int64, uint64 or double value.
  bool number(const json::value& n) {
    if (depth_ == 0) return type_error(n.kind());
    const frame& top = frames_[depth_ - 1];
    if (top.kind == frame_kind::flow && top.field == flow_field::version) return version(n);
    if (top.kind == frame_kind::position) {
      double& target = top.field == 0 ? node().pos.x : node().pos.y;
      target = n.is_double()  ? n.get_double()
               : n.is_int64() ? static_cast<double>(n.get_int64())
                              : static_cast<double>(n.get_uint64());
      return true;
    }
    return type_error(n.kind());
  }

  bool boolean() { return type_error(json::kind::bool_); }

  bool null() {
    if (depth_ == 0) return type_error(json::kind::null);
    switch (frames_[depth_ - 1].kind) {
      case frame_kind::nodes:
        nodes_.emplace_back();
        return true;
      case frame_kind::connections:
        connections_.emplace_back();
        return true;
      default:
        return true;  // a known field left at its zero value
    }
  }

  // True when the next value is taken whole, by whole_value(): configs and unknown fields.
  bool wants_whole_value() const {
    if (depth_ == 0) return false;
    const frame& top = frames_[depth_ - 1];
    switch (top.kind) {
      case frame_kind::flow:
        return top.field == flow_field::unknown;
      case frame_kind::node:
        return top.field == node_field::config || top.field == node_field::unknown;
      case frame_kind::connection:
        return top.field == connection_fields.size();
      case frame_kind::position:
        return top.field == position_unknown;
      default:
        return false;
    }
  }

  // `v` is in the default storage, so the flow keeps it without a copy.
  bool whole_value(json::value&& v) {
    const frame& top = frames_[depth_ - 1];
    switch (top.kind) {
      case frame_kind::flow:
        flow_.unknown_fields.insert_or_assign(key_, std::move(v));
        return true;
      case frame_kind::node:
        if (top.field == node_field::unknown) {
          node().unknown_fields.insert_or_assign(key_, std::move(v));
        } else if (v.is_object()) {
          node().config = std::move(v.get_object());
        } else if (!v.is_null()) {
          return type_error(v.kind());
        }
        return true;
      case frame_kind::connection:
        connections_.back().unknown_fields.insert_or_assign(key_, std::move(v));
        return true;
      default:
        return true;  // Go drops unknown position fields
    }
  }

  bool duplicated_key() { return fail_document("duplicated object key"); }

  bool fail_document(std::string_view problem) {
    error_ = {errc::corrupt_data, "not a flow document: " + std::string(problem)};
    return false;
  }

  const error& failure() const { return error_; }
  flow take() { return std::move(flow_); }

 private:
  struct frame {
    frame_kind kind = frame_kind::flow;
    std::size_t field = 0;                  // the field of the next value, in objects
    std::uint32_t exact_keys = 0;           // fields met under their exact name
    std::vector<std::string> other_keys{};  // other keys met (case variants, unknown fields)
  };

  bool push(frame_kind kind) {
    frame& f = frames_[depth_++];
    f.kind = kind;
    f.field = static_cast<std::size_t>(-1);  // no key yet: the first one is tried first
    f.exact_keys = 0;
    f.other_keys.clear();
    return true;
  }

  // Sets the field of the next value, refusing a key the object already had.
  template <std::size_t N>
  bool field_key(frame& top, const std::array<std::string_view, N>& names, std::string_view k) {
    // Documents written by Go (and by flowstore) list the fields in declaration order: the one
    // after the last field matched is the first to try.
    const std::size_t first = top.field < N ? top.field + 1 : 0;
    for (std::size_t n = 0; n < N; ++n) {
      const std::size_t i = first + n < N ? first + n : first + n - N;
      if (names[i].size() == k.size() && names[i].front() == k.front() && names[i] == k) {
        if ((top.exact_keys & (1u << i)) != 0) return duplicated_key();
        top.exact_keys |= 1u << i;
        top.field = i;
        key_ = names[i];  // the same text, in static storage
        return true;
      }
    }
    for (const auto& seen : top.other_keys) {
      if (seen == k) return duplicated_key();
    }
    key_ = top.other_keys.emplace_back(k);
    top.field = N;
    for (std::size_t i = 0; i < N; ++i) {
      if (equal_ignoring_ascii_case(names[i], k)) {
        top.field = i;
        break;
      }
    }
    return true;
  }

  bool flow_string(std::size_t field, std::string_view s) {
    switch (field) {
      case flow_field::id:
        flow_.id.assign(s);
        return true;
      case flow_field::name:
        flow_.name.assign(s);
        return true;
      case flow_field::description:
        flow_.description.assign(s);
        return true;
      case flow_field::created_by:
        flow_.created_by.assign(s);
        return true;
      case flow_field::runtime_state:
        flow_.state = runtime_state_from_string(s);
        flow_.unrecognized_state.assign(flow_.state == runtime_state::unrecognized ? s : std::string_view());
        return true;
      case flow_field::deployed_at:
        return optional_time(s, flow_.deployed_at);
      case flow_field::started_at:
        return optional_time(s, flow_.started_at);
      case flow_field::stopped_at:
        return optional_time(s, flow_.stopped_at);
      case flow_field::created_at:
        return time(s, flow_.created_at);
      case flow_field::updated_at:
        return time(s, flow_.updated_at);
      case flow_field::last_modified:
        return time(s, flow_.last_modified);
      default:
        return type_error(json::kind::string);
    }
  }

  bool node_string(std::size_t field, std::string_view s) {
    flow_node& n = node();
    switch (field) {
      case node_field::id:
        n.id.assign(s);
        return true;
      case node_field::component:
        n.component.assign(s);
        return true;
      case node_field::type:
        n.type = component_type_from_string(s);
        n.unrecognized_type.assign(n.type == component_type::unrecognized ? s : std::string_view());
        return true;
      case node_field::name:
        n.name.assign(s);
        return true;
      default:
        return type_error(json::kind::string);
    }
  }

  bool version(const json::value& n) {
    // Go parses the literal as a base-10 int64: fractions, exponents and overflow are errors.
    if (n.is_int64()) {
      flow_.version = n.get_int64();
      return true;
    }
    // number_reader keeps "-0" as the double -0 for the sake of floats; as an integer it is 0.
    if (n.is_double() && n.get_double() == 0 && std::signbit(n.get_double())) {
      flow_.version = 0;
      return true;
    }
    return fail(value_path(), "expected a 64-bit integer");
  }

  bool time(std::string_view s, timestamp& out) {
    auto parsed = timestamp::parse(s);
    if (!parsed) return fail(value_path(), parsed.error().message);
    out = parsed.value();
    return true;
  }

  bool optional_time(std::string_view s, std::optional<timestamp>& out) {
    timestamp t;
    if (!time(s, t)) return false;
    out = t;
    return true;
  }

  flow_node& node() { return nodes_.back(); }

  // What the next value must be, for error messages.
  std::string_view expected() const {
    if (depth_ == 0) return "an object";
    const frame& top = frames_[depth_ - 1];
    switch (top.kind) {
      case frame_kind::flow:
        switch (top.field) {
          case flow_field::version:
            return "an integer";
          case flow_field::nodes:
          case flow_field::connections:
            return "an array";
          case flow_field::deployed_at:
          case flow_field::started_at:
          case flow_field::stopped_at:
          case flow_field::created_at:
          case flow_field::updated_at:
          case flow_field::last_modified:
            return "an RFC 3339 time string";
          default:
            return "a string";
        }
      case frame_kind::nodes:
      case frame_kind::connections:
        return "an object";
      case frame_kind::node:
        return top.field == node_field::position || top.field == node_field::config ? "an object" : "a string";
      case frame_kind::connection:
        return "a string";
      case frame_kind::position:
        return "a number";
    }
    return "a value";
  }

  // Where the next value is, as the error messages name it: `name`, `nodes[1].position.x`.
  std::string value_path() const {
    if (depth_ == 0) return "document";
    const frame& top = frames_[depth_ - 1];
    switch (top.kind) {
      case frame_kind::flow:
        if (top.field == flow_field::nodes) return "nodes";
        if (top.field == flow_field::connections) return "connections";
        return std::string(key_);
      case frame_kind::nodes:
        return element_path("nodes", nodes_.size());
      case frame_kind::connections:
        return element_path("connections", connections_.size());
      case frame_kind::node:
        return element_path("nodes", nodes_.size() - 1) + "." + std::string(key_);
      case frame_kind::connection:
        return element_path("connections", connections_.size() - 1) + "." + std::string(key_);
      case frame_kind::position:
        return element_path("nodes", nodes_.size() - 1) + "." + position_key_ + "." + std::string(key_);
    }
    return std::string(key_);
  }

  static std::string element_path(std::string_view array, std::size_t index) {
    return std::string(array) + "[" + std::to_string(index) + "]";
  }

  bool type_error(json::kind got) {
    return fail(value_path(), "expected " + std::string(expected()) + ", got " + std::string(kind_name(got)));
  }

  bool fail(std::string_view path, std::string what) {
    error_ = {errc::corrupt_data, "not a flow document: " + std::string(path) + ": " + std::move(what)};
    return false;
  }

  flow flow_;
  // The arrays being read, until their number of elements is known.
  std::vector<flow_node>& nodes_ = array_scratch().nodes;
  std::vector<flow_connection>& connections_ = array_scratch().connections;
  std::array<frame, 4> frames_{};  // flow, nodes, node, position: the deepest the builder goes
  std::size_t depth_ = 0;
  // The last key, for unknown fields and error messages: a field's name or one of the frame's
  // other_keys (neither moves before the next key of the frame).
  std::string_view key_;
  std::string position_key_;  // the key that led to the current position object
  error error_;
};

// Hands a parser's events to a flow_builder, capturing the values it takes whole with a
// strict_value_builder (which refuses duplicated keys inside them too).
class flow_text_handler {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  flow_text_handler(unsigned char* temp, std::size_t temp_size) : whole_(temp, temp_size) {}

  flow_builder& builder() { return builder_; }
  bool number_out_of_range() const { return number_out_of_range_; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }

  bool on_object_begin(json::error_code& ec) {
    if (starts_whole_value()) {
      ++whole_depth_;
      return true;
    }
    return ok(builder_.object_begin(), ec);
  }
  bool on_object_end(std::size_t n, json::error_code& ec) {
    if (!capturing_) return ok(builder_.object_end(), ec);
    whole_.object_end(n);
    --whole_depth_;
    return ok(end_of_whole_part(), ec);
  }
  bool on_array_begin(json::error_code& ec) {
    if (starts_whole_value()) {
      ++whole_depth_;
      return true;
    }
    return ok(builder_.array_begin(), ec);
  }
  bool on_array_end(std::size_t n, json::error_code& ec) {
    if (!capturing_) return ok(builder_.array_end(), ec);
    whole_.array_end(n);
    --whole_depth_;
    return ok(end_of_whole_part(), ec);
  }

  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    if (starts_whole_value()) {
      whole_.chars(s);
    } else {
      text_parts_.append(s.data(), s.size());
    }
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code& ec) {
    if (starts_whole_value()) {
      whole_.string(s);
      return ok(end_of_whole_part(), ec);
    }
    return ok(builder_.string(whole_text(s)), ec);
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    if (capturing_) {
      whole_.chars(s);
    } else {
      text_parts_.append(s.data(), s.size());
    }
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    if (capturing_) {
      whole_.key(s);
      return true;
    }
    return ok(builder_.key(whole_text(s)), ec);
  }

  bool on_number_part(json::string_view s, json::error_code&) {
    if (starts_whole_value()) {
      whole_.number_part(s);
    } else {
      numbers_.part(s);
    }
    return true;
  }
  bool on_int64(std::int64_t i, json::string_view s, json::error_code& ec) {
    if (starts_whole_value()) {
      whole_.int64(i, s);
      return ok(end_of_whole_part(), ec);
    }
    return ok(builder_.number(numbers_.integer(i, s)), ec);
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code& ec) {
    if (starts_whole_value()) {
      whole_.uint64(u);
      return ok(end_of_whole_part(), ec);
    }
    return ok(builder_.number(numbers_.unsigned_integer(u)), ec);
  }
  bool on_double(double d, json::string_view s, json::error_code& ec) {
    if (starts_whole_value()) {
      if (!whole_.double_(d, s)) return out_of_range(ec);
      return ok(end_of_whole_part(), ec);
    }
    auto n = numbers_.floating(d, s);
    if (!n) return out_of_range(ec);
    return ok(builder_.number(*n), ec);
  }
  bool on_bool(bool b, json::error_code& ec) {
    if (starts_whole_value()) {
      whole_.bool_(b);
      return ok(end_of_whole_part(), ec);
    }
    return ok(builder_.boolean(), ec);
  }
  bool on_null(json::error_code& ec) {
    if (starts_whole_value()) {
      whole_.null();
      return ok(end_of_whole_part(), ec);
    }
    return ok(builder_.null(), ec);
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  // True while a value taken whole is being built, starting one if the builder wants the
  // value that begins with this event.
  bool starts_whole_value() {
    if (!capturing_ && builder_.wants_whole_value()) {
      capturing_ = true;
      whole_depth_ = 0;
      whole_.reset({});
    }
    return capturing_;
  }

  // After the end of a scalar or container inside a whole value: hands the value over once
  // it is complete.
  bool end_of_whole_part() {
    if (whole_depth_ != 0) return true;
    capturing_ = false;
    bool duplicated_keys = false;
    json::value v = whole_.release(duplicated_keys);
    if (duplicated_keys) return builder_.duplicated_key();
    return builder_.whole_value(std::move(v));
  }

  // The whole text of a string or key whose last part is `last`; valid until the next event.
  std::string_view whole_text(json::string_view last) {
    if (text_parts_.empty()) return {last.data(), last.size()};
    text_parts_.append(last.data(), last.size());
    joined_.swap(text_parts_);
    text_parts_.clear();
    return joined_;
  }

  static bool ok(bool accepted, json::error_code& ec) {
    // Any code stops the parser; decode_flow() reports the builder's own error.
    if (!accepted) ec = json::error::syntax;
    return accepted;
  }

  bool out_of_range(json::error_code& ec) {
    number_out_of_range_ = true;
    ec = json::error::exponent_overflow;
    return false;
  }

  flow_builder builder_;
  strict_value_builder whole_;
  number_reader numbers_;
  std::string text_parts_;  // the start of a string or key that arrives in parts
  std::string joined_;      // a string or key that arrived in parts
  std::size_t whole_depth_ = 0;
  bool capturing_ = false;
  bool number_out_of_range_ = false;
};

// Replays a parsed value as events; values the builder takes whole are copied to the default
// storage.
bool replay(flow_builder& builder, const json::value& v) {
  if (builder.wants_whole_value()) return builder.whole_value(json::value(v, json::storage_ptr()));
  switch (v.kind()) {
    case json::kind::object:
      if (!builder.object_begin()) return false;
      for (const auto& member : v.get_object()) {
        if (!builder.key(member.key()) || !replay(builder, member.value())) return false;
      }
      return builder.object_end();
    case json::kind::array:
      if (!builder.array_begin()) return false;
      for (const auto& element : v.get_array()) {
        if (!replay(builder, element)) return false;
      }
      return builder.array_end();
    case json::kind::string:
      return builder.string(v.get_string());
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return builder.number(v);
    case json::kind::bool_:
      return builder.boolean();
    case json::kind::null:
      return builder.null();
  }
  return false;
}

}  // namespace

result<flow> decode_flow(std::string_view text) {
  json::parse_options options;
  options.max_depth = max_json_depth;
  unsigned char temp[4096];
  json::basic_parser<flow_text_handler> parser(options, temp, sizeof temp);
  json::error_code ec;
  const std::size_t consumed = parser.write_some(false, text.data(), text.size(), ec);
  flow_builder& builder = parser.handler().builder();
  if (ec) {
    if (builder.failure().code) return builder.failure();
    builder.fail_document(parser.handler().number_out_of_range() ? number_out_of_range_problem
                                                                 : "invalid JSON: " + ec.message());
    return builder.failure();
  }
  if (consumed != text.size()) {
    builder.fail_document("invalid JSON: text after the document");
    return builder.failure();
  }
  return builder.take();
}

result<flow> decode_flow(const json::value& document) {
  flow_builder builder;
  if (!replay(builder, document)) return builder.failure();
  return builder.take();
}

}  // namespace flowstore::detail
