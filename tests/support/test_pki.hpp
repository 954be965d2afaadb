// Certificates made on the fly for TLS tests: a CA, certificates it signs (server or client, with
// chosen names and validity), written as PEM files into a private temporary directory that is
// removed with the TestPki. EC P-256 keys: a few milliseconds each, where RSA takes seconds.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace rcache::test {

class TestPki {
 public:
  struct Issued {
    std::string cert_file;  // PEM certificate
    std::string key_file;   // PEM private key (unencrypted unless a password was given)
  };
  struct Spec {
    std::string common_name = "localhost";
    std::vector<std::string> dns = {"localhost"};
    std::vector<std::string> ips = {"127.0.0.1", "::1"};
    long not_before_days = -1;  // relative to now
    long not_after_days = 30;
    bool client = false;       // extendedKeyUsage clientAuth instead of serverAuth
    std::string key_password;  // non-empty: the key file is encrypted with it (AES-256-CBC)
    // Signed by a new intermediate CA (signed by this CA, valid over the days given) instead of
    // by this CA directly; cert_file then holds the certificate followed by the intermediate.
    bool via_intermediate = false;
    long intermediate_not_before_days = -1;
    long intermediate_not_after_days = 30;
  };

  // A fresh CA named `ca_name` in a new temporary directory. Aborts the test on failure.
  explicit TestPki(const std::string& ca_name = "rcache test CA");
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& ca_file() const { return ca_file_; }
  // A certificate signed by this CA, written as <dir>/<name>.crt and <name>.key.
  Issued issue(const std::string& name, const Spec& spec);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string dir_;
  std::string ca_file_;
};

}  // namespace rcache::test
