#include <flowstore/error.hpp>

#include <string>

namespace flowstore {
namespace {

class error_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "flowstore"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::validation_failed:
        return "flow failed validation";
      case errc::invalid_id:
        return "invalid flow id or pattern";
      case errc::not_found:
        return "flow not found";
      case errc::already_exists:
        return "flow already exists";
      case errc::conflict:
        return "flow was changed concurrently";
      case errc::too_large:
        return "flow too large";
      case errc::invalid_argument:
        return "invalid argument";
      case errc::permission_denied:
        return "permission denied";
      case errc::authentication_failed:
        return "authentication failed";
      case errc::already_running:
        return "operation already running";
      case errc::invalid_state:
        return "flow is not in a state that allows the operation";
      case errc::timeout:
        return "operation timed out";
      case errc::disconnected:
        return "disconnected from the server";
      case errc::no_responders:
        return "no responders";
      case errc::jetstream_unavailable:
        return "JetStream unavailable";
      case errc::connection_failed:
        return "could not connect";
      case errc::cancelled:
        return "operation cancelled";
      case errc::closed:
        return "closed";
      case errc::corrupt_data:
        return "stored document is not a valid flow";
      case errc::encode_failed:
        return "flow could not be encoded";
      case errc::server_error:
        return "server error";
      case errc::protocol_error:
        return "protocol error";
      case errc::configuration_error:
        return "configuration error";
    }
    return "unknown flowstore error " + std::to_string(value);
  }

  std::error_condition default_error_condition(int value) const noexcept override {
    if (value >= static_cast<int>(errc::corrupt_data)) return condition::fatal;
    if (value >= static_cast<int>(errc::timeout)) return condition::transient;
    return condition::invalid;
  }
};

class condition_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "flowstore.condition"; }

  std::string message(int value) const override {
    switch (static_cast<condition>(value)) {
      case condition::invalid:
        return "invalid input; retrying cannot help";
      case condition::transient:
        return "temporarily unavailable; a retry may succeed";
      case condition::fatal:
        return "data or programming error";
    }
    return "unknown condition " + std::to_string(value);
  }

  // Codes from other categories (for instance std::errc from the system) are not ours to
  // classify by their value; ask their own category first, and fall back to fatal.
  bool equivalent(const std::error_code& code, int value) const noexcept override {
    return condition_of(code) == static_cast<condition>(value);
  }
};

// JetStream's err_codes keep their value; what they mean for a caller follows the errc the
// library maps each to where it meets it (docs/errors.md).
class jetstream_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "flowstore.jetstream"; }

  std::string message(int value) const override {
    switch (static_cast<jetstream_errc>(value)) {
      case jetstream_errc::bad_request:
        return "bad request";
      case jetstream_errc::cluster_no_peers:
        return "not enough servers for the replicas";
      case jetstream_errc::cluster_not_available:
        return "JetStream system temporarily unavailable";
      case jetstream_errc::insufficient_resources:
        return "insufficient resources";
      case jetstream_errc::no_message_found:
        return "no message found";
      case jetstream_errc::not_enabled_for_account:
        return "JetStream not enabled for account";
      case jetstream_errc::message_exceeds_maximum:
        return "message size exceeds maximum allowed";
      case jetstream_errc::stream_name_in_use:
        return "stream name already in use with a different configuration";
      case jetstream_errc::stream_not_found:
        return "stream not found";
      case jetstream_errc::wrong_last_sequence:
        return "wrong last sequence";
      case jetstream_errc::replicas_not_supported:
        return "replicas > 1 not supported in non-clustered mode";
      case jetstream_errc::not_enabled:
        return "JetStream not enabled";
      case jetstream_errc::store_failed:
        return "storing the message failed";
    }
    return "JetStream error " + std::to_string(value);
  }

  std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<jetstream_errc>(value)) {
      case jetstream_errc::no_message_found:
      case jetstream_errc::message_exceeds_maximum:
      case jetstream_errc::wrong_last_sequence:
        return condition::invalid;
      case jetstream_errc::cluster_not_available:
      case jetstream_errc::insufficient_resources:
      case jetstream_errc::not_enabled_for_account:
      case jetstream_errc::not_enabled:
      case jetstream_errc::store_failed:
        return condition::transient;
      case jetstream_errc::bad_request:
      case jetstream_errc::cluster_no_peers:
      case jetstream_errc::stream_name_in_use:
      case jetstream_errc::stream_not_found:
      case jetstream_errc::replicas_not_supported:
        break;
    }
    return condition::fatal;
  }
};

}  // namespace

const std::error_category& jetstream_category() noexcept {
  static const jetstream_category_impl instance;
  return instance;
}

std::error_code make_error_code(jetstream_errc e) noexcept { return {static_cast<int>(e), jetstream_category()}; }

const std::error_category& error_category() noexcept {
  static const error_category_impl instance;
  return instance;
}

const std::error_category& condition_category() noexcept {
  static const condition_category_impl instance;
  return instance;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

std::error_condition make_error_condition(condition c) noexcept { return {static_cast<int>(c), condition_category()}; }

condition condition_of(const std::error_code& ec) noexcept {
  const std::error_condition own = ec.category().default_error_condition(ec.value());
  if (own.category() == condition_category()) {
    return static_cast<condition>(own.value());
  }
  return condition::fatal;
}

std::string error::what() const {
  if (server_text.empty()) return message;
  return message + " (server: " + server_text + ")";
}

}  // namespace flowstore
