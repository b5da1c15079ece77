// A received message's parts as views, and its headers read from their raw block.
//
// nats.c's natsMsgHeader_Get lifts every header of a message into a hash of copies on first use
// (about six thousand instructions and a dozen allocations for a direct get's reply, a seventh
// of a whole get). A received message keeps its raw header block right before its data (nats.c
// 3.4 lays out subject, reply, headers and data in one allocation), so the view reads it there,
// checks that it is one, and only when it is not, builds the block from nats.c's lifted headers.
#pragma once

#include "nats/header_block.hpp"

#include <nats.h>

#include <optional>
#include <string>
#include <string_view>

namespace flowstore::detail {

class message_view {
 public:
  explicit message_view(natsMsg* msg);
  message_view(const message_view&) = delete;  // the views may point into rebuilt_
  message_view& operator=(const message_view&) = delete;

  std::string_view subject() const noexcept { return subject_; }
  std::string_view reply() const noexcept { return reply_; }
  std::string_view body() const noexcept { return body_; }
  /// The raw header block, empty when the message has no headers.
  std::string_view headers() const noexcept { return headers_; }

  std::optional<std::string_view> header(std::string_view name) const noexcept {
    return header_in_block(headers_, name);
  }
  header_status status() const noexcept { return status_of_block(headers_); }

 private:
  std::string_view subject_;
  std::string_view reply_;
  std::string_view body_;
  std::string_view headers_;
  std::string rebuilt_;  // the block made from nats.c's lifted headers, when it could not be found
};

}  // namespace flowstore::detail
