// nkey seeds decoded, public keys derived and nonces signed by the library, checked against
// nats.c's own signing and OpenSSL's verification.
#include "nats/nkey.hpp"

#include <catch2/catch.hpp>
#include <nats.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace nkey = flowstore::detail::nkey;

namespace {

// A user nkey made for these tests (no server trusts it).
constexpr const char* test_seed = "SUAGHTPT3ETRFHZC3BV44XPGBH5SIAL3QYGIL43C42B4C57VM3JXTKQLHU";
constexpr const char* test_public_key = "UAVOZ7IVLKTXZH7PTN3YUNBJINIK7JGL7SU5PY6VDK7B6RCUI37UUH3D";

nkey::seed_bytes decoded(std::string_view text) {
  nkey::decoded_seed seed = nkey::decode_user_seed(text);
  REQUIRE(std::holds_alternative<nkey::seed_bytes>(seed));
  return std::get<nkey::seed_bytes>(seed);
}

std::string problem_of(std::string_view text) {
  nkey::decoded_seed seed = nkey::decode_user_seed(text);
  REQUIRE(std::holds_alternative<std::string>(seed));
  return std::get<std::string>(seed);
}

// The raw public key inside a `U…` key: base32 of a prefix byte, 32 bytes and a checksum.
std::vector<unsigned char> raw_public_key(std::string_view encoded) {
  std::vector<unsigned char> out;
  unsigned buffer = 0;
  int bits = 0;
  for (const char c : encoded) {
    buffer = (buffer << 5) | static_cast<unsigned>(c >= 'A' && c <= 'Z' ? c - 'A' : c - '2' + 26);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<unsigned char>(buffer >> (bits - 8)));
      bits -= 8;
    }
  }
  return {out.begin() + 1, out.begin() + 33};
}

bool verifies(std::string_view public_key, std::string_view message, const unsigned char* signature) {
  const auto raw = raw_public_key(public_key);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size()), &EVP_PKEY_free);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  REQUIRE(key);
  REQUIRE(EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr, key.get()) == 1);
  return EVP_DigestVerify(context.get(), signature, 64, reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

}  // namespace

TEST_CASE("nkey: the public key derived from a seed is the one it was made with", "[nkey]") {
  CHECK(nkey::public_key_of(decoded(test_seed)) == test_public_key);
}

TEST_CASE("nkey: a nonce signed by the library is what nats.c signs and verifies with the derived key", "[nkey]") {
  REQUIRE(nats_Open(-1) == NATS_OK);
  const nkey::seed_bytes seed = decoded(test_seed);
  const std::string public_key = nkey::public_key_of(seed);
  for (const std::string nonce : {"YbNh0TqVGz5xwQ", "a", "nonce with spaces and more than sixty-four characters, to be sure"}) {
    const auto ours = nkey::sign(seed, nonce);
    REQUIRE(ours);
    CHECK(verifies(public_key, nonce, ours->data()));
    unsigned char* theirs = nullptr;
    int length = 0;
    REQUIRE(nats_Sign(test_seed, nonce.c_str(), &theirs, &length) == NATS_OK);
    REQUIRE(length == 64);
    CHECK(std::equal(ours->begin(), ours->end(), theirs));
    std::free(theirs);
  }
}

TEST_CASE("nkey: a signature starting with a zero byte is not sendable, any other is", "[nkey]") {
  const nkey::seed_bytes seed = decoded(test_seed);
  // About one nonce in 256 signs to a leading zero; find the first of these nonces that does.
  int zero_leading = 0;
  int others = 0;
  for (int i = 0; i < 4096 && zero_leading == 0; ++i) {
    const auto signature = nkey::sign(seed, "nonce-" + std::to_string(i));
    REQUIRE(signature);
    if ((*signature)[0] == 0) {
      ++zero_leading;
      CHECK_FALSE(nkey::sendable(*signature));
      CHECK(verifies(test_public_key, "nonce-" + std::to_string(i), signature->data()));
    } else {
      ++others;
      CHECK(nkey::sendable(*signature));
    }
  }
  CHECK(zero_leading == 1);
  CHECK(others > 0);
}

TEST_CASE("nkey: what is not a user seed is refused, saying why and never echoing it", "[nkey]") {
  std::string corrupted = test_seed;
  corrupted[20] = corrupted[20] == 'A' ? 'B' : 'A';
  CHECK_THAT(problem_of(corrupted), Catch::Contains("checksum"));
  CHECK_THAT(problem_of(std::string(test_seed) + "A"), Catch::Contains("length"));
  CHECK_THAT(problem_of(std::string(test_seed).substr(0, 57) + "1"), Catch::Contains("base32"));
  CHECK_THAT(problem_of(test_public_key), Catch::Contains("not an nkey seed"));
  CHECK_THAT(problem_of(std::string(test_public_key) + "AA"), Catch::Contains("not an nkey seed"));
  CHECK_THAT(problem_of(""), Catch::Contains("length"));
  CHECK_THAT(problem_of(corrupted), !Catch::Contains(corrupted));
}

TEST_CASE("nkey: the seed is found in a seed file and in a creds file", "[nkey]") {
  CHECK(nkey::find_user_seed(std::string(test_seed) + "\n") == test_seed);
  CHECK(nkey::find_user_seed("\n\n   " + std::string(test_seed) + " \r\n") == test_seed);
  const std::string creds = "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln\n"
                            "------END NATS USER JWT------\n\n************************* IMPORTANT "
                            "*************************\n\n-----BEGIN USER NKEY SEED-----\n" +
                            std::string(test_seed) + "\n------END USER NKEY SEED------\n";
  CHECK(nkey::find_user_seed(creds) == test_seed);
  CHECK_FALSE(nkey::find_user_seed("no seed here\nUAVOZ7\n"));
  CHECK_FALSE(nkey::find_user_seed(""));
}
