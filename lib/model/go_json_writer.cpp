#include "model/go_json_writer.hpp"

#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace flowstore::detail {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";

// Bytes Go writes as they are: printable ASCII except `"`, `\` and the HTML-sensitive <, >, &.
constexpr auto plain_ascii = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&';
  return plain;
}();

// Whether all 8 bytes of `word` are plain_ascii, tested at once (bit tricks on 64-bit words):
// long values such as configs are mostly clean runs.
constexpr bool all_plain(std::uint64_t word) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  // A byte below n (n <= 128) leaves its high bit set in (word - n) while clear in word.
  auto any_below = [](std::uint64_t w, std::uint64_t n) { return ((w - ones * n) & ~w & highs) != 0; };
  auto any_equal = [&](unsigned char c) { return any_below(word ^ (ones * c), 1); };
  return (word & highs) == 0 && !any_below(word, 0x20) && !any_equal('"') && !any_equal('\\') && !any_equal('<') &&
         !any_equal('>') && !any_equal('&');
}

// How many of the bytes from `p` on, up to `end`, need no escaping, 16 at a time (SSE2): a
// signed compare below 0x20 finds control bytes and every byte of 0x80 and up at once.
std::size_t plain_prefix(const char* p, const char* end) noexcept {
  const char* const begin = p;
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(0x20);
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i less = _mm_set1_epi8('<');
  const __m128i greater = _mm_set1_epi8('>');
  const __m128i ampersand = _mm_set1_epi8('&');
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i special = _mm_cmplt_epi8(v, space);
    special = _mm_or_si128(special, _mm_cmpeq_epi8(v, quote));
    special = _mm_or_si128(special, _mm_cmpeq_epi8(v, backslash));
    special = _mm_or_si128(special, _mm_cmpeq_epi8(v, less));
    special = _mm_or_si128(special, _mm_cmpeq_epi8(v, greater));
    special = _mm_or_si128(special, _mm_cmpeq_epi8(v, ampersand));
    const int mask = _mm_movemask_epi8(special);
    if (mask != 0)
      return static_cast<std::size_t>(p - begin) + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    p += 16;
  }
#endif
  while (end - p >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    if (!all_plain(word)) break;
    p += 8;
  }
  while (p < end && plain_ascii[static_cast<unsigned char>(*p)]) ++p;
  return static_cast<std::size_t>(p - begin);
}

// Length of the valid UTF-8 sequence starting at s[i] (2..4), or 0 when it is invalid as
// Go's utf8.DecodeRune judges it: overlong forms, surrogates and values above U+10FFFF.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  std::size_t length;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    if (b0 == 0xE0) low = 0xA0;   // overlong
    if (b0 == 0xED) high = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    if (b0 == 0xF0) low = 0x90;   // overlong
    if (b0 == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return length;
}

}  // namespace

void go_json_writer::string(std::string_view s) {
  out_.push_back('"');
  std::size_t clean_from = 0;  // start of the run of bytes that need no escaping
  auto flush = [&](std::size_t end) { out_.append(s.data() + clean_from, end - clean_from); };
  for (std::size_t i = 0; i < s.size();) {
    i += plain_prefix(s.data() + i, s.data() + s.size());
    if (i == s.size()) break;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      flush(i);
      switch (c) {
        case '"':
          out_.append("\\\"");
          break;
        case '\\':
          out_.append("\\\\");
          break;
        case '\b':
          out_.append("\\b");
          break;
        case '\f':
          out_.append("\\f");
          break;
        case '\n':
          out_.append("\\n");
          break;
        case '\r':
          out_.append("\\r");
          break;
        case '\t':
          out_.append("\\t");
          break;
        default:
          out_.append("\\u00");
          out_.push_back(hex_digits[c >> 4]);
          out_.push_back(hex_digits[c & 0xF]);
      }
      clean_from = ++i;
      continue;
    }
    const std::size_t length = utf8_sequence_length(s, i);
    if (length == 0) {
      flush(i);
      out_.append("\\ufffd");
      clean_from = ++i;
      continue;
    }
    // U+2028 and U+2029 (E2 80 A8/A9) break JavaScript string literals; Go escapes them.
    if (length == 3 && c == 0xE2 && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(s[i + 2]) & 0xFE) == 0xA8) {
      flush(i);
      out_.append(static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029");
      clean_from = i + 3;
    }
    i += length;
  }
  flush(s.size());
  out_.push_back('"');
}

