#include "model/message.hpp"

namespace flowstore::detail {

std::string quoted(std::string_view s) {
  constexpr std::size_t limit = 64;
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  }
  if (s.size() > limit) out += "...";
  out += "'";
  return out;
}

std::string operation_label::text() const {
  std::string out(verb);
  out += of_flow ? " flow " : " ";
  out += quoted(name);
  return out;
}

}  // namespace flowstore::detail
