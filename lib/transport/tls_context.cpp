// The TLS context of a client: trust store, versions, ciphers, client certificate (files checked
// with messages that name the field and the problem), and the session store for resumption.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

#include "transport/tls.hpp"
#include "transport/tls_detail.hpp"

namespace rcache::detail {

namespace {

Error bad_file(const char* field, const std::string& path, const std::string& hint = "") {
  std::string m = "config: cannot load " + std::string(field) + " '" + path + "': " + ssl_reason();
  if (!hint.empty()) m += " (" + hint + ")";
  ERR_clear_error();
  return Error{Errc::invalid_argument, std::move(m)};
}

Error config_error(std::string message) {
  ERR_clear_error();
  return Error{Errc::invalid_argument, std::move(message)};
}

// The start of a file the config names (at most 1 MiB: PEM files are small), or why it cannot
// be read, naming the field.
Result<std::string> read_head(const char* field, const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return config_error("config: cannot read " + std::string(field) + " '" + path +
                        "': " + std::strerror(errno));
  }
  std::string head(std::size_t{1} << 20, '\0');
  f.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(f.gcount()));
  return head;
}

// Checks a PEM file before OpenSSL reads it, so that the usual mistakes get their own message.
std::optional<Error> check_pem(const char* field, const std::string& path, const char* marker,
                               const char* what) {
  auto head = read_head(field, path);
  if (!head) return std::move(head).error();
  if (head->find(marker) == std::string::npos) {
    return config_error("config: " + std::string(field) + " '" + path + "' holds no PEM " + what);
  }
  return std::nullopt;
}

int password_cb(char* buf, int size, int /*rwflag*/, void* userdata) {
  const auto* pw = static_cast<const std::string*>(userdata);
  if (pw == nullptr || size <= 0) return 0;
  const int n = static_cast<int>(std::min<std::size_t>(pw->size(), static_cast<std::size_t>(size)));
  std::memcpy(buf, pw->data(), static_cast<std::size_t>(n));
  return n;
}

// The key password must outlive the SSL_CTX's use of it (loading happens in create()).
struct KeyPassword {
  std::string value;
  ~KeyPassword() { OPENSSL_cleanse(value.data(), value.size()); }
};

}  // namespace

int tls_new_session_cb(SSL* ssl, SSL_SESSION* session) {
  auto* ctx = static_cast<TlsContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  const auto* seen = static_cast<const TlsSeen*>(SSL_get_ex_data(ssl, tls_seen_index()));
  if (ctx == nullptr || seen == nullptr) return 0;
  ctx->remember(seen->peer, session);
  return 1;  // we keep the reference
}

// ---- TlsContext -------------------------------------------------------------------------------

