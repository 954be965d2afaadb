// rcache — client configuration.
//
// Config is a plain aggregate: set fields directly or with designated initializers, or start from
// Config::from_url() / Config::from_env(). Nothing is checked until validate() runs, which
// Client::create() does once; every bad field gives an Errc::invalid_argument error that names
// the field and the bad value (never a password).
//
// Thread safety: a plain value type.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "rcache/error.hpp"
#include "rcache/export.hpp"
#include "rcache/hooks.hpp"
#include "rcache/log.hpp"
#include "rcache/resilience.hpp"

namespace rcache {

// How Config::from_url treats query options it has no meaning for.
enum class UrlMode { lenient, strict };

// Where a cluster client sends reads (Config::read_from).
enum class ReadFrom { master, prefer_replica, any };
RCACHE_API std::string_view to_string(ReadFrom r) noexcept;

struct RCACHE_API Config {
  // --- endpoint -------------------------------------------------------------------------------
  // Host name or IP literal (IPv6 without brackets). Ignored when unix_socket is set.
  std::string host = "127.0.0.1";
  // TCP port, 1..65535. Ignored when unix_socket is set.
  int port = 6379;
  // Path of a Unix domain socket; when non-empty it is used instead of host/port.
  std::string unix_socket;
  // ACL user name (Redis 6+); empty means the "default" user (AUTH <password>).
  std::string username;
  // Password for AUTH; empty means no AUTH. Never printed by to_string() or in any error.
  std::string password;
  // Logical database selected on every connection (SELECT), >= 0. The server checks the upper
  // bound (its `databases` setting) when the connection is made.
  std::int64_t db = 0;
  // Name given to each connection with CLIENT SETNAME; empty: none. No spaces or control bytes.
  std::string client_name = "rcache";

  // --- TLS ------------------------------------------------------------------------------------
  // Connect with TLS (TLS 1.2 or later). The server's certificate chain is verified against
  // tls_ca_file / tls_ca_dir, or the system's trust store when both are empty, and its name (DNS
  // name, or IP address for an IP literal) against tls_server_name or else `host`; the name is
  // sent as SNI unless it is an IP literal.
  bool tls = false;
  std::string tls_ca_file;       // PEM bundle of trusted CAs
  std::string tls_ca_dir;        // directory of hashed CA certificates (c_rehash)
  std::string tls_cert_file;     // client certificate chain (PEM), for servers that require one
  std::string tls_key_file;      // its private key (PEM); both or neither
  std::string tls_key_password;  // for an encrypted key; never printed
  std::string tls_server_name;   // the name to verify and send; empty: host
  std::string tls_min_version = "1.2";  // "1.2" or "1.3"
  std::string tls_ciphers;              // TLS 1.2 cipher list (OpenSSL syntax); empty: OpenSSL's
  std::string tls_ciphersuites;         // TLS 1.3 suites; empty: OpenSSL's
  // Resume the previous TLS session on reconnect (a full handshake costs 30-70x a TCP connect).
  bool tls_session_resumption = true;
  // Accept any certificate for any name: no protection against a man in the middle. Logged as a
  // warning when the client starts. For tests against self-signed servers only.
  bool tls_insecure_skip_verify = false;

  // --- Sentinel -------------------------------------------------------------------------------
  // When sentinel_master is set, the master is found through Sentinel and host/port are not
  // used: the `sentinels` ("host:port", "[v6]:port" or "host" for port 26379) are asked in turn
  // for the master's address (SENTINEL get-master-addr-by-name), the one that answered first
  // next time. Every new data connection checks with ROLE that it talks to the master before it
  // serves a call; a dropped connection, a replica or a READONLY reply makes the client ask
  // again, and a subscriber connection to a sentinel follows +switch-master. username/password
  // (and TLS) apply to the data nodes; sentinel_username/sentinel_password to the sentinels
  // (Redis 6.2+ sentinels can have their own ACL). TLS, when on, is used for both.
  std::vector<std::string> sentinels;
  std::string sentinel_master;
  std::string sentinel_username;
  std::string sentinel_password;  // never printed

  // --- Redis Cluster ----------------------------------------------------------------------------
  // When cluster_nodes is set, the client talks to a Redis Cluster and host/port are not used:
  // the seeds ("host:port", "[v6]:port") are asked for the slot map (CLUSTER SLOTS), then every
  // master gets a pool of pool_size connections and a circuit breaker of its own. A key goes to
  // the master of its hash slot (key_prefix included: a prefix with {tag} pins every key to one
  // slot). MOVED updates the map and the call goes on at once on the new node; ASK sends ASKING
  // and the call to the importing node; TRYAGAIN and CLUSTERDOWN are retried with backoff within
  // the deadline. The map is read again on MOVED, READONLY, CLUSTERDOWN, a connection error or
  // timeout to a node, and every cluster_refresh_interval; refreshes run one at a time, at most
  // one per cluster_refresh_min_interval, and a map is only ever replaced by a newer valid one.
  // See docs/ARCHITECTURE.md "Cluster". db must be 0.
  std::vector<std::string> cluster_nodes;
  std::chrono::milliseconds cluster_refresh_interval{10000};  // > 0
  std::chrono::milliseconds cluster_refresh_min_interval{100};
  int cluster_max_redirects = 5;  // redirections (MOVED/ASK) one call may follow, 1..64
  // Where reads (GET, MGET, EXISTS, PTTL, ... : commands that change nothing) go. `master`: the
  // slot's master, always up to date. `prefer_replica`: a replica of the slot's master that has
  // a ready connection (READONLY), else the master. `any`: the master and its replicas in turn.
  // A replica lags its master by the replication delay: a read there may miss a write this
  // client just made. Replicas get pools only when this is not `master`.
  ReadFrom read_from = ReadFrom::master;

