// A TLS listener's settings as plain data: the configuration fills them (file paths already
// absolute), net/tls.hpp builds an OpenSSL context from them. No OpenSSL types here.
#pragma once

#include <cstdint>
#include <string>

namespace hermod::net {

enum class ClientCertificates : std::uint8_t { off, optional, required };

struct TlsSettings {
  std::string cert_file;          // PEM: the certificate, then its chain
  std::string key_file;           // PEM private key
  std::string key_password_file;  // first line: the key's passphrase; empty: none
  std::string ca_file;            // CAs that verify client certificates (PEM)
  std::string ca_dir;             // or a hashed directory of them (c_rehash)
  std::string crl_file;           // PEM CRLs: certificates they list are refused
  ClientCertificates client_certificates = ClientCertificates::off;
  std::string min_version = "1.2";  // "1.2" | "1.3"
  std::string ciphers;              // TLS 1.2 list, OpenSSL syntax; empty: OpenSSL's default
  std::string ciphersuites;         // TLS 1.3; empty: OpenSSL's default
};

}  // namespace hermod::net
