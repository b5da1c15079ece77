#include "nats/header_block.hpp"

namespace flowstore::detail {
namespace {

constexpr std::string_view version_line = "NATS/1.0";

bool same_name(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trimmed(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

header_status status_of_block(std::string_view block) noexcept {
  header_status status;
  if (!block.starts_with(version_line)) return status;
  std::string_view line = block.substr(version_line.size(), block.find("\r\n") - version_line.size());
  line = trimmed(line);
  const auto space = line.find(' ');
  status.code = line.substr(0, space);
  if (space != std::string_view::npos) status.description = trimmed(line.substr(space + 1));
  return status;
}

void headers_in_block(std::string_view block, std::span<const std::string_view> names,
                      std::span<std::optional<std::string_view>> values) noexcept {
  for (auto& v : values) v.reset();
  std::size_t found = 0;
  std::size_t line_start = block.find('\n');  // past the status line
  while (line_start != std::string_view::npos && found < names.size()) {
    ++line_start;
    const std::size_t line_end = block.find('\n', line_start);
    std::string_view line =
        block.substr(line_start, line_end == std::string_view::npos ? std::string_view::npos : line_end - line_start);
    if (line.ends_with('\r')) line.remove_suffix(1);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      const std::string_view name = trimmed(line.substr(0, colon));
      for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
        if (!values[i] && same_name(name, names[i])) {
          values[i] = trimmed(line.substr(colon + 1));
          ++found;
          break;
        }
      }
    }
    line_start = line_end;
  }
}

std::optional<std::string_view> header_in_block(std::string_view block, std::string_view name) noexcept {
  std::optional<std::string_view> value;
  headers_in_block(block, std::span<const std::string_view>(&name, 1),
                   std::span<std::optional<std::string_view>>(&value, 1));
  return value;
}

}  // namespace flowstore::detail
