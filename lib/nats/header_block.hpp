// NATS header blocks (`NATS/1.0[ code[ description]]\r\nName: value\r\n…\r\n`) read without
// copies. Pure: no nats.c, so the fuzz targets build it too.
#pragma once

#include <optional>
#include <span>
#include <string_view>

namespace flowstore::detail {

/// The status of a header block's first line, "NATS/1.0 404 Message Not Found": code and text.
struct header_status {
  std::string_view code;         // empty when the line has none
  std::string_view description;  // empty when the line has none
};

/// The status of a header block; both parts empty when the block has none or is not one.
header_status status_of_block(std::string_view block) noexcept;

/// A header's value in a block (names compared case-insensitively; the status line is not a
/// header). Surrounding blanks are trimmed.
std::optional<std::string_view> header_in_block(std::string_view block, std::string_view name) noexcept;

/// The values of several headers in one pass: values[i] for names[i] (the first occurrence of
/// each), nullopt for those the block lacks.
void headers_in_block(std::string_view block, std::span<const std::string_view> names,
                      std::span<std::optional<std::string_view>> values) noexcept;

}  // namespace flowstore::detail
