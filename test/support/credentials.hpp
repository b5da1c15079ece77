// Credentials made at test time for servers that require authentication or TLS: an nkey user
// key pair, and a CA with a server certificate for 127.0.0.1 (plus an unrelated CA that must
// not be trusted). Nothing is checked in; every run makes its own.
#pragma once

#include <filesystem>
#include <string>

namespace flowstore::test {

/// An nkey user: public key ("U…", 56 characters) and seed ("SU…", 58 characters).
struct nkey_user {
  std::string public_key;
  std::string seed;
};

/// A fresh random Ed25519 key pair in the nkey text encoding (base32 of a prefix byte, the
/// key and a CRC-16), as nats-server and nats.c expect it.
nkey_user make_nkey_user();

/// PEM files for a TLS server on 127.0.0.1 / localhost, written into `dir` by the openssl
/// command-line tool.
struct tls_files {
  std::filesystem::path ca_cert;  // the CA that signed the server certificate
  std::filesystem::path server_cert;
  std::filesystem::path server_key;
  std::filesystem::path other_ca_cert;  // a CA that signed nothing the server uses
};

tls_files make_tls_files(const std::filesystem::path& dir);

/// A temporary directory removed with everything in it when the object goes.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace flowstore::test
