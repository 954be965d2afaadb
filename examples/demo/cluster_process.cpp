// The demo's private Redis Cluster: three masters with one replica each on 127.0.0.1.
#include "cluster_process.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "resp.hpp"

namespace demo {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using Type = RespReply::Type;

constexpr int kSlots = 16384;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t from = 0;
  for (std::size_t to; (to = s.find(sep, from)) != std::string::npos; from = to + 1) {
    out.push_back(s.substr(from, to - from));
  }
  out.push_back(s.substr(from));
  return out;
}

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

// How many nodes this one knows with the handshake done (CLUSTER NODES); -1 if it does not answer.
int nodes_known(int port) {
  const RespReply r = redis_call(port, {"CLUSTER", "NODES"});
  if (r.type != Type::bulk) return -1;
  int known = 0;
  for (const auto& line : split(r.str, '\n')) {
    const auto f = split(line, ' ');
    if (f.size() < 8) continue;
    const auto flags = split(f[2], ',');
    const bool pending = std::find(flags.begin(), flags.end(), "handshake") != flags.end() ||
                         std::find(flags.begin(), flags.end(), "noaddr") != flags.end();
    if (!pending) ++known;
  }
  return known;
}

// A node's CLUSTER SLOTS as "first-last:master/replica ..." sorted by first slot; "" if none.
std::string slots_text(int port) {
  const RespReply r = redis_call(port, {"CLUSTER", "SLOTS"});
  if (r.type != Type::array) return "";
  std::vector<std::pair<long long, std::string>> ranges;
  for (const auto& e : r.elements) {
    if (e.type != Type::array || e.elements.size() < 3) return "";
    std::string text =
        std::to_string(e.elements[0].integer) + "-" + std::to_string(e.elements[1].integer) + ":";
    for (std::size_t i = 2; i < e.elements.size(); ++i) {
      const auto& node = e.elements[i];
      if (node.type != Type::array || node.elements.size() < 2) return "";
      text += (i == 2 ? "" : "/") + std::to_string(node.elements[1].integer);
    }
    ranges.emplace_back(e.elements[0].integer, std::move(text));
  }
  std::sort(ranges.begin(), ranges.end());
  std::string out;
  for (const auto& [first, text] : ranges) out += (out.empty() ? "" : " ") + text;
  return out;
}

