// nkey user authentication done by the library instead of nats.c: the seed text decoded, the
// public key derived from it, and the server's nonce signed, with Ed25519 from OpenSSL.
//
// Why not nats.c's own: nats.c 3.4.1 base64-encodes the signature with a function that treats
// its input as a C string, so a signature whose first byte is zero (one nonce in 256) is sent
// as no signature at all and the server refuses the connection. And nats.c cannot derive the
// public key from a seed.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace flowstore::detail::nkey {

/// The 32 bytes an Ed25519 key pair is made from.
using seed_bytes = std::array<std::uint8_t, 32>;
/// An Ed25519 signature.
using signature_bytes = std::array<std::uint8_t, 64>;

/// A user seed decoded, or why it cannot be.
using decoded_seed = std::variant<seed_bytes, std::string>;

/// Decodes a user seed (`SU…`: base32 of two prefix bytes, the 32 seed bytes and a CRC-16).
/// The error names what is wrong (encoding, checksum, not a user seed) and never the text.
decoded_seed decode_user_seed(std::string_view encoded);

/// The user seed in a file's content: the first line that, after leading blanks, starts with
/// `SU` (a seed file, or the seed section of a `.creds` file). Trailing blanks and a carriage
/// return are cut. nullopt when there is none.
std::optional<std::string> find_user_seed(std::string_view content);

/// The public key (`U…`, 56 characters) of a seed.
std::string public_key_of(const seed_bytes& seed);

/// The Ed25519 signature of `message` with the key pair of `seed`; nullopt if OpenSSL fails.
std::optional<signature_bytes> sign(const seed_bytes& seed, std::string_view message);

/// Whether nats.c 3.4.1 can send the signature (see above): its first byte is not zero.
inline bool sendable(const signature_bytes& signature) noexcept { return signature[0] != 0; }

/// Overwrites a seed that is no longer needed.
void wipe(seed_bytes& seed) noexcept;

/// The seed file's user seed, decoded; the error names the file and what is wrong.
decoded_seed read_user_seed(const std::string& path);

}  // namespace flowstore::detail::nkey
