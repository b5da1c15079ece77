#include "nats/handles.hpp"

namespace flowstore::detail {
namespace {

thread_local held_messages* release_target = nullptr;

// What a message keeps allocated, roughly: its data plus subject, reply and headers.
std::size_t footprint(natsMsg* msg) noexcept {
  constexpr std::size_t envelope = 256;
  return static_cast<std::size_t>(natsMsg_GetDataLength(msg)) + envelope;
}

}  // namespace

void release_message(natsMsg* msg) noexcept {
  if (msg == nullptr) return;
  if (release_target != nullptr) return release_target->hold(msg);
  natsMsg_Destroy(msg);
}

void held_messages::hold(natsMsg* msg) noexcept {
  try {
    messages_.push_back(msg);
  } catch (...) {
    natsMsg_Destroy(msg);  // out of memory for the list: destroy at once instead
    return;
  }
  bytes_ += footprint(msg);
  if (messages_.size() >= max_messages || bytes_ >= max_bytes) release_all();
}

void held_messages::release_all() noexcept {
  for (natsMsg* msg : messages_) natsMsg_Destroy(msg);
  messages_.clear();  // keeps its capacity
  bytes_ = 0;
}

message_release_scope::message_release_scope(held_messages& target) noexcept
    : previous_(std::exchange(release_target, &target)) {}

message_release_scope::~message_release_scope() { release_target = previous_; }

}  // namespace flowstore::detail