std::uint16_t crc16_xmodem(std::string_view s) {
  std::uint16_t crc = 0;
  for (const char ch : s) {
    crc = static_cast<std::uint16_t>(crc ^ (static_cast<std::uint8_t>(ch) << 8));
    for (int bit = 0; bit < 8; ++bit) {
      crc = static_cast<std::uint16_t>((crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
  }
  return crc;
}

}  // namespace

int key_slot(std::string_view key) {
  const auto open = key.find('{');
  if (open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return crc16_xmodem(key) % kSlots;
}

std::unique_ptr<RedisCluster> RedisCluster::start(std::string& why) {
  const auto began = Clock::now();
  std::unique_ptr<RedisCluster> c(new RedisCluster());
  RedisProcess::Options o;
  o.bus_offset = kBusOffset;
  o.args = {"--cluster-enabled", "yes", "--cluster-config-file",
            "nodes.conf",  // in the node's own --dir, kept across restart()
            "--cluster-node-timeout", "1000", "--cluster-announce-ip", "127.0.0.1",
            "--cluster-replica-validity-factor", "0", "--repl-diskless-sync-delay", "0",
            // CLUSTER SLOTS lists a replica once its offset moved: the master's PINGs move it.
            "--repl-ping-replica-period", "1",
            // A cache: while one master is down, the others go on serving their slots.
            "--cluster-require-full-coverage", "no"};
  for (int i = 0; i < 2 * kMasters; ++i) {
    auto node = RedisProcess::start(o);
    if (node == nullptr) {
      why = i == 0 ? "no redis-server could be started"
                   : "node " + std::to_string(i + 1) + " of " + std::to_string(2 * kMasters) +
                         " did not start";
      return nullptr;
    }
    o.avoid.push_back(node->port());
    c->nodes_.push_back(std::move(node));
  }
  if (!c->build(why)) return nullptr;
  const auto deadline = began + 20s;
  while (!c->ready(why)) {
    if (Clock::now() >= deadline) {
      why = "not ready within 20 s: " + why;
      return nullptr;
    }
    std::this_thread::sleep_for(50ms);
  }
  c->start_seconds_ = std::chrono::duration<double>(Clock::now() - began).count();
  return c;
}

bool RedisCluster::build(std::string& why) {
  auto must = [&why](int port, const std::vector<std::string>& argv) {
    const RespReply r = redis_call(port, argv, 2000);
    if (r.is_ok()) return true;
    why = joined(argv) + " on 127.0.0.1:" + std::to_string(port) + ": " + r.text();
    if (r.text().find("unknown") != std::string::npos) why += " (redis-server 7.0+ is needed)";
    return false;
  };
  std::vector<std::string> ids;
  for (const auto& n : nodes_) {
    const RespReply r = redis_call(n->port(), {"CLUSTER", "MYID"}, 2000);
    if (r.type != Type::bulk || r.str.size() != 40) {
      why = "CLUSTER MYID on 127.0.0.1:" + std::to_string(n->port()) + ": " + r.text();
      return false;
    }
    ids.push_back(r.str);
  }
  // Distinct epochs before the nodes meet: no collision round to settle later.
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!must(nodes_[i]->port(), {"CLUSTER", "SET-CONFIG-EPOCH", std::to_string(i + 1)})) {
      return false;
    }
  }
  // redis-cli's split: 0-5460, 5461-10922, 10923-16383.
  for (int i = 0; i < kMasters; ++i) {
    Shard s;
    s.first_slot = static_cast<int>(std::lround(static_cast<double>(kSlots) * i / kMasters));
    s.last_slot =
        static_cast<int>(std::lround(static_cast<double>(kSlots) * (i + 1) / kMasters)) - 1;
    s.master = nodes_[static_cast<std::size_t>(i)]->port();
    s.replica = nodes_[static_cast<std::size_t>(kMasters + i)]->port();
    if (!must(s.master, {"CLUSTER", "ADDSLOTSRANGE", std::to_string(s.first_slot),
                         std::to_string(s.last_slot)})) {
      return false;
    }
    shards_.push_back(s);
  }
  // Every pair meets directly: the full mesh after one handshake each, not after gossip.
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    for (std::size_t j = i + 1; j < nodes_.size(); ++j) {
      if (!must(nodes_[i]->port(),
                {"CLUSTER", "MEET", "127.0.0.1", std::to_string(nodes_[j]->port())})) {
        return false;
      }
    }
  }
  // A replica can only name a master it knows.
  const auto deadline = Clock::now() + 10s;
  for (std::size_t i = 0; i < nodes_.size();) {
    const int known = nodes_known(nodes_[i]->port());
    if (known == static_cast<int>(nodes_.size())) {
      ++i;
      continue;
    }
    if (Clock::now() >= deadline) {
      why = "node 127.0.0.1:" + std::to_string(nodes_[i]->port()) + " knows " +
            std::to_string(std::max(known, 0)) + " of " + std::to_string(nodes_.size()) +
            " nodes after 10 s";
      return false;
    }
    std::this_thread::sleep_for(20ms);
  }
  for (int i = 0; i < kMasters; ++i) {
    if (!must(shards_[static_cast<std::size_t>(i)].replica,
              {"CLUSTER", "REPLICATE", ids[static_cast<std::size_t>(i)]})) {
      return false;
    }
  }
  return true;
}

