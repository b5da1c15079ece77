#include "nats/handles.hpp"

namespace flowstore::detail {
namespace {

class nats_status_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "nats"; }

  std::string message(int value) const override { return natsStatus_GetText(static_cast<natsStatus>(value)); }

  std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<natsStatus>(value)) {
      case NATS_IO_ERROR:
      case NATS_CONNECTION_CLOSED:
      case NATS_NO_SERVER:
      case NATS_STALE_CONNECTION:
      case NATS_CONNECTION_DISCONNECTED:
      case NATS_TIMEOUT:
      case NATS_NOT_YET_CONNECTED:
      case NATS_DRAINING:
      case NATS_NO_RESPONDERS:
      case NATS_SLOW_CONSUMER:
      case NATS_MISMATCH:
      case NATS_MISSED_HEARTBEAT:
      case NATS_NO_MEMORY:
        return condition::transient;
      case NATS_CONNECTION_AUTH_FAILED:
      case NATS_NOT_PERMITTED:
      case NATS_NOT_FOUND:
      case NATS_ADDRESS_MISSING:
      case NATS_INVALID_SUBJECT:
      case NATS_INVALID_ARG:
      case NATS_INVALID_TIMEOUT:
      case NATS_MAX_PAYLOAD:
      case NATS_SECURE_CONNECTION_WANTED:
      case NATS_SECURE_CONNECTION_REQUIRED:
        return condition::invalid;
      default:
        return condition::fatal;
    }
  }
};

}  // namespace

const std::error_category& nats_status_category() noexcept {
  static const nats_status_category_impl instance;
  return instance;
}

std::error_code code_from_status(natsStatus status) noexcept {
  switch (status) {
    case NATS_TIMEOUT:
      return errc::timeout;
    case NATS_CONNECTION_CLOSED:
      return errc::closed;
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_STALE_CONNECTION:
    case NATS_IO_ERROR:
      return errc::disconnected;
    case NATS_NO_SERVER:
    case NATS_NOT_YET_CONNECTED:
      return errc::connection_failed;
    case NATS_NO_RESPONDERS:
      return errc::no_responders;
    case NATS_MAX_PAYLOAD:
      return errc::too_large;
    case NATS_CONNECTION_AUTH_FAILED:
      return errc::authentication_failed;
    case NATS_NOT_PERMITTED:
      return errc::permission_denied;
    case NATS_INVALID_SUBJECT:
      return errc::invalid_id;
    default:
      return {static_cast<int>(status), nats_status_category()};
  }
}

std::string without_source_location(std::string_view text) {
  if (text.starts_with('(')) {
    const auto end = text.find("): ");
    if (end != std::string_view::npos && text.substr(0, end).find(".c:") != std::string_view::npos) {
      text.remove_prefix(end + 3);
    }
  }
  return std::string(text);
}

std::string last_error_text() {
  const char* last = nats_GetLastError(nullptr);
  return without_source_location(last != nullptr ? last : "");
}

error error_from_status(natsStatus status, std::string operation) {
  // nats.c keeps a per-thread description of the last error; it can carry server text.
  std::string detail = last_error_text();
  std::string message = std::move(operation) + ": " + natsStatus_GetText(status);
  if (detail == natsStatus_GetText(status)) detail.clear();
  return {code_from_status(status), std::move(message), std::move(detail)};
}

}  // namespace flowstore::detail
