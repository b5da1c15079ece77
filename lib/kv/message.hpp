// Reading a KV entry out of a message an ordered consumer delivered.
#pragma once

#include "kv/protocol.hpp"

#include <nats.h>

#include <cstdint>
#include <string_view>

namespace flowstore::detail::kv {

/// The entry a consumer message carries (key without `prefix`, revision and time from the
/// JetStream metadata, KV-Operation header) and how many messages the consumer still has
/// pending. Errors: errc::protocol_error when the message carries no JetStream metadata.
result<entry> entry_from_message(natsMsg* msg, std::string_view prefix, std::uint64_t& pending);

}  // namespace flowstore::detail::kv
