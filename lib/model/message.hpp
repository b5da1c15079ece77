// Helpers for the human part of error messages.
#pragma once

#include <string>
#include <string_view>

namespace flowstore::detail {

/// A user-supplied value quoted for a message: at most 64 bytes, control characters shown as
/// '?', so that a hostile id cannot flood or forge log lines.
std::string quoted(std::string_view s);

/// What an error message names: an operation on a flow ("get flow 'x'") or on something else
/// ("list flows in bucket 'b'"). It holds views, and is formatted only when an error is made,
/// not on every call. The views must outlive it (they point into the operation's arguments).
struct operation_label {
  std::string_view verb;  // "get", "history of", "list flows in bucket", "open bucket"
  std::string_view name;  // the flow id or bucket name, quoted in the text
  bool of_flow = true;    // "<verb> flow '<name>'", else "<verb> '<name>'"

  std::string text() const;
  /// text() followed by `rest`: `error{code, what + ": no such flow"}`.
  friend std::string operator+(const operation_label& l, std::string_view rest) {
    std::string out = l.text();
    out.append(rest);
    return out;
  }
};

}  // namespace flowstore::detail
