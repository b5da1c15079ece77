#include "kv/protocol.hpp"

#include "nats/header_block.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <charconv>
#include <limits>

namespace flowstore::detail::kv {

bool valid_bucket_name(std::string_view bucket) noexcept {
  if (bucket.empty() || bucket.size() > max_bucket_name_bytes) return false;
  for (char c : bucket) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string stream_name(std::string_view bucket) { return "KV_" + std::string(bucket); }

std::string key_prefix(std::string_view bucket) { return "$KV." + std::string(bucket) + "."; }

std::string key_subject(std::string_view bucket, std::string_view key) { return key_prefix(bucket) + std::string(key); }

std::string direct_get_subject(std::string_view bucket, std::string_view key) {
  return "$JS.API.DIRECT.GET.KV_" + std::string(bucket) + "." + key_subject(bucket, key);
}

std::string message_get_subject(std::string_view bucket) { return "$JS.API.STREAM.MSG.GET.KV_" + std::string(bucket); }

std::error_code code_for_api_error(const api_error& e) noexcept {
  switch (e.err_code) {
    case api_code::message_too_large:
      return errc::too_large;
    case api_code::store_failed:
    case api_code::jetstream_not_enabled:
    case api_code::jetstream_not_enabled_for_account:
    case api_code::insufficient_resources:
      return errc::jetstream_unavailable;
    case api_code::stream_not_found:
      return errc::configuration_error;
    default:
      break;
  }
  if (e.code == 503) return errc::jetstream_unavailable;  // e.g. no leader during an election
  return errc::server_error;
}

error api_failure(std::error_code code, std::string_view what, const api_error& e) {
  error failure{code, std::string(what) + ": JetStream error " + std::to_string(e.err_code), e.description};
  if (e.err_code != 0) failure.server_code = {e.err_code, jetstream_category()};
  return failure;
}

error api_failure(std::string_view what, const api_error& e) { return api_failure(code_for_api_error(e), what, e); }

namespace {

// An int member, 0 when absent or out of range: a truncated 4294977367 must not read as 10071.
int read_int(const boost::json::object& o, std::string_view name) noexcept {
  const auto* v = o.if_contains(name);
  if (v == nullptr || !v->is_int64()) return 0;
  const std::int64_t value = v->get_int64();
  if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max()) return 0;
  return static_cast<int>(value);
}

std::optional<api_error> read_api_error(const boost::json::object& root) {
  const auto* error = root.if_contains("error");
  if (error == nullptr || !error->is_object()) return std::nullopt;
  api_error e;
  const auto& o = error->get_object();
  e.code = read_int(o, "code");
  e.err_code = read_int(o, "err_code");
  if (const auto* description = o.if_contains("description"); description != nullptr && description->is_string()) {
    e.description = std::string(description->get_string());
  }
  return e;
}

std::optional<std::uint64_t> read_unsigned(const boost::json::value* v) noexcept {
  if (v == nullptr) return std::nullopt;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
  return std::nullopt;
}

std::optional<std::uint64_t> parse_unsigned(std::string_view text) noexcept {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// `subject` is `prefix` followed by `key`, compared without building it.
bool is_key_subject(std::string_view subject, std::string_view prefix, std::string_view key) noexcept {
  return subject.size() == prefix.size() + key.size() && subject.starts_with(prefix) && subject.ends_with(key);
}

error protocol_failure(std::string what) { return {errc::protocol_error, "unexpected reply: " + std::move(what)}; }

}  // namespace

namespace {

// The common acknowledgement, {"stream":"KV_b","seq":12} (possibly with "domain" or
// "duplicate"), read without a JSON parser: its sequence when the body is plainly one, else
// nothing and the parser decides. Stream and domain names hold no quotes, so `"seq":` is the key.
std::optional<std::uint64_t> plain_ack_sequence(std::string_view body) noexcept {
  if (!body.starts_with("{\"stream\":") || !body.ends_with('}') || body.find("\"error\"") != std::string_view::npos) {
    return std::nullopt;
  }
  constexpr std::string_view key = "\"seq\":";
  const auto at = body.find(key);
  if (at == std::string_view::npos || body.find(key, at + 1) != std::string_view::npos) return std::nullopt;
  const char* first = body.data() + at + key.size();
  const char* last = body.data() + body.size();
  std::uint64_t sequence = 0;
  const auto [end, ec] = std::from_chars(first, last, sequence);
  if (ec != std::errc{} || end == first || (*end != ',' && *end != '}') || sequence == 0) return std::nullopt;
  return sequence;
}

}  // namespace

result<publish_reply> parse_publish_reply(std::string_view body) {
  if (const auto sequence = plain_ack_sequence(body)) return publish_reply{*sequence, std::nullopt};
  // Anything else is a small object too: parsed in a buffer on the stack, without the heap.
  unsigned char scratch[1024];
  boost::json::monotonic_resource memory(scratch, sizeof scratch);
  boost::json::error_code ec;
  const boost::json::value v = boost::json::parse(body, ec, &memory);
  if (ec || !v.is_object()) return protocol_failure("publish acknowledgement is not a JSON object");
  publish_reply reply;
  reply.error = read_api_error(v.get_object());
  if (reply.error) return reply;
  const auto sequence = read_unsigned(v.get_object().if_contains("seq"));
  if (!sequence || *sequence == 0) return protocol_failure("publish acknowledgement without a sequence");
  reply.sequence = *sequence;
  return reply;
}

owner_tag owner_from_headers(std::optional<std::string_view> flow, std::optional<std::string_view> revision) {
  if (!flow || flow->empty() || !revision) return {};
  const auto parsed = parse_unsigned(*revision);
  if (!parsed) return {};
  return {std::string(*flow), *parsed};
}

entry_operation operation_from_header(std::optional<std::string_view> value) noexcept {
  if (value == "DEL") return entry_operation::del;
  if (value == "PURGE") return entry_operation::purge;
  return entry_operation::put;
}

result<std::optional<entry>> interpret_direct_get(const direct_get_reply& reply, std::string_view key,
                                                  std::string_view key_prefix) {
  if (reply.status) {
    if (*reply.status == "404") return std::optional<entry>{};
    return error{errc::server_error, "direct get answered status " + std::string(*reply.status),
                 std::string(reply.description.value_or(""))};
  }
  if (!reply.sequence || !reply.subject)
    return protocol_failure("direct get reply without Nats-Sequence or Nats-Subject");
  if (!is_key_subject(*reply.subject, key_prefix, key)) return protocol_failure("direct get returned another key");
  const auto sequence = parse_unsigned(*reply.sequence);
  if (!sequence) return protocol_failure("direct get reply with a malformed Nats-Sequence");
  entry e;
  e.key = std::string(key);
  e.revision = *sequence;
  e.operation = operation_from_header(reply.operation);
  e.owner = owner_from_headers(reply.owner, reply.owner_revision);
  if (reply.time) {
    auto t = timestamp::parse(*reply.time);
    if (!t) return protocol_failure("direct get reply with a malformed Nats-Time-Stamp");
    e.time = *t;
  }
  e.value = std::string(reply.body);
  return std::optional<entry>(std::move(e));
}

result<std::optional<entry>> interpret_message_get(std::string_view body, std::string_view key,
                                                   std::string_view key_prefix) {
  boost::json::error_code ec;
  const boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return protocol_failure("message get reply is not a JSON object");
  if (auto e = read_api_error(v.get_object())) {
    if (e->err_code == api_code::no_message_found) return std::optional<entry>{};
    return api_failure("message get", *e);
  }
  const auto* message = v.get_object().if_contains("message");
  if (message == nullptr || !message->is_object()) return protocol_failure("message get reply without a message");
  const auto& m = message->get_object();
  const auto* subject = m.if_contains("subject");
  if (subject == nullptr || !subject->is_string() || !is_key_subject(subject->get_string(), key_prefix, key)) {
    return protocol_failure("message get returned another key");
  }
  const auto sequence = read_unsigned(m.if_contains("seq"));
  if (!sequence) return protocol_failure("message get reply without a sequence");
  entry e;
  e.key = std::string(key);
  e.revision = *sequence;
  if (const auto* hdrs = m.if_contains("hdrs"); hdrs != nullptr && hdrs->is_string()) {
    const auto block = decode_base64(hdrs->get_string());
    if (!block) return protocol_failure("message get reply with malformed headers");
    e.operation = operation_from_header(header_in_block(*block, "KV-Operation"));
    e.owner = owner_from_headers(header_in_block(*block, owner_header), header_in_block(*block, owner_revision_header));
  }
  if (const auto* data = m.if_contains("data"); data != nullptr && data->is_string()) {
    auto decoded = decode_base64(data->get_string());
    if (!decoded) return protocol_failure("message get reply with malformed data");
    e.value = std::move(*decoded);
  }
  if (const auto* time = m.if_contains("time"); time != nullptr && time->is_string()) {
    if (auto t = timestamp::parse(time->get_string())) e.time = *t;
  }
  return std::optional<entry>(std::move(e));
}

std::optional<std::string> decode_base64(std::string_view text) {
  static constexpr auto table = [] {
    std::array<signed char, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
    return t;
  }();
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    int values[4];
    int padding = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + static_cast<std::size_t>(k)];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        values[k] = 0;
        ++padding;
        continue;
      }
      if (padding != 0) return std::nullopt;  // data after padding
      values[k] = table[static_cast<unsigned char>(c)];
      if (values[k] < 0) return std::nullopt;
    }
    const unsigned triple = (static_cast<unsigned>(values[0]) << 18) | (static_cast<unsigned>(values[1]) << 12) |
                            (static_cast<unsigned>(values[2]) << 6) | static_cast<unsigned>(values[3]);
    out.push_back(static_cast<char>((triple >> 16) & 0xFF));
    if (padding < 2) out.push_back(static_cast<char>((triple >> 8) & 0xFF));
    if (padding < 1) out.push_back(static_cast<char>(triple & 0xFF));
  }
  return out;
}

}  // namespace flowstore::detail::kv
