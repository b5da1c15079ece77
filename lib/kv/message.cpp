#include "kv/message.hpp"

namespace flowstore::detail::kv {

result<entry> entry_from_message(natsMsg* msg, std::string_view prefix, std::uint64_t& pending) {
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) {
    return error{errc::protocol_error, "a delivered message carries no JetStream metadata"};
  }
  entry e;
  e.revision = meta->Sequence.Stream;
  e.time = timestamp::from_unix(0, meta->Timestamp);
  pending = meta->NumPending;
  jsMsgMetaData_Destroy(meta);

  const std::string_view subject = natsMsg_GetSubject(msg);
  e.key = std::string(subject.substr(std::min(prefix.size(), subject.size())));
  const char* operation = nullptr;
  if (natsMsgHeader_Get(msg, "KV-Operation", &operation) == NATS_OK && operation != nullptr) {
    e.operation = operation_from_header(std::string_view(operation));
  }
  if (const char* data = natsMsg_GetData(msg); data != nullptr) {
    e.value.assign(data, static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  }
  return e;
}

}  // namespace flowstore::detail::kv
