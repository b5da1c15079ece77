// Fuzz target: RFC 3339 times. Text that parses formats to text that parses back to the same
// instant (for the years Go can write), and canonical UTC text formats to itself. The first
// 12 bytes, read as Unix seconds and nanoseconds, also make a timestamp that must format
// without a crash and round-trip through the system clock when it is within its range.
#include <flowstore/timestamp.hpp>

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace {

using flowstore::timestamp;

// What to_string() writes for a time in years 0000-9999: its offset as read (`Z` or `±HH:MM`,
// `-00:00` written `+00:00`), the fraction without trailing zeros. Such text must come back
// unchanged.
bool canonical(std::string_view text) {
  if (text.size() < 20) return false;
  std::string_view rest = text;
  if (rest.back() == 'Z') {
    rest.remove_suffix(1);
  } else {
    if (rest.size() < 25 || rest.substr(rest.size() - 6) == "-00:00") return false;
    rest.remove_suffix(6);
  }
  const std::size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return true;
  return rest.back() != '0';
}

void check_formatting(const timestamp& t) {
  FUZZ_CHECK(t.nanoseconds() < 1'000'000'000, "");
  const std::string text = t.to_string();
  FUZZ_CHECK(!text.empty() && (text.back() == 'Z') == !t.utc_offset(), text);
  if (const auto tp = t.to_time_point()) {
    FUZZ_CHECK(timestamp::from_time_point(*tp) == t, text);
  }
  if (!t.json_representable()) return;
  auto back = timestamp::parse(text);
  FUZZ_CHECK(back.has_value(), back ? "" : back.error().message);
  FUZZ_CHECK(*back == t, text);
  FUZZ_CHECK(back->to_string() == text, text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto parsed = timestamp::parse(text)) {
    check_formatting(*parsed);
    if (parsed->json_representable() && canonical(text)) FUZZ_CHECK(parsed->to_string() == text, text);
    // The offset changes the text, never the instant.
    FUZZ_CHECK(parsed->in_utc() == *parsed, text);
  } else {
    FUZZ_CHECK(parsed.error().code == flowstore::errc::invalid_argument, parsed.error().message);
  }

  if (size >= 12) {
    std::int64_t seconds = 0;
    std::uint32_t nanoseconds = 0;
    std::memcpy(&seconds, data, sizeof seconds);
    std::memcpy(&nanoseconds, data + sizeof seconds, sizeof nanoseconds);
    check_formatting(timestamp::from_unix(seconds, nanoseconds % 1'000'000'000));
  }
  return 0;
}
