// The JetStream API requests the kv layer makes itself, as pure functions: stream info and
// create (binding a bucket), ephemeral pull consumers (create, fetch, delete), and the metadata
// the server puts on each delivered message. No I/O here; every format is unit-tested. The
// formats are those of nats-server 2.9 (docs/jetstream-api.md lists them with their sources).
#pragma once

#include <flowstore/error.hpp>

#include "kv/protocol.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowstore::detail::kv {

// --- Streams -------------------------------------------------------------------------------------

std::string stream_info_subject(std::string_view stream);    // $JS.API.STREAM.INFO.<stream>
std::string stream_create_subject(std::string_view stream);  // $JS.API.STREAM.CREATE.<stream>

/// What the kv layer reads from a stream's info.
struct stream_info {
  std::vector<std::string> subjects;
  std::string retention;  // "limits", "interest" or "workqueue"
  std::string storage;    // "file" or "memory"
  bool sealed = false;
  bool allow_direct = false;
  std::int64_t max_msgs_per_subject = -1;
  std::int64_t num_replicas = 1;
  std::int64_t max_msg_size = -1;
  std::uint64_t last_seq = 0;  // state.last_seq, as the stream leader reports it
};

/// A stream info (or stream create) reply: the info, or the API's error.
struct stream_info_reply {
  std::optional<stream_info> info;
  std::optional<api_error> error;
};
result<stream_info_reply> parse_stream_info_reply(std::string_view body);

/// The settings of a bucket's stream, as the NATS clients create it.
struct bucket_stream_config {
  std::string bucket;
  std::string description;
  int history = 1;
  int replicas = 1;
  bool memory_storage = false;
};

/// The body of $JS.API.STREAM.CREATE.KV_<bucket>: the stream config nats.c and nats.go send for a
/// KV bucket (limits retention, discard new, one subject per key, direct get, rollups, no deletes
/// of messages through the API).
std::string stream_create_request(const bucket_stream_config& c);

// --- Ephemeral pull consumers --------------------------------------------------------------------

enum class consumer_start { all, last_per_subject, new_only, from_sequence };

struct consumer_config {
  std::string stream;
  std::string filter_subject;
  consumer_start start = consumer_start::all;
  std::uint64_t start_sequence = 0;  // for from_sequence: the first stream sequence delivered
  std::chrono::milliseconds inactive_threshold{std::chrono::minutes(5)};
};

std::string consumer_create_subject(std::string_view stream);  // $JS.API.CONSUMER.CREATE.<stream>
/// $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>
std::string consumer_next_subject(std::string_view stream, std::string_view consumer);
/// $JS.API.CONSUMER.DELETE.<stream>.<consumer>
std::string consumer_delete_subject(std::string_view stream, std::string_view consumer);

/// The body of a consumer create: ack none, instant replay, one replica in memory.
std::string consumer_create_request(const consumer_config& c);

/// What a consumer create reply says.
struct consumer_created {
  std::string name;
  std::uint64_t num_pending = 0;           // messages it will deliver, as its host sees the stream
  std::uint64_t delivered_stream_seq = 0;  // the stream sequence it starts after
};
struct consumer_create_reply {
  std::optional<consumer_created> created;
  std::optional<api_error> error;
};
result<consumer_create_reply> parse_consumer_create_reply(std::string_view body);

/// The body of a fetch: `batch` messages at most, waiting at most `expires`, with an idle
/// heartbeat every `heartbeat` while it waits (0: none). The server needs expires >= 2 heartbeats.
std::string pull_request(std::uint64_t batch, std::chrono::milliseconds expires, std::chrono::milliseconds heartbeat);

/// The metadata of a delivered message, from its reply subject
/// `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time ns>.<pending>`.
struct delivery_info {
  std::string_view stream;
  std::string_view consumer;
  std::uint64_t stream_seq = 0;
  std::uint64_t consumer_seq = 0;
  std::int64_t time_ns = 0;
  std::uint64_t pending = 0;  // messages left for the consumer after this one
};
std::optional<delivery_info> parse_delivery_subject(std::string_view reply) noexcept;

/// What a status message on a fetch's reply subject means for the fetch.
enum class pull_status {
  heartbeat,         // 100 Idle Heartbeat: the request still waits
  expired,           // 408 Request Timeout, 404 No Messages: the request is over
  batch_bytes,       // 409 Message Size Exceeds MaxBytes: the request is over
  consumer_gone,     // 409 Consumer Deleted: recreate the consumer
  leadership,        // 409 Leadership Change: the request is over; the consumer lives on
  too_many_waiting,  // 409 Exceeded MaxWaiting: the request was refused; try again later
  refused,           // any other status: the request was refused
};
pull_status classify_pull_status(int code, std::string_view description) noexcept;

}  // namespace flowstore::detail::kv