bool RedisCluster::ready(std::string& why) const {
  std::string want;
  for (const auto& s : shards_) {
    want += (want.empty() ? "" : " ") + std::to_string(s.first_slot) + "-" +
            std::to_string(s.last_slot) + ":" + std::to_string(s.master) + "/" +
            std::to_string(s.replica);
  }
  for (const auto& n : nodes_) {
    const std::string node = "node 127.0.0.1:" + std::to_string(n->port());
    const std::string state =
        info_field(redis_call(n->port(), {"CLUSTER", "INFO"}).str, "cluster_state");
    if (state != "ok") {
      why = node + " says cluster_state:" + (state.empty() ? "(no answer)" : state);
      return false;
    }
    if (const std::string have = slots_text(n->port()); have != want) {
      why = node + " says CLUSTER SLOTS " + have + ", wanted " + want;
      return false;
    }
  }
  for (const auto& s : shards_) {
    if (!replica_in_sync(s.replica)) {
      why = "replica 127.0.0.1:" + std::to_string(s.replica) + " not in sync";
      return false;
    }
  }
  return true;
}

RedisCluster::~RedisCluster() {
  for (auto& n : nodes_) n->terminate();
  nodes_.clear();
}

std::string RedisCluster::url() const {
  std::string out = "redis+cluster://";
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    out += (i == 0 ? "127.0.0.1:" : ",127.0.0.1:") + std::to_string(nodes_[i]->port());
  }
  return out;
}

RedisProcess* RedisCluster::node(int port) const {
  for (const auto& n : nodes_) {
    if (n->port() == port) return n.get();
  }
  return nullptr;
}

pid_t RedisCluster::pid(int port) const {
  const RedisProcess* n = node(port);
  return n != nullptr ? n->pid() : -1;
}

void RedisCluster::kill9(int port) {
  if (RedisProcess* n = node(port)) n->kill9();
}

bool RedisCluster::restart(int port) {
  RedisProcess* n = node(port);
  return n != nullptr && n->restart();
}

std::string node_role(int port, int* master_port) {
  const RespReply r = redis_call(port, {"ROLE"});
  if (r.type != Type::array || r.elements.empty()) return "";
  const std::string role = r.elements[0].str;
  if (master_port != nullptr) {
    *master_port =
        role == "slave" && r.elements.size() > 2 ? static_cast<int>(r.elements[2].integer) : 0;
  }
  return role;
}

int slot_owner(int port, int slot) {
  const RespReply r = redis_call(port, {"CLUSTER", "SLOTS"});
  for (const auto& e : r.elements) {
    if (e.elements.size() >= 3 && e.elements[0].integer <= slot && slot <= e.elements[1].integer &&
        e.elements[2].elements.size() >= 2) {
      return static_cast<int>(e.elements[2].elements[1].integer);
    }
  }
  return 0;
}

bool replica_in_sync(int port) {
  const std::string info = redis_call(port, {"INFO", "replication"}).str;
  return info_field(info, "role") == "slave" && info_field(info, "master_link_status") == "up" &&
         info_field(info, "master_sync_in_progress") == "0";
}

// ---- Poll ---------------------------------------------------------------------------------------

Poll::Poll(std::function<bool()> ready, std::chrono::milliseconds limit) {
  try {
    thread_ = std::thread([this, ready = std::move(ready), limit] {
      const auto deadline = Clock::now() + limit;
      while (!stop_.load() && Clock::now() < deadline) {
        bool yes = false;
        try {
          yes = ready();
        } catch (...) {  // a question that failed is a "not yet"
        }
        if (yes) {
          when_ = Clock::now().time_since_epoch().count();
          break;
        }
        std::this_thread::sleep_for(10ms);
      }
      finished_ = true;
    });
  } catch (...) {  // no thread: nothing is watched, and it says so (never ready)
    finished_ = true;
  }
}

Poll::~Poll() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::optional<Poll::Clock::time_point> Poll::when() const {
  const Clock::rep t = when_.load();
  if (t < 0) return std::nullopt;
  return Clock::time_point(Clock::duration(t));
}

void Poll::wait() const {
  while (!finished_.load()) std::this_thread::sleep_for(5ms);
}

}  // namespace demo
