#include "support/credentials.hpp"

#include <array>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace flowstore::test {

namespace {

// nkey prefix bytes: the first base32 character of the encoding names the key's role.
constexpr std::uint8_t prefix_seed = 18 << 3;  // 'S'
constexpr std::uint8_t prefix_user = 20 << 3;  // 'U'

// CRC-16/XMODEM (polynomial 0x1021, initial value 0), appended little-endian.
std::uint16_t crc16(const std::vector<std::uint8_t>& bytes) {
  std::uint16_t crc = 0;
  for (const std::uint8_t byte : bytes) {
    crc = static_cast<std::uint16_t>(crc ^ (byte << 8));
    for (int bit = 0; bit < 8; ++bit) {
      crc =
          (crc & 0x8000) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021) : static_cast<std::uint16_t>(crc << 1);
    }
  }
  return crc;
}

// RFC 4648 base32 without padding.
std::string base32(const std::vector<std::uint8_t>& bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (const std::uint8_t byte : bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31];
  return out;
}

std::string encode(std::vector<std::uint8_t> raw) {
  const std::uint16_t crc = crc16(raw);
  raw.push_back(static_cast<std::uint8_t>(crc & 0xff));
  raw.push_back(static_cast<std::uint8_t>(crc >> 8));
  return base32(raw);
}

void run(const std::string& command) {
  if (std::system((command + " >/dev/null 2>&1").c_str()) != 0) throw std::runtime_error("failed: " + command);
}

}  // namespace

nkey_user make_nkey_user() {
  std::array<std::uint8_t, 32> seed{};
  if (RAND_bytes(seed.data(), static_cast<int>(seed.size())) != 1) throw std::runtime_error("RAND_bytes failed");
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()), &EVP_PKEY_free);
  if (!key) throw std::runtime_error("Ed25519 key from seed failed");
  std::array<std::uint8_t, 32> public_key{};
  std::size_t length = public_key.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &length) != 1 || length != public_key.size()) {
    throw std::runtime_error("Ed25519 public key failed");
  }

  nkey_user user;
  std::vector<std::uint8_t> raw_public{prefix_user};
  raw_public.insert(raw_public.end(), public_key.begin(), public_key.end());
  user.public_key = encode(std::move(raw_public));
  // The seed packs both prefixes into its first two bytes.
  std::vector<std::uint8_t> raw_seed{static_cast<std::uint8_t>(prefix_seed | (prefix_user >> 5)),
                                     static_cast<std::uint8_t>((prefix_user & 31) << 3)};
  raw_seed.insert(raw_seed.end(), seed.begin(), seed.end());
  user.seed = encode(std::move(raw_seed));
  return user;
}

tls_files make_tls_files(const std::filesystem::path& dir) {
  tls_files files{dir / "ca.pem", dir / "server.pem", dir / "server-key.pem", dir / "other-ca.pem"};
  const std::string d = dir.string();
  const std::string ec_key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  run("openssl req -x509 " + ec_key + " -days 2 -subj '/CN=flowstore test CA' -keyout " + d + "/ca-key.pem -out " +
      files.ca_cert.string());
  run("openssl req -x509 " + ec_key + " -days 2 -subj '/CN=flowstore other CA' -keyout " + d +
      "/other-ca-key.pem -out " + files.other_ca_cert.string());
  run("openssl req " + ec_key + " -subj '/CN=localhost' -keyout " + files.server_key.string() + " -out " + d +
      "/server.csr");
  std::ofstream(dir / "server.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  run("openssl x509 -req -days 2 -in " + d + "/server.csr -CA " + files.ca_cert.string() + " -CAkey " + d +
      "/ca-key.pem -CAcreateserial -extfile " + d + "/server.ext -out " + files.server_cert.string());
  return files;
}

temp_dir::temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "flowstore-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp");
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace flowstore::test
