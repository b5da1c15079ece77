#include "nats/nkey.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

namespace flowstore::detail::nkey {

namespace {

// The first base32 character of an encoded key names its role: these prefix bytes give 'S'
// (a seed) and 'U' (a user).
constexpr std::uint8_t prefix_seed = 18 << 3;
constexpr std::uint8_t prefix_user = 20 << 3;

// Bytes that held a secret are overwritten before they are freed.
struct wiped_bytes {
  std::vector<std::uint8_t> bytes;
  ~wiped_bytes() {
    if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
  }
};
struct wiped_text {
  std::string text;
  ~wiped_text() {
    if (!text.empty()) OPENSSL_cleanse(text.data(), text.size());
  }
};

// CRC-16/XMODEM (polynomial 0x1021, initial value 0), as nkeys append it (little-endian).
std::uint16_t crc16(const std::uint8_t* data, std::size_t size) {
  std::uint16_t crc = 0;
  for (std::size_t i = 0; i < size; ++i) {
    crc = static_cast<std::uint16_t>(crc ^ (data[i] << 8));
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021) : static_cast<std::uint16_t>(crc << 1);
    }
  }
  return crc;
}

constexpr char base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

// RFC 4648 base32 without padding; false on a character outside the alphabet.
bool base32_decode(std::string_view text, std::vector<std::uint8_t>& out) {
  unsigned buffer = 0;
  int bits = 0;
  for (const char c : text) {
    int value;
    if (c >= 'A' && c <= 'Z') {
      value = c - 'A';
    } else if (c >= '2' && c <= '7') {
      value = c - '2' + 26;
    } else {
      return false;
    }
    buffer = (buffer << 5) | static_cast<unsigned>(value);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<std::uint8_t>(buffer >> (bits - 8)));
      bits -= 8;
    }
  }
  return true;
}

std::string base32_encode(const std::vector<std::uint8_t>& bytes) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (const std::uint8_t byte : bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += base32_alphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += base32_alphabet[(buffer << (5 - bits)) & 31];
  return out;
}

using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

pkey_ptr key_pair(const seed_bytes& seed) {
  return {EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()), &EVP_PKEY_free};
}

}  // namespace

decoded_seed decode_user_seed(std::string_view encoded) {
  // Two prefix bytes, the seed and two checksum bytes: 36 bytes, 58 characters.
  if (encoded.size() != 58) return std::string("not an nkey seed (wrong length)");
  wiped_bytes raw;
  raw.bytes.reserve(40);
  if (!base32_decode(encoded, raw.bytes)) return std::string("not an nkey seed (a character outside base32)");
  if (raw.bytes.size() != 2 + 32 + 2) return std::string("not an nkey seed (wrong length)");
  const std::size_t body = raw.bytes.size() - 2;
  const auto stored = static_cast<std::uint16_t>(raw.bytes[body] | (raw.bytes[body + 1] << 8));
  if (crc16(raw.bytes.data(), body) != stored) return std::string("not an nkey seed (checksum mismatch)");
  const auto role = static_cast<std::uint8_t>(raw.bytes[0] & 0xf8);
  const auto kind = static_cast<std::uint8_t>(((raw.bytes[0] & 0x07) << 5) | ((raw.bytes[1] & 0xf8) >> 3));
  if (role != prefix_seed) return std::string("not an nkey seed");
  if (kind != prefix_user) return std::string("an nkey seed, but not a user's (SU...)");
  seed_bytes seed{};
  std::copy(raw.bytes.begin() + 2, raw.bytes.begin() + 34, seed.begin());
  return seed;
}

std::optional<std::string> find_user_seed(std::string_view content) {
  while (!content.empty()) {
    const auto end = content.find('\n');
    std::string_view line = content.substr(0, end);
    content = end == std::string_view::npos ? std::string_view() : content.substr(end + 1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
    if (line.starts_with("SU")) return std::string(line);
  }
  return std::nullopt;
}

std::string public_key_of(const seed_bytes& seed) {
  const pkey_ptr key = key_pair(seed);
  std::vector<std::uint8_t> raw{prefix_user};
  raw.resize(1 + 32);
  std::size_t length = 32;
  if (!key || EVP_PKEY_get_raw_public_key(key.get(), raw.data() + 1, &length) != 1 || length != 32) return {};
  const std::uint16_t crc = crc16(raw.data(), raw.size());
  raw.push_back(static_cast<std::uint8_t>(crc & 0xff));
  raw.push_back(static_cast<std::uint8_t>(crc >> 8));
  return base32_encode(raw);
}

std::optional<signature_bytes> sign(const seed_bytes& seed, std::string_view message) {
  const pkey_ptr key = key_pair(seed);
  if (!key) return std::nullopt;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  signature_bytes signature{};
  std::size_t length = signature.size();
  if (!context || EVP_DigestSignInit(context.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(context.get(), signature.data(), &length, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1 ||
      length != signature.size()) {
    return std::nullopt;
  }
  return signature;
}

void wipe(seed_bytes& seed) noexcept { OPENSSL_cleanse(seed.data(), seed.size()); }

decoded_seed read_user_seed(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "nkey seed file '" + path + "' cannot be read";
  wiped_text content;
  // A seed file is a line; a .creds file a few hundred bytes. Read no more than could be either.
  constexpr std::size_t limit = 64 * 1024;
  content.text.resize(limit);
  in.read(content.text.data(), static_cast<std::streamsize>(limit));
  content.text.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) return "nkey seed file '" + path + "' cannot be read";
  std::optional<std::string> found = find_user_seed(content.text);
  if (!found) return "no nkey user seed (a line starting with SU) in '" + path + "'";
  wiped_text text{std::move(*found)};
  decoded_seed seed = decode_user_seed(text.text);
  if (auto* problem = std::get_if<std::string>(&seed)) return "'" + path + "': " + *problem;
  return seed;
}

}  // namespace flowstore::detail::nkey
