// TLS between the socket and the RESP pipeline, on OpenSSL with memory BIOs (the way Node.js puts
// TLS over libuv): no socket here. The connection hands the session the ciphertext it read and
// the plaintext it wants to send; the session gives back plaintext to parse and ciphertext to
// write. Any connection kind (pooled data connections, later cluster nodes, sentinels, the
// near cache's invalidation connection) can sit on it.
//
//   TlsContext  one per client: SSL_CTX with the trust store, the minimum version, the ciphers,
//               the client certificate, and the last session for resumption.
//   TlsSession  one per connection attempt: start() -> handshake records out; feed() ciphertext
//               in -> established(), plaintext out; send() plaintext in -> ciphertext out.
//
// Verification is on unless Config::tls_insecure_skip_verify: the chain against the configured
// CAs (or the system store), the name against tls_server_name or the host dialled (DNS SAN, or IP
// SAN for an IP literal), SNI for names. A failed handshake is Errc::tls with a message naming
// the problem: expired / not yet valid (with the date), unknown CA (with the issuer), name
// mismatch (the name dialled and the names the certificate has), client certificate required,
// no common version, not a TLS server.
//
// Thread safety: a TlsSession is used by one thread (the loop thread); a TlsContext's session
// cache is guarded by its own mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "rcache/config.hpp"
#include "rcache/error.hpp"

struct ssl_ctx_st;
struct ssl_st;
struct bio_st;
struct ssl_session_st;

namespace rcache::detail {

class TlsContext {
 public:
  // Loads everything the config names; an unreadable or bad file is Errc::invalid_argument
  // naming the field and the file.
  static Result<std::shared_ptr<TlsContext>> create(const Config& cfg);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  ssl_ctx_st* native() const noexcept { return ctx_; }
  bool verifies() const noexcept { return verify_; }
  bool resumes() const noexcept { return resume_; }
  // Sessions for resumption, kept per peer ("endpoint name": one context serves every node of
  // a client). take_session() gives the session to offer on the next handshake with `peer` (a
  // reference the caller frees, or null): a TLS 1.3 ticket is handed out once, as RFC 8446 C.4
  // asks (servers with a session cache accept a ticket once; each handshake brings new ones); a
  // TLS 1.2 session stays for the next connection. remember() keeps a session a handshake got
  // (it takes the reference); at most kSessionsPerPeer per peer, the oldest dropped.
  static constexpr std::size_t kSessionsPerPeer = 8;
  ssl_session_st* take_session(const std::string& peer);
  void remember(const std::string& peer, ssl_session_st* session);
  // Handshakes completed with this context, and how many of them resumed a session.
  void count_handshake(bool resumed) noexcept {
    handshakes_.fetch_add(1, std::memory_order_relaxed);
    if (resumed) resumed_.fetch_add(1, std::memory_order_relaxed);
  }
  std::uint64_t handshakes() const noexcept { return handshakes_.load(std::memory_order_relaxed); }
  std::uint64_t resumed() const noexcept { return resumed_.load(std::memory_order_relaxed); }

 private:
  TlsContext() = default;
  ssl_ctx_st* ctx_ = nullptr;
  bool verify_ = true;
  bool resume_ = true;
  std::mutex mu_;
  std::map<std::string, std::deque<ssl_session_st*>> sessions_;  // guarded by mu_, newest last
  std::atomic<std::uint64_t> handshakes_{0};
  std::atomic<std::uint64_t> resumed_{0};
};

class TlsSession {
 public:
  // `name`: what is verified and sent as SNI (tls_server_name or the host); `endpoint` names the
  // server in messages.
  TlsSession(std::shared_ptr<TlsContext> ctx, std::string name, std::string endpoint);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Begins the handshake: its first records are then in output().
  Result<void> start();
  // Ciphertext from the socket. Decrypted application bytes are appended to `plain`. An error
  // ends the session (handshake failure, bad record, the server closed the TLS session).
  Result<void> feed(const char* data, std::size_t len, std::string& plain);
  // Plaintext to send (after established()); its records are appended to output().
  Result<void> send(std::string_view plain);
  // Ciphertext waiting for the socket; take it all with take_output().
  bool has_output() const noexcept;
  std::string take_output();

  bool established() const noexcept { return established_; }
  bool resumed() const noexcept;
  // "TLSv1.3 TLS_AES_256_GCM_SHA384" once established.
  std::string describe() const;

 private:
  Result<void> drive_handshake();
  Error handshake_error(int ssl_error) const;
  Error io_error(int ssl_error, const char* what) const;

  std::shared_ptr<TlsContext> ctx_;
  const std::string name_;
  const std::string endpoint_;
  const std::string peer_;  // the session store's key
  ssl_st* ssl_ = nullptr;
  bio_st* in_ = nullptr;   // ciphertext from the socket (owned by ssl_)
  bio_st* out_ = nullptr;  // ciphertext for the socket (owned by ssl_)
  bool established_ = false;
  bool failed_ = false;  // a TLS error ended it: its session is not offered again
};

}  // namespace rcache::detail