  // --- keys -------------------------------------------------------------------------------------
  // Prepended to every key, and to every delete_pattern() pattern (glob characters in the prefix
  // are escaped). Client::command() does not apply it.
  std::string key_prefix;

  // --- values -----------------------------------------------------------------------------------
  // Values of at least compression_threshold bytes are zlib-compressed into a binary envelope
  // when that saves at least 10 %; smaller or incompressible values, and values written by other
  // clients, are stored and read as plain bytes. See docs/ARCHITECTURE.md for the format.
  bool compression = true;
  std::size_t compression_threshold = 2048;  // >= 1
  int compression_level = 1;                 // zlib 1..9; 1 chosen from benchmarks/README.md
  // Largest value a read will inflate; a bigger declared size is Errc::corrupt_value. 1..4 GiB.
  // 64 MiB: a cache value is rarely above a few MiB, and this bounds what one read can allocate
  // whatever is stored (a declared size must also be within what the stored bytes can inflate to,
  // ~1032:1).
  std::size_t max_decompressed_size = 64u * 1024 * 1024;
  // Also read the Python services' "compressed:<hex of zlib>" values.
  bool legacy_hex = false;

  // --- pool -------------------------------------------------------------------------------------
  // Connections per endpoint, 1..1024. Each one pipelines many commands.
  std::size_t pool_size = 4;

  // --- timeouts ---------------------------------------------------------------------------------
  // TCP connect plus handshake (AUTH/SELECT/CLIENT SETNAME). Must be > 0.
  std::chrono::milliseconds connect_timeout{1000};
  // How long Client::create waits for its first connection when degraded_mode is not fail_fast
  // (and without Sentinel): a server that is ready within it is used at once. One that is not (a
  // listener that accepts and never answers, a slow TLS handshake) does not hold create up for
  // the whole connect_timeout: the outcome is applied in the background when the attempt ends
  // (a connection: serve; a failure: the degraded mode), and calls made meanwhile wait for a
  // connection within their deadline. fail_fast always waits up to connect_timeout, since it
  // must know. Zero: return at once. Must be >= 0.
  std::chrono::milliseconds startup_wait{50};
  // From submission of a command to its reply. Must be > 0. A connection whose oldest command
  // stays unanswered for twice this long is considered hung and is replaced.
  std::chrono::milliseconds command_timeout{100};

  // A blocking call that is the client's only one waiting spins for up to this long for its reply
  // before it sleeps (with several blocking callers nobody spins). Loopback replies often beat a
  // thread wake-up, so this roughly doubles single-caller throughput, at the cost of one busy
  // core while waiting. Zero: never spin. Must be >= 0.
  std::chrono::microseconds blocking_spin{100};

  // --- resilience -----------------------------------------------------------------------------
  // Whole-call deadline, every attempt and backoff included. Each attempt also ends at
  // command_timeout. Must be > 0.
  std::chrono::milliseconds deadline{250};
  RetryPolicy retry;
  BreakerPolicy breaker;
  // Bulkhead: most calls in flight at once; past it calls fail at once with Errc::rejected.
  // 1..10,000,000.
  std::size_t max_in_flight = 100000;
  // Calls that wait for a connection when none is ready: while connections come up, and while
  // the pool reconnects after a drop (until a reconnect attempt fails: then the server is taken
  // as down and calls fail at once again). They wait within their deadline; past this many the
  // next fails with Errc::rejected. Zero: never wait. 0..10,000,000.
  std::size_t max_waiting_for_connection = 10000;

  // --- degraded modes -------------------------------------------------------------------------
  DegradedMode degraded_mode = DegradedMode::disabled;
  // Probe backoff while disabled: doubling from min to max, jittered. Both > 0, min <= max.
  std::chrono::milliseconds probe_min{1000};
  std::chrono::milliseconds probe_max{30000};
  // `local` mode keeps its copies in the near cache: its byte bound when near_cache_bytes is 0
  // (>= 64 KiB then); ignored otherwise.
  std::size_t local_max_bytes = 64u * 1024 * 1024;

