// The JetStream KV protocol as pure functions: subjects, and the meaning of the server's replies.
// No I/O here, so every rule is unit-tested without a server.
#pragma once

#include <flowstore/error.hpp>
#include <flowstore/timestamp.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flowstore::detail::kv {

/// JetStream API error codes the KV layer acts on.
namespace api_code {
inline constexpr int wrong_last_sequence = 10071;
inline constexpr int stream_exists_with_other_config = 10058;
inline constexpr int stream_not_found = 10059;
inline constexpr int no_message_found = 10037;
inline constexpr int message_too_large = 10054;
inline constexpr int store_failed = 10077;
inline constexpr int jetstream_not_enabled = 10076;
inline constexpr int jetstream_not_enabled_for_account = 10039;
inline constexpr int insufficient_resources = 10023;
}  // namespace api_code

/// The longest bucket name: its stream `KV_<bucket>` may have 255 characters.
inline constexpr std::size_t max_bucket_name_bytes = 252;

/// Bucket names: 1 to max_bucket_name_bytes of `[A-Za-z0-9_-]`.
bool valid_bucket_name(std::string_view bucket) noexcept;

std::string stream_name(std::string_view bucket);                        // KV_<bucket>
std::string key_prefix(std::string_view bucket);                         // $KV.<bucket>.
std::string key_subject(std::string_view bucket, std::string_view key);  // $KV.<bucket>.<key>
std::string direct_get_subject(std::string_view bucket, std::string_view key);
std::string message_get_subject(std::string_view bucket);  // $JS.API.STREAM.MSG.GET.KV_<bucket>

/// An error object of the JetStream API: `{"code":400,"err_code":10071,"description":"..."}`.
struct api_error {
  int code = 0;
  int err_code = 0;
  std::string description;
};

/// The flowstore code for a JetStream API error when the operation gives it no special meaning.
std::error_code code_for_api_error(const api_error& e) noexcept;

/// An error for a JetStream API error reply: `code`, the message `<what>: JetStream error <n>`,
/// the server's description as server_text and its err_code as server_code.
error api_failure(std::error_code code, std::string_view what, const api_error& e);
/// The same with the code code_for_api_error() gives.
error api_failure(std::string_view what, const api_error& e);

/// A publish reply: the new sequence (the key's revision), or the API's error.
struct publish_reply {
  std::uint64_t sequence = 0;
  std::optional<api_error> error;
};

/// Parses a PubAck. Errors: errc::protocol_error when it is neither a PubAck nor an API error.
result<publish_reply> parse_publish_reply(std::string_view body);

enum class entry_operation { put, del, purge };

/// The headers with which the engine marks a key of the runtime configuration as a flow's: the
/// flow's id, and the flow's revision the write was made for, so that an operation never
/// overwrites what an operation on a newer revision of the flow wrote.
inline constexpr std::string_view owner_header = "Flowstore-Flow";
inline constexpr std::string_view owner_revision_header = "Flowstore-Flow-Revision";

/// Which flow wrote an entry, and for which of its revisions; an empty flow id for none.
struct owner_tag {
  std::string flow;
  std::uint64_t revision = 0;
  friend bool operator==(const owner_tag&, const owner_tag&) = default;
};

/// The owner the two headers name (either absent or malformed: none).
owner_tag owner_from_headers(std::optional<std::string_view> flow, std::optional<std::string_view> revision);

/// Reads the KV-Operation header value (absent: put).
entry_operation operation_from_header(std::optional<std::string_view> value) noexcept;

/// One stored entry of a key.
struct entry {
  std::string key;
  std::uint64_t revision = 0;
  entry_operation operation = entry_operation::put;
  timestamp time;
  std::string value;
  owner_tag owner;  // from the owner headers; empty for entries nobody marked
};

/// The parts of a direct-get reply the protocol looks at; absent headers are nullopt.
struct direct_get_reply {
  std::optional<std::string_view> status;       // "404", "408", … ; absent when a message was found
  std::optional<std::string_view> description;  // status text
  std::optional<std::string_view> subject;      // Nats-Subject
  std::optional<std::string_view> sequence;     // Nats-Sequence
  std::optional<std::string_view> time;         // Nats-Time-Stamp
  std::optional<std::string_view> operation;    // KV-Operation
  std::string_view body;
  std::optional<std::string_view> owner{};           // Flowstore-Flow
  std::optional<std::string_view> owner_revision{};  // Flowstore-Flow-Revision
};

/// Interprets a direct get of `key` (subject `key_prefix` + `key`): the entry (a tombstone for a
/// deleted key), nullopt when the key has no message, or an error for any other status or a
/// reply without the promised headers (errc::protocol_error / errc::server_error).
result<std::optional<entry>> interpret_direct_get(const direct_get_reply& reply, std::string_view key,
                                                  std::string_view key_prefix);

/// Interprets a STREAM.MSG.GET reply (JSON with base64 headers and data), the fallback for
/// buckets without direct get. Same outcomes as interpret_direct_get.
result<std::optional<entry>> interpret_message_get(std::string_view body, std::string_view key,
                                                   std::string_view key_prefix);

/// Decodes standard base64 (with padding); nullopt when malformed.
std::optional<std::string> decode_base64(std::string_view text);

}  // namespace flowstore::detail::kv
