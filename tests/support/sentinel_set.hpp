// A Sentinel deployment for tests: one master, one replica and N sentinels, all real
// redis-server processes on free loopback ports, stopped (by pid) with the set.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "redis_server.hpp"

namespace rcache::test {

class SentinelSet {
 public:
  struct Options {
    int sentinels = 3;
    std::string master_name = "mymaster";
    int quorum = 2;
    int down_after_ms = 1000;
    int failover_timeout_ms = 5000;
    std::vector<std::string> sentinel_conf_extra;  // more lines for every sentinel's file
    // Non-empty: every process also listens with TLS (this certificate and key, clients not
    // asked for one), replication and the sentinels' own connections use TLS, and the sentinels
    // monitor (and so name) the TLS ports. The plain ports stay open for the set's own checks.
    std::string tls_cert_file, tls_key_file, tls_ca_file;
  };

  // Ready when the replica is in sync and every sentinel knows the replica and the others
  // (about 3 s here); nullptr (reason on stderr) if that does not happen within 20 s.
  static std::unique_ptr<SentinelSet> start(const Options& options);
  static std::unique_ptr<SentinelSet> start() { return start(Options{}); }

  RedisServer& master() { return *master_; }
  RedisServer& replica() { return *replica_; }
  RedisServer& sentinel(std::size_t i) { return *sentinels_.at(i); }
  std::size_t sentinel_count() const { return sentinels_.size(); }
  const std::string& master_name() const { return options_.master_name; }
  // "127.0.0.1:port" of every sentinel, for Config::sentinels.
  std::vector<std::string> sentinel_addresses() const;  // the TLS ports with TLS
  // The master's port as the first sentinel that answers says it; 0 if none answers.
  int master_port_by_sentinels() const;
  // Waits until the sentinels name a master other than `old_port` (a failover happened).
  bool wait_failover(int old_port, std::chrono::milliseconds limit) const;

 private:
  SentinelSet() = default;
  bool ready(std::chrono::milliseconds limit) const;

  Options options_;
  std::unique_ptr<RedisServer> master_, replica_;
  std::vector<std::unique_ptr<RedisServer>> sentinels_;
};

}  // namespace rcache::test
