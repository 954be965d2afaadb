// One master, one replica, N sentinels on free loopback ports.
#include "sentinel_set.hpp"

#include <cstdio>
#include <thread>

namespace rcache::test {

std::unique_ptr<SentinelSet> SentinelSet::start(const Options& options) {
  std::unique_ptr<SentinelSet> s(new SentinelSet());
  s->options_ = options;
  const bool tls = !options.tls_cert_file.empty();
  const auto with_tls = [&](RedisServer::Options& o) {
    if (!tls) return;
    o.tls_cert_file = options.tls_cert_file;
    o.tls_key_file = options.tls_key_file;
    o.tls_ca_file = options.tls_ca_file;
    o.args.insert(o.args.end(), {"--tls-replication", "yes"});
  };
  RedisServer::Options m;
  m.args = {"--repl-diskless-sync-delay", "0"};
  with_tls(m);
  s->master_ = RedisServer::start(m);
  if (s->master_ == nullptr) return nullptr;
  const int master_port = tls ? s->master_->tls_port() : s->master_->port();
  RedisServer::Options r;
  r.args = {"--replicaof", "127.0.0.1", std::to_string(master_port), "--repl-diskless-sync-delay",
            "0"};
  with_tls(r);
  s->replica_ = RedisServer::start(r);
  if (s->replica_ == nullptr) return nullptr;
  const std::string name = options.master_name;
  std::string conf = "sentinel monitor " + name + " 127.0.0.1 " + std::to_string(master_port) +
                     " " + std::to_string(options.quorum) + "\n" +
                     "sentinel down-after-milliseconds " + name + " " +
                     std::to_string(options.down_after_ms) + "\n" + "sentinel failover-timeout " +
                     name + " " + std::to_string(options.failover_timeout_ms) + "\n" +
                     "sentinel parallel-syncs " + name + " 1\n";
  for (const auto& line : options.sentinel_conf_extra) conf += line + "\n";
  for (int i = 0; i < options.sentinels; ++i) {
    RedisServer::Options o;
    o.sentinel_conf = conf;
    with_tls(o);
    auto sentinel = RedisServer::start(o);
    if (sentinel == nullptr) return nullptr;
    s->sentinels_.push_back(std::move(sentinel));
  }
  if (!s->ready(std::chrono::seconds(20))) {
    std::fprintf(stderr, "sentinel set: not ready within 20 s\n");
    return nullptr;
  }
  return s;
}

bool SentinelSet::ready(std::chrono::milliseconds limit) const {
  const auto end = std::chrono::steady_clock::now() + limit;
  const auto others = std::to_string(sentinels_.size() - 1);
  while (std::chrono::steady_clock::now() < end) {
    bool all = replica_->command({"INFO", "replication"}).find("master_link_status:up") !=
               std::string::npos;
    for (const auto& s : sentinels_) {
      if (!all) break;
      const std::string master = s->command({"SENTINEL", "MASTER", options_.master_name});
      // The reply is a flat field/value list, one per line.
      all = master.find("num-slaves\n1") != std::string::npos &&
            master.find("num-other-sentinels\n" + others) != std::string::npos;
    }
    if (all) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::vector<std::string> SentinelSet::sentinel_addresses() const {
  std::vector<std::string> out;
  const bool tls = !options_.tls_cert_file.empty();
  for (const auto& s : sentinels_) {
    out.push_back("127.0.0.1:" + std::to_string(tls ? s->tls_port() : s->port()));
  }
  return out;
}

int SentinelSet::master_port_by_sentinels() const {
  for (const auto& s : sentinels_) {
    if (!s->running()) continue;
    const std::string a = s->command({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", options_.master_name},
                                     std::chrono::milliseconds(500));
    const auto nl = a.find('\n');
    if (nl == std::string::npos) continue;
    return std::atoi(a.c_str() + nl + 1);
  }
  return 0;
}

bool SentinelSet::wait_failover(int old_port, std::chrono::milliseconds limit) const {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    const int now = master_port_by_sentinels();
    if (now != 0 && now != old_port) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace rcache::test