  // --- near cache -------------------------------------------------------------------------------
  // An in-process copy of values read with get(), kept coherent by Redis (CLIENT TRACKING on a
  // connection of its own, BCAST of key_prefix), and served while Redis is unavailable. Byte
  // bound (keys + values + ~128 B per entry); 0 (default): off. Otherwise >= 64 KiB.
  std::size_t near_cache_bytes = 0;
  // Longest an entry is served as fresh; never longer than the key's TTL in Redis. > 0.
  std::chrono::milliseconds near_cache_ttl{60'000};
  // While Redis is unavailable, how long past its freshness an entry may still be served
  // (marked stale). >= 0.
  std::chrono::milliseconds max_stale{300'000};
  // While Redis is unavailable, the most get_or_load loader calls per second (a token bucket,
  // bursts up to the rate); past it a key with a near-cache copy gets the copy, one without
  // gets Errc::rejected saying why. 0 (default): no cap. >= 0.
  double outage_loads_per_second = 0;

  // --- metrics ----------------------------------------------------------------------------------
  // When non-empty ("127.0.0.1:9464"), Client::create starts a Prometheus exposer serving
  // /metrics there, owned by the client; a bind failure makes create() fail with
  // Errc::invalid_argument. Empty (default): none; see rcache/prometheus.hpp to register the
  // client's collectable on your own exposer.
  std::string metrics_address;

  // --- logging ----------------------------------------------------------------------------------
  LogLevel log_level = LogLevel::warning;
  LogSink log_sink;  // empty: stderr
  // Structured events (rcache/log.hpp); when set, log_sink is not called.
  LogEventSink log_event_sink;
  // Called once per call when it ends (rcache/hooks.hpp): for tracing. Empty: none.
  OpHook op_hook;
  // Called after every circuit breaker transition, on the thread whose call caused it (often the
  // loop thread): must be quick and must not call back into the Client. Exceptions are dropped.
  std::function<void(BreakerState from, BreakerState to)> on_breaker_change;

  // --- TCP keepalive ----------------------------------------------------------------------------
  // Idle time before the first probe; zero disables keepalive. Interval and count must be > 0
  // when keepalive is on.
  std::chrono::seconds keepalive_idle{300};
  std::chrono::seconds keepalive_interval{60};
  int keepalive_count = 3;

  // --- reconnection -----------------------------------------------------------------------------
  // Delay before reconnecting a dropped connection: starts at min, doubles per failed attempt up
  // to max, with jitter. Both > 0 and min <= max.
  std::chrono::milliseconds reconnect_backoff_min{50};
  std::chrono::milliseconds reconnect_backoff_max{2000};

  // --- limits -----------------------------------------------------------------------------------
  // Largest key or value accepted by set/mset, 1..512 MiB (Redis' own limit). Larger ones fail
  // with Errc::too_large before anything is sent. It also sets the memory one reply may take on a
  // connection while it is read (max_value_size + 1 MiB; an MGET's values count together): a
  // larger or endless reply is Errc::protocol and the connection is replaced. 64 MiB: moving a
  // value that size takes Redis' single thread tens of milliseconds, and the pool's worst case
  // stays pool_size x 65 MiB whatever a server sends.
  std::size_t max_value_size = 64u * 1024 * 1024;
  // COUNT hint for the SCAN calls of delete_pattern(), 1..1,000,000.
  std::size_t scan_count = 100;

  // Query options of the URL that had no meaning here (other clients' pool or decoding options,
  // or names nobody uses), in the order given: Client::create logs them in one warning. Filled
  // by from_url in lenient mode.
  std::vector<std::string> url_ignored_options;

  // Parses redis://[[user]:password@]host[:port][/db], rediss://... (TLS, with redis-py's ssl_*
  // query spellings), unix:///path/to/socket[?db=N] (also ?password=...&username=...), and
  // redis+cluster://[[user]:password@]n1[:port],n2[:port][?query] (rediss+cluster:// for TLS):
  // seed nodes of a Redis Cluster (port 6379 by default).
  // redis+sentinel://[[user]:password@]s1[:port],s2[:port]/master[/db] (rediss+sentinel:// for
  // TLS), with percent-escapes in user, password and path; a query value may hold '@'. Other
  // fields keep their defaults. The result is validated.
  // The query options other clients put in a shared REDIS_URL are understood where they have a
  // meaning here (timeout, socket_timeout, read_timeout, connect_timeout, dial_timeout,
  // client_name, database, protocol=2, skip_verify, ...: the table is in docs/URLS.md). The
  // others are ignored and listed in url_ignored_options (lenient, the default) or refused with
  // an error naming them (UrlMode::strict). A malformed value of an option that is understood is
  // an error in both modes.
  static Result<Config> from_url(std::string_view url, UrlMode mode = UrlMode::lenient);

  // from_url($REDIS_URL, default "redis://127.0.0.1:6379/0"), then REDIS_PASSWORD and REDIS_DB
  // override the password and db when set and non-empty. The result is validated. Strict URL
  // mode when RCACHE_URL_STRICT=1.
  static Result<Config> from_env();

  // Checks every field; the first bad one is reported.
  Result<void> validate() const;

  // One line, password masked: "redis://user:***@127.0.0.1:6379/0 pool=4 connect_timeout=1000ms
  // ..."
  std::string to_string() const;
};

}  // namespace rcache