Result<std::shared_ptr<TlsContext>> TlsContext::create(const Config& cfg) {
  std::shared_ptr<TlsContext> t(new TlsContext());
  ERR_clear_error();
  t->ctx_ = SSL_CTX_new(TLS_client_method());
  if (t->ctx_ == nullptr) {
    return Error{Errc::tls, "TLS: cannot create an OpenSSL context: " + ssl_reason()};
  }
  SSL_CTX* ctx = t->ctx_;
  SSL_CTX_set_app_data(ctx, t.get());
  const int min_version = cfg.tls_min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
  SSL_CTX_set_min_proto_version(ctx, min_version);
  if (!cfg.tls_ciphers.empty() && SSL_CTX_set_cipher_list(ctx, cfg.tls_ciphers.c_str()) != 1) {
    ERR_clear_error();
    return Error{Errc::invalid_argument,
                 "config: tls_ciphers = '" + cfg.tls_ciphers + "' names no cipher OpenSSL knows"};
  }
  if (!cfg.tls_ciphersuites.empty() &&
      SSL_CTX_set_ciphersuites(ctx, cfg.tls_ciphersuites.c_str()) != 1) {
    ERR_clear_error();
    return Error{Errc::invalid_argument, "config: tls_ciphersuites = '" + cfg.tls_ciphersuites +
                                             "' names no TLS 1.3 suite OpenSSL knows"};
  }
  t->verify_ = !cfg.tls_insecure_skip_verify;
  if (t->verify_) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_verify_cb);
    if (!cfg.tls_ca_file.empty() || !cfg.tls_ca_dir.empty()) {
      const char* file = cfg.tls_ca_file.empty() ? nullptr : cfg.tls_ca_file.c_str();
      const char* dir = cfg.tls_ca_dir.empty() ? nullptr : cfg.tls_ca_dir.c_str();
      if (file != nullptr) {
        if (auto e = check_pem("tls_ca_file", cfg.tls_ca_file, "-----BEGIN CERTIFICATE-----",
                               "certificate")) {
          return std::move(*e);
        }
      }
      struct stat st {};
      if (dir != nullptr && (::stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
        return config_error("config: tls_ca_dir '" + cfg.tls_ca_dir + "' is not a directory" +
                            (errno != 0 && !S_ISDIR(st.st_mode)
                                 ? std::string(": ") + std::strerror(errno)
                                 : std::string()));
      }
      if (SSL_CTX_load_verify_locations(ctx, file, dir) != 1) {
        return file != nullptr ? bad_file("tls_ca_file", cfg.tls_ca_file)
                               : bad_file("tls_ca_dir", cfg.tls_ca_dir);
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return Error{Errc::tls, "TLS: cannot load the system trust store: " + ssl_reason()};
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!cfg.tls_cert_file.empty()) {
    KeyPassword pw{cfg.tls_key_password};
    SSL_CTX_set_default_passwd_cb(ctx, password_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, &pw);
    if (auto e = check_pem("tls_cert_file", cfg.tls_cert_file, "-----BEGIN CERTIFICATE-----",
                           "certificate")) {
      return std::move(*e);
    }
    auto key_head = read_head("tls_key_file", cfg.tls_key_file);
    if (!key_head) return std::move(key_head).error();
    if (key_head->find("PRIVATE KEY-----") == std::string::npos) {
      return config_error("config: tls_key_file '" + cfg.tls_key_file +
                          "' holds no PEM private key" +
                          (key_head->find("BEGIN CERTIFICATE") != std::string::npos
                               ? " (it is a certificate: the key is a separate file)"
                               : ""));
    }
    const bool encrypted = key_head->find("ENCRYPTED") != std::string::npos;
    OPENSSL_cleanse(key_head->data(), key_head->size());
    if (encrypted && cfg.tls_key_password.empty()) {
      return config_error("config: tls_key_file '" + cfg.tls_key_file +
                          "' is encrypted: set tls_key_password");
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg.tls_cert_file.c_str()) != 1) {
      return bad_file("tls_cert_file", cfg.tls_cert_file);
    }
    const bool loaded =
        SSL_CTX_use_PrivateKey_file(ctx, cfg.tls_key_file.c_str(), SSL_FILETYPE_PEM) == 1;
    SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
    if (!loaded && ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return Error{Errc::invalid_argument, "config: tls_key_file '" + cfg.tls_key_file +
                                               "' is not the key of tls_cert_file '" +
                                               cfg.tls_cert_file + "'"};
    }
    if (!loaded && encrypted) {
      return config_error("config: tls_key_password does not decrypt tls_key_file '" +
                          cfg.tls_key_file + "'");
    }
    if (!loaded) return bad_file("tls_key_file", cfg.tls_key_file);
    if (SSL_CTX_check_private_key(ctx) != 1) {
      ERR_clear_error();
      return Error{Errc::invalid_argument, "config: tls_key_file '" + cfg.tls_key_file +
                                               "' is not the key of tls_cert_file '" +
                                               cfg.tls_cert_file + "'"};
    }
  }
  t->resume_ = cfg.tls_session_resumption;
  if (t->resume_) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, tls_new_session_cb);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  }
  return t;
}

TlsContext::~TlsContext() {
  for (auto& [peer, list] : sessions_) {
    for (SSL_SESSION* s : list) SSL_SESSION_free(s);
  }
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

ssl_session_st* TlsContext::take_session(const std::string& peer) {
  std::lock_guard lock(mu_);
  const auto it = sessions_.find(peer);
  if (it == sessions_.end()) return nullptr;
  auto& list = it->second;
  while (!list.empty()) {
    SSL_SESSION* s = list.back();
    if (SSL_SESSION_is_resumable(s) != 1) {
      list.pop_back();
      SSL_SESSION_free(s);
      continue;
    }
    if (SSL_SESSION_get_protocol_version(s) >= TLS1_3_VERSION) {
      list.pop_back();  // single use: the caller gets our reference
    } else {
      SSL_SESSION_up_ref(s);
    }
    return s;
  }
  return nullptr;
}

void TlsContext::remember(const std::string& peer, ssl_session_st* session) {
  std::lock_guard lock(mu_);
  auto& list = sessions_[peer];
  list.push_back(session);
  if (list.size() > kSessionsPerPeer) {
    SSL_SESSION_free(list.front());
    list.pop_front();
  }
}

}  // namespace rcache::detail
