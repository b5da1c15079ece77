// Fuzz target: the kv layer's reply parsers. An input starting with "NATS/1.0" is a direct-get
// reply (a header block, an empty line, the body); anything else goes to the JSON parsers
// (PubAck or API error, STREAM.MSG.GET reply) and to base64 decoding. No input may crash or
// throw, and what is parsed must agree with an independent reading of the same input.
#include "fuzz_check.hpp"
#include "kv/protocol.hpp"
#include "nats/header_block.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace {

using namespace flowstore;
using namespace flowstore::detail::kv;
using flowstore::detail::header_in_block;

constexpr std::string_view bucket = "flows";
constexpr std::string_view key = "k";

std::string encode_base64(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = bytes.size() - i < 3 ? bytes.size() - i : 3;
    unsigned triple = 0;
    for (std::size_t k = 0; k < 3; ++k) {
      triple <<= 8;
      if (k < n) triple |= static_cast<unsigned char>(bytes[i + k]);
    }
    for (std::size_t k = 0; k < 4; ++k) {
      out.push_back(k <= n ? alphabet[(triple >> (18 - 6 * k)) & 0x3F] : '=');
    }
  }
  return out;
}

void check_header(std::string_view block, std::string_view name) {
  const auto value = header_in_block(block, name);
  if (!value) return;
  // A view into the block, one line's value, trimmed.
  FUZZ_CHECK(value->data() >= block.data() && value->data() + value->size() <= block.data() + block.size(), *value);
  FUZZ_CHECK(value->find("\r\n") == std::string_view::npos, *value);
  FUZZ_CHECK(value->empty() || (value->front() != ' ' && value->back() != ' '), *value);
}

// The status line as nats.c splits it: "NATS/1.0 404 Message Not Found" gives the Status and
// Description headers.
void direct_get(std::string_view input) {
  const std::size_t end_of_headers = input.find("\r\n\r\n");
  const std::string_view block =
      input.substr(0, end_of_headers == std::string_view::npos ? input.size() : end_of_headers + 2);
  const std::string_view body =
      end_of_headers == std::string_view::npos ? std::string_view() : input.substr(end_of_headers + 4);

  std::string_view status_line = block.substr(0, block.find("\r\n"));
  status_line.remove_prefix(std::string_view("NATS/1.0").size());
  while (!status_line.empty() && status_line.front() == ' ') status_line.remove_prefix(1);
  direct_get_reply reply;
  if (!status_line.empty()) {
    const std::size_t space = status_line.find(' ');
    reply.status = status_line.substr(0, space);
    if (space != std::string_view::npos) reply.description = status_line.substr(space + 1);
  }
  for (std::string_view name : {"Nats-Subject", "Nats-Sequence", "Nats-Time-Stamp", "KV-Operation", "nats-subject"}) {
    check_header(block, name);
  }
  reply.subject = header_in_block(block, "Nats-Subject");
  reply.sequence = header_in_block(block, "Nats-Sequence");
  reply.time = header_in_block(block, "Nats-Time-Stamp");
  reply.operation = header_in_block(block, "KV-Operation");
  reply.body = body;

  auto got = interpret_direct_get(reply, key, key_prefix(bucket));
  if (reply.status) {
    if (*reply.status == "404") {
      FUZZ_CHECK(got.has_value() && !got->has_value(), "");
    } else {
      FUZZ_CHECK(!got.has_value() && got.error().code == errc::server_error, "");
    }
    return;
  }
  if (!got) {
    FUZZ_CHECK(got.error().code == errc::protocol_error, got.error().message);
    return;
  }
  FUZZ_CHECK(got->has_value(), "");
  const entry& e = **got;
  FUZZ_CHECK(reply.subject == key_subject(bucket, key), *reply.subject);
  FUZZ_CHECK(e.key == key, e.key);
  FUZZ_CHECK(std::to_string(e.revision) == *reply.sequence || reply.sequence->front() == '0', *reply.sequence);
  FUZZ_CHECK(e.value == body, "");
  FUZZ_CHECK(e.operation == operation_from_header(reply.operation), "");
}

// The err_code a reply's JSON carries, as an int the way the server means it (0 when absent
// or not a number that fits).
int expected_err_code(const boost::json::value& root) {
  const auto* object = root.if_object();
  if (object == nullptr) return 0;
  const auto* error = object->if_contains("error");
  if (error == nullptr || !error->is_object()) return 0;
  const auto* err_code = error->get_object().if_contains("err_code");
  if (err_code == nullptr || !err_code->is_int64()) return 0;
  const std::int64_t value = err_code->get_int64();
  if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max()) return 0;
  return static_cast<int>(value);
}

void json_replies(std::string_view input) {
  boost::json::error_code ec;
  const boost::json::value root = boost::json::parse(input, ec);

  auto ack = parse_publish_reply(input);
  if (!ack) {
    FUZZ_CHECK(ack.error().code == errc::protocol_error, ack.error().message);
  } else if (ack->error) {
    FUZZ_CHECK(!ec, "");
    FUZZ_CHECK(ack->error->err_code == expected_err_code(root), std::to_string(ack->error->err_code));
    const std::error_code code = code_for_api_error(*ack->error);
    FUZZ_CHECK(code.category() == flowstore::error_category(), code.message());
  } else {
    FUZZ_CHECK(ack->sequence != 0, "");
  }

  const std::string subject = key_subject(bucket, key);
  auto got = interpret_message_get(input, key, key_prefix(bucket));
  if (got && got->has_value()) {
    FUZZ_CHECK((*got)->key == key, (*got)->key);
    boost::json::error_code pointer_ec;
    const auto* stored_subject = root.find_pointer("/message/subject", pointer_ec);
    FUZZ_CHECK(stored_subject != nullptr && stored_subject->is_string() && stored_subject->get_string() == subject, "");
  } else if (!got) {
    FUZZ_CHECK(got.error().code != std::error_code(), got.error().message);
  }
}

void base64(std::string_view input) {
  if (const auto decoded = decode_base64(input)) {
    FUZZ_CHECK(input.size() % 4 == 0, "");
    FUZZ_CHECK(decoded->size() <= input.size() / 4 * 3 && decoded->size() + 2 >= input.size() / 4 * 3, "");
    // Non-canonical trailing bits are accepted (as Go's decoder does); the re-encoding is canonical.
    const auto again = decode_base64(encode_base64(*decoded));
    FUZZ_CHECK(again.has_value() && *again == *decoded, "");
  }
  const auto round_trip = decode_base64(encode_base64(input));
  FUZZ_CHECK(round_trip.has_value() && *round_trip == input, "");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.starts_with("NATS/1.0")) {
    direct_get(input);
  } else {
    json_replies(input);
  }
  base64(input);
  return 0;
}
