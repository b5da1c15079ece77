// How much the consumers of one connection may ask the server for at a time: a bound in bytes
// on what has been requested and has not arrived yet, so that the server never queues more for
// the connection than it allows one client (nats-server drops a client whose pending data
// passes its max_pending, 64 MB by default) and the program's memory stays bounded whatever
// the number of scans. Counted in messages against an estimate of their size that follows the
// largest recent ones (it rises at once and falls slowly). No I/O; strand only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <utility>

namespace flowstore::detail {

class fetch_budget {
 public:
  fetch_budget(std::uint64_t bytes, std::uint64_t first_estimate) noexcept
      : bytes_(bytes), estimate_(std::max<std::uint64_t>(1, first_estimate)) {}

  /// Up to `wanted` messages that may be asked for now; 0 when the budget is spent. Something
  /// may always be asked for when nothing is outstanding, so every consumer progresses.
  std::uint64_t take(std::uint64_t wanted) noexcept {
    const std::uint64_t capacity = std::max<std::uint64_t>(1, bytes_ / estimate_);
    std::uint64_t available = capacity > outstanding_ ? capacity - outstanding_ : 0;
    if (outstanding_ == 0) available = std::max<std::uint64_t>(available, 1);
    const std::uint64_t granted = std::min(wanted, available);
    outstanding_ += granted;
    return granted;
  }

  /// `messages` asked for are no longer outstanding: they arrived, or their fetch ended without
  /// them. Then the waiters are called, oldest first, while there is room.
  void give_back(std::uint64_t messages) {
    outstanding_ -= std::min(messages, outstanding_);
    while (!waiters_.empty() && has_room()) {
      auto waiter = std::move(waiters_.front());
      waiters_.pop_front();
      waiter();
    }
  }

  /// Calls `f` (once) when take() may grant something again.
  void wait(std::function<void()> f) { waiters_.push_back(std::move(f)); }

  /// A message of `bytes` arrived.
  void observe(std::uint64_t bytes) noexcept {
    if (bytes > estimate_) {
      estimate_ = bytes;
    } else {
      estimate_ -= (estimate_ - bytes) / 64;
    }
    estimate_ = std::max<std::uint64_t>(estimate_, 1);
  }

  bool has_room() const noexcept {
    return outstanding_ == 0 || outstanding_ < std::max<std::uint64_t>(1, bytes_ / estimate_);
  }
  std::uint64_t outstanding() const noexcept { return outstanding_; }
  std::uint64_t estimate() const noexcept { return estimate_; }
  std::size_t waiting() const noexcept { return waiters_.size(); }

 private:
  std::uint64_t bytes_;
  std::uint64_t estimate_;
  std::uint64_t outstanding_ = 0;
  std::deque<std::function<void()>> waiters_;
};

}  // namespace flowstore::detail
