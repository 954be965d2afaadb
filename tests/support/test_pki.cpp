#include "test_pki.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

namespace rcache::test {

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "TestPki: %s\n", what.c_str());
  std::abort();
}

EVP_PKEY* new_key() {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  if (k == nullptr) die("EC key generation failed");
  return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) die("extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509* new_cert(const std::string& cn, EVP_PKEY* key, long not_before_days, long not_after_days,
               long serial) {
  X509* c = X509_new();
  X509_set_version(c, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
  X509_gmtime_adj(X509_getm_notBefore(c), not_before_days * 86400L);
  X509_gmtime_adj(X509_getm_notAfter(c), not_after_days * 86400L);
  X509_set_pubkey(c, key);
  X509_NAME* name = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return c;
}

void write_cert(const std::string& path, X509* c) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr || PEM_write_X509(f, c) != 1) die("write " + path);
  std::fclose(f);
}

void write_key(const std::string& path, EVP_PKEY* k, const std::string& password) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) die("write " + path);
  const EVP_CIPHER* cipher = password.empty() ? nullptr : EVP_aes_256_cbc();
  auto* pw = password.empty()
                 ? nullptr
                 : reinterpret_cast<unsigned char*>(const_cast<char*>(password.data()));
  if (PEM_write_PrivateKey(f, k, cipher, pw, static_cast<int>(password.size()), nullptr, nullptr) !=
      1) {
    die("write key " + path);
  }
  std::fclose(f);
}

}  // namespace

struct TestPki::Impl {
  EVP_PKEY* ca_key = nullptr;
  X509* ca = nullptr;
  long serial = 2;
  ~Impl() {
    X509_free(ca);
    EVP_PKEY_free(ca_key);
  }
};

TestPki::TestPki(const std::string& ca_name) : impl_(std::make_unique<Impl>()) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "rcache-pki-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) die("mkdtemp");
  dir_ = tmpl;
  impl_->ca_key = new_key();
  impl_->ca = new_cert(ca_name, impl_->ca_key, -1, 365, 1);
  X509_set_issuer_name(impl_->ca, X509_get_subject_name(impl_->ca));
  add_ext(impl_->ca, impl_->ca, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(impl_->ca, impl_->ca, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(impl_->ca, impl_->ca, NID_subject_key_identifier, "hash");
  if (X509_sign(impl_->ca, impl_->ca_key, EVP_sha256()) == 0) die("sign CA");
  ca_file_ = dir_ + "/ca.crt";
  write_cert(ca_file_, impl_->ca);
}

TestPki::~TestPki() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

TestPki::Issued TestPki::issue(const std::string& name, const Spec& spec) {
  X509* signer = impl_->ca;
  EVP_PKEY* signer_key = impl_->ca_key;
  X509* intermediate = nullptr;
  EVP_PKEY* intermediate_key = nullptr;
  if (spec.via_intermediate) {
    intermediate_key = new_key();
    intermediate =
        new_cert(name + " intermediate CA", intermediate_key, spec.intermediate_not_before_days,
                 spec.intermediate_not_after_days, impl_->serial++);
    X509_set_issuer_name(intermediate, X509_get_subject_name(impl_->ca));
    add_ext(intermediate, impl_->ca, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(intermediate, impl_->ca, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(intermediate, intermediate, NID_subject_key_identifier, "hash");
    add_ext(intermediate, impl_->ca, NID_authority_key_identifier, "keyid");
    if (X509_sign(intermediate, impl_->ca_key, EVP_sha256()) == 0) die("sign intermediate");
    signer = intermediate;
    signer_key = intermediate_key;
  }
  EVP_PKEY* key = new_key();
  X509* c =
      new_cert(spec.common_name, key, spec.not_before_days, spec.not_after_days, impl_->serial++);
  X509_set_issuer_name(c, X509_get_subject_name(signer));
  std::string san;
  for (const auto& d : spec.dns) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& i : spec.ips) san += (san.empty() ? "" : ",") + std::string("IP:") + i;
  if (!san.empty()) add_ext(c, signer, NID_subject_alt_name, san);
  add_ext(c, signer, NID_basic_constraints, "CA:FALSE");
  add_ext(c, signer, NID_ext_key_usage, spec.client ? "clientAuth" : "serverAuth");
  add_ext(c, signer, NID_authority_key_identifier, "keyid");
  if (X509_sign(c, signer_key, EVP_sha256()) == 0) die("sign " + name);
  Issued out{dir_ + "/" + name + ".crt", dir_ + "/" + name + ".key"};
  write_cert(out.cert_file, c);
  if (intermediate != nullptr) {
    FILE* f = std::fopen(out.cert_file.c_str(), "a");
    if (f == nullptr || PEM_write_X509(f, intermediate) != 1) die("append intermediate");
    std::fclose(f);
  }
  write_key(out.key_file, key, spec.key_password);
  X509_free(c);
  EVP_PKEY_free(key);
  X509_free(intermediate);
  EVP_PKEY_free(intermediate_key);
  return out;
}

}  // namespace rcache::test
