#include "nats/handles.hpp"

#include <vector>

namespace flowstore::detail {
namespace {

struct deferred_releases {
  bool open = false;
  std::vector<natsMsg*> messages;
};

thread_local deferred_releases deferred;

}  // namespace

void release_message(natsMsg* msg) noexcept {
  if (msg == nullptr) return;
  if (deferred.open) {
    try {
      deferred.messages.push_back(msg);
      return;
    } catch (...) {
      // Out of memory for the list: release at once instead.
    }
  }
  natsMsg_Destroy(msg);
}

message_release_batch::message_release_batch() noexcept : outermost_(!deferred.open) { deferred.open = true; }

message_release_batch::~message_release_batch() {
  if (!outermost_) return;
  deferred.open = false;
  for (natsMsg* msg : deferred.messages) natsMsg_Destroy(msg);
  deferred.messages.clear();  // keeps its capacity for the next batch on this thread
}

}  // namespace flowstore::detail
