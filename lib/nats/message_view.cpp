#include "nats/message_view.hpp"

#include <cstdlib>
#include <cstring>

namespace flowstore::detail {
namespace {

constexpr std::string_view version_line = "NATS/1.0";

}  // namespace

message_view::message_view(natsMsg* msg) {
  const char* subject = natsMsg_GetSubject(msg);
  const char* reply = natsMsg_GetReply(msg);
  const char* data = natsMsg_GetData(msg);
  subject_ = subject != nullptr ? subject : "";
  reply_ = reply != nullptr ? reply : "";
  body_ = data != nullptr ? std::string_view(data, static_cast<std::size_t>(natsMsg_GetDataLength(msg)))
                          : std::string_view();
  if (subject == nullptr || data == nullptr) return;
  // Where nats.c put the block: after the subject's (or the reply's) terminating NUL, up to
  // the NUL it ends with, right before the data. Trusted only when it reads as one.
  const char* after = reply != nullptr ? reply + reply_.size() + 1 : subject + subject_.size() + 1;
  if (after < data && data - after >= static_cast<std::ptrdiff_t>(version_line.size() + 1) && data[-1] == '\0') {
    const std::string_view block(after, static_cast<std::size_t>(data - after - 1));
    if (block.starts_with(version_line) && block.find('\0') == std::string_view::npos) {
      headers_ = block;
      return;
    }
  }
  // No block there (none received, or a message made here with headers set): the headers nats.c
  // holds, if any.
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &count) != NATS_OK) return;
  const char* value = nullptr;
  rebuilt_ = std::string(version_line);
  if (natsMsgHeader_Get(msg, "Status", &value) == NATS_OK && value != nullptr) {
    rebuilt_.append(" ").append(value);
    if (natsMsgHeader_Get(msg, "Description", &value) == NATS_OK && value != nullptr)
      rebuilt_.append(" ").append(value);
  }
  rebuilt_ += "\r\n";
  for (int i = 0; i < count; ++i) {
    const std::string_view key = keys[i];
    if (key == "Status" || key == "Description") continue;
    const char** values = nullptr;
    int n = 0;
    if (natsMsgHeader_Values(msg, keys[i], &values, &n) != NATS_OK) continue;
    for (int k = 0; k < n; ++k) rebuilt_.append(key).append(": ").append(values[k]).append("\r\n");
    std::free(values);
  }
  std::free(keys);
  rebuilt_ += "\r\n";
  headers_ = rebuilt_;
}

}  // namespace flowstore::detail