void go_json_writer::number(std::int64_t v) {
  char buffer[24];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  out_.append(buffer, end);
}

void go_json_writer::number(std::uint64_t v) {
  char buffer[24];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  out_.append(buffer, end);
}

bool go_json_writer::number(double v) {
  if (!std::isfinite(v)) return false;
  // Go: shortest round-trip digits, in plain notation unless the magnitude is below 1e-6 or
  // at least 1e21, and then with a one-digit negative exponent where possible ("1e-7").
  const double magnitude = std::fabs(v);
  const bool scientific = magnitude != 0 && (magnitude < 1e-6 || magnitude >= 1e21);
  if (!scientific && magnitude >= 0x1p53) {
    large_integer(v);
    return true;
  }
  char buffer[400];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v,
                                       scientific ? std::chars_format::scientific : std::chars_format::fixed);
  std::size_t length = static_cast<std::size_t>(end - buffer);
  if (scientific && length >= 4 && buffer[length - 4] == 'e' && buffer[length - 3] == '-' &&
      buffer[length - 2] == '0') {
    buffer[length - 2] = buffer[length - 1];
    --length;
  }
  out_.append(buffer, length);
  return true;
}

void go_json_writer::large_integer(double v) {
  // Every double from 2^53 up is an integer. libstdc++'s fixed format writes its exact value
  // (123456789012345683968); Go writes the shortest digits that read back as the same double,
  // padded with zeros (123456789012345680000).
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, std::fabs(v), std::chars_format::scientific);
  const std::string_view text(buffer, static_cast<std::size_t>(end - buffer));  // d.ddde+XX
  const std::size_t e = text.find('e');
  int exponent = 0;
  std::from_chars(text.data() + e + 2, text.data() + text.size(), exponent);  // after "e+"
  if (v < 0) out_.push_back('-');
  out_.push_back(text[0]);
  const std::string_view fraction = e > 2 ? text.substr(2, e - 2) : std::string_view();
  out_.append(fraction);
  // At least 2^53 means an exponent of 15 or more, and the shortest digits of an integer
  // are never more than its own digits.
  out_.append(static_cast<std::size_t>(exponent) - fraction.size(), '0');
}

bool go_json_writer::value(const boost::json::value& v, std::size_t depth_left) {
  switch (v.kind()) {
    case boost::json::kind::null:
      out_.append("null");
      return true;
    case boost::json::kind::bool_:
      out_.append(v.get_bool() ? "true" : "false");
      return true;
    case boost::json::kind::int64:
      number(v.get_int64());
      return true;
    case boost::json::kind::uint64:
      number(v.get_uint64());
      return true;
    case boost::json::kind::double_:
      return number(v.get_double());
    case boost::json::kind::string:
      string(v.get_string());
      return true;
    case boost::json::kind::array: {
      if (depth_left == 0) return false;
      out_.push_back('[');
      bool first = true;
      for (const auto& element : v.get_array()) {
        if (!first) out_.push_back(',');
        first = false;
        if (!value(element, depth_left - 1)) return false;
      }
      out_.push_back(']');
      return true;
    }
    case boost::json::kind::object:
      return object(v.get_object(), depth_left);
  }
  return false;
}

bool go_json_writer::object(const boost::json::object& o, std::size_t depth_left) {
  if (depth_left == 0) return false;
  // Go writes map keys in byte order. Small objects need no heap for that, and objects already
  // in order (decoded from Go's own output) no sort.
  boost::container::small_vector<const boost::json::key_value_pair*, 16> members;
  members.reserve(o.size());
  for (const auto& member : o) members.push_back(&member);
  const auto by_key = [](const auto* a, const auto* b) { return a->key() < b->key(); };
  if (!std::is_sorted(members.begin(), members.end(), by_key)) std::sort(members.begin(), members.end(), by_key);
  out_.push_back('{');
  bool first = true;
  for (const auto* member : members) {
    if (!first) out_.push_back(',');
    first = false;
    string(member->key());
    out_.push_back(':');
    if (!value(member->value(), depth_left - 1)) return false;
  }
  out_.push_back('}');
  return true;
}

}  // namespace flowstore::detail
