#include "kv/jetstream_api.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <charconv>

namespace flowstore::detail::kv {
namespace {

namespace json = boost::json;

std::int64_t nanoseconds(std::chrono::milliseconds d) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

error malformed(std::string what) { return {errc::protocol_error, "unexpected reply: " + std::move(what)}; }

std::optional<api_error> read_error(const json::object& root) {
  const auto* e = root.if_contains("error");
  if (e == nullptr || !e->is_object()) return std::nullopt;
  api_error out;
  const auto& o = e->get_object();
  auto small_int = [&o](std::string_view name) {
    const auto* v = o.if_contains(name);
    if (v == nullptr || !v->is_int64() || v->get_int64() < 0 || v->get_int64() > 1'000'000) return 0;
    return static_cast<int>(v->get_int64());
  };
  out.code = small_int("code");
  out.err_code = small_int("err_code");
  if (const auto* d = o.if_contains("description"); d != nullptr && d->is_string()) {
    out.description = std::string(d->get_string());
  }
  return out;
}

std::optional<std::int64_t> signed_member(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v->get_uint64());
  }
  return std::nullopt;
}

std::optional<std::uint64_t> unsigned_member(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  if (v == nullptr) return std::nullopt;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
  return std::nullopt;
}

std::string string_member(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

bool bool_member(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  return v != nullptr && v->is_bool() && v->get_bool();
}

const json::object* object_member(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
}

template <class T>
bool parse_digits(std::string_view text, T& out) noexcept {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

}  // namespace

std::string stream_info_subject(std::string_view stream) { return "$JS.API.STREAM.INFO." + std::string(stream); }
std::string stream_create_subject(std::string_view stream) { return "$JS.API.STREAM.CREATE." + std::string(stream); }

result<stream_info_reply> parse_stream_info_reply(std::string_view body) {
  json::error_code ec;
  const json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return malformed("stream info is not a JSON object");
  const auto& root = v.get_object();
  stream_info_reply reply;
  reply.error = read_error(root);
  if (reply.error) return reply;
  const auto* config = object_member(root, "config");
  const auto* state = object_member(root, "state");
  if (config == nullptr || state == nullptr) return malformed("stream info without config or state");
  stream_info info;
  if (const auto* subjects = config->if_contains("subjects"); subjects != nullptr && subjects->is_array()) {
    for (const auto& s : subjects->get_array()) {
      if (s.is_string()) info.subjects.emplace_back(s.get_string());
    }
  }
  info.retention = string_member(*config, "retention");
  info.storage = string_member(*config, "storage");
  info.sealed = bool_member(*config, "sealed");
  info.allow_direct = bool_member(*config, "allow_direct");
  info.max_msgs_per_subject = signed_member(*config, "max_msgs_per_subject").value_or(-1);
  info.num_replicas = signed_member(*config, "num_replicas").value_or(1);
  info.max_msg_size = signed_member(*config, "max_msg_size").value_or(-1);
  info.last_seq = unsigned_member(*state, "last_seq").value_or(0);
  reply.info = std::move(info);
  return reply;
}

std::string stream_create_request(const bucket_stream_config& c) {
  json::object o;
  o["name"] = stream_name(c.bucket);
  if (!c.description.empty()) o["description"] = c.description;
  o["subjects"] = json::array{json::string(key_prefix(c.bucket) + ">")};
  o["retention"] = "limits";
  o["max_consumers"] = -1;
  o["max_msgs"] = -1;
  o["max_bytes"] = -1;
  o["max_age"] = 0;
  o["max_msg_size"] = -1;
  o["max_msgs_per_subject"] = c.history;
  o["discard"] = "new";
  o["storage"] = c.memory_storage ? "memory" : "file";
  o["num_replicas"] = c.replicas;
  o["deny_delete"] = true;
  o["allow_rollup_hdrs"] = true;
  o["allow_direct"] = true;
  return json::serialize(o);
}

std::string consumer_create_subject(std::string_view stream) {
  return "$JS.API.CONSUMER.CREATE." + std::string(stream);
}

std::string consumer_next_subject(std::string_view stream, std::string_view consumer) {
  std::string s = "$JS.API.CONSUMER.MSG.NEXT.";
  s.append(stream).append(".").append(consumer);
  return s;
}

std::string consumer_delete_subject(std::string_view stream, std::string_view consumer) {
  std::string s = "$JS.API.CONSUMER.DELETE.";
  s.append(stream).append(".").append(consumer);
  return s;
}

std::string consumer_create_request(const consumer_config& c) {
  json::object config;
  switch (c.start) {
    case consumer_start::all:
      config["deliver_policy"] = "all";
      break;
    case consumer_start::last_per_subject:
      config["deliver_policy"] = "last_per_subject";
      break;
    case consumer_start::new_only:
      config["deliver_policy"] = "new";
      break;
    case consumer_start::from_sequence:
      config["deliver_policy"] = "by_start_sequence";
      config["opt_start_seq"] = c.start_sequence;
      break;
  }
  config["ack_policy"] = "none";
  config["replay_policy"] = "instant";
  config["filter_subject"] = c.filter_subject;
  config["inactive_threshold"] = nanoseconds(c.inactive_threshold);
  config["num_replicas"] = 1;
  config["mem_storage"] = true;
  json::object request;
  request["stream_name"] = c.stream;
  request["config"] = std::move(config);
  return json::serialize(request);
}

result<consumer_create_reply> parse_consumer_create_reply(std::string_view body) {
  unsigned char scratch[4096];
  json::monotonic_resource memory(scratch, sizeof scratch);
  json::error_code ec;
  const json::value v = json::parse(body, ec, &memory);
  if (ec || !v.is_object()) return malformed("consumer create reply is not a JSON object");
  const auto& root = v.get_object();
  consumer_create_reply reply;
  reply.error = read_error(root);
  if (reply.error) return reply;
  consumer_created created;
  created.name = string_member(root, "name");
  const auto pending = unsigned_member(root, "num_pending");
  const auto* delivered = object_member(root, "delivered");
  if (created.name.empty() || !pending || delivered == nullptr) {
    return malformed("consumer create reply without name, num_pending or delivered");
  }
  created.num_pending = *pending;
  created.delivered_stream_seq = unsigned_member(*delivered, "stream_seq").value_or(0);
  reply.created = std::move(created);
  return reply;
}

std::string pull_request(std::uint64_t batch, std::chrono::milliseconds expires, std::chrono::milliseconds heartbeat) {
  std::string body = "{\"batch\":" + std::to_string(batch) + ",\"expires\":" + std::to_string(nanoseconds(expires));
  if (heartbeat.count() > 0) body += ",\"idle_heartbeat\":" + std::to_string(nanoseconds(heartbeat));
  body += '}';
  return body;
}

std::optional<delivery_info> parse_delivery_subject(std::string_view reply) noexcept {
  constexpr std::string_view prefix = "$JS.ACK.";
  if (!reply.starts_with(prefix)) return std::nullopt;
  reply.remove_prefix(prefix.size());
  std::string_view tokens[7];
  for (int i = 0; i < 7; ++i) {
    const auto dot = reply.find('.');
    if (i < 6) {
      if (dot == std::string_view::npos) return std::nullopt;
      tokens[i] = reply.substr(0, dot);
      reply.remove_prefix(dot + 1);
    } else {
      if (dot != std::string_view::npos) return std::nullopt;
      tokens[i] = reply;
    }
    if (tokens[i].empty()) return std::nullopt;
  }
  delivery_info info;
  info.stream = tokens[0];
  info.consumer = tokens[1];
  std::uint64_t delivered = 0;
  if (!parse_digits(tokens[2], delivered) || !parse_digits(tokens[3], info.stream_seq) ||
      !parse_digits(tokens[4], info.consumer_seq) || !parse_digits(tokens[5], info.time_ns) ||
      !parse_digits(tokens[6], info.pending)) {
    return std::nullopt;
  }
  return info;
}

pull_status classify_pull_status(int code, std::string_view description) noexcept {
  switch (code) {
    case 100:
      return pull_status::heartbeat;
    case 404:
    case 408:
      return pull_status::expired;
    case 409:
      if (description.starts_with("Message Size Exceeds MaxBytes")) return pull_status::batch_bytes;
      if (description.starts_with("Consumer Deleted")) return pull_status::consumer_gone;
      if (description.starts_with("Leadership Change")) return pull_status::leadership;
      if (description.starts_with("Exceeded MaxWaiting")) return pull_status::too_many_waiting;
      return pull_status::refused;
    default:
      return pull_status::refused;
  }
}

}  // namespace flowstore::detail::kv
