// N masters and R replicas per master on free loopback ports, joined into one Redis Cluster.
#include "cluster_set.hpp"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

namespace rcache::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kBusOffset = 10000;      // Redis' default cluster bus port: port + 10000
constexpr milliseconds kQuery{500};    // one query to one node
constexpr milliseconds kPoll{50};      // between two rounds of a wait
constexpr std::size_t kMaxNodes = 32;  // redis_server.cpp tracks 64 children for its handler

// ---- one command over a fresh hiredis connection -------------------------------------------

struct ReplyFree {
  void operator()(redisReply* r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

Reply query(int port, const std::vector<std::string>& argv, milliseconds limit = kQuery) {
  timeval tv{};
  tv.tv_sec = static_cast<long>(limit.count() / 1000);
  tv.tv_usec = static_cast<long>((limit.count() % 1000) * 1000);
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c == nullptr) return nullptr;
  if (c->err != 0) {
    redisFree(c);
    return nullptr;
  }
  redisSetTimeout(c, tv);
  std::vector<const char*> args;
  std::vector<std::size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data()));
  redisFree(c);
  return Reply(r);
}

// A scalar reply as text ("ERR: ..." for an error); "" for no reply or an aggregate.
std::string text(const Reply& r) {
  if (r == nullptr) return "";
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return std::string(r->str, r->len);
    case REDIS_REPLY_ERROR:
      return "ERR: " + std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER:
      return std::to_string(r->integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    default:
      return "";
  }
}

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += a.empty() ? "\"\"" : a;
  }
  return out;
}

// Runs argv on the node and wants +OK (or `also`); says what went wrong on stderr otherwise.
bool expect_ok(int port, const std::vector<std::string>& argv,
               milliseconds limit = milliseconds(2000), const char* also = nullptr) {
  const Reply r = query(port, argv, limit);
  const std::string got = text(r);
  if (got == "OK" || (also != nullptr && got == also)) return true;
  std::fprintf(stderr, "cluster set: %s on 127.0.0.1:%d: %s\n", joined(argv).c_str(), port,
               r == nullptr ? "no answer" : got.c_str());
  return false;
}

// "value" of "name:value\r\n" in INFO-style text; "" if absent.
std::string info_field(const std::string& info, const std::string& name) {
  std::size_t at = 0;
  while ((at = info.find(name + ":", at)) != std::string::npos) {
    if (at == 0 || info[at - 1] == '\n') {
      const std::size_t from = at + name.size() + 1;
      const std::size_t to = info.find_first_of("\r\n", from);
      return info.substr(from, to == std::string::npos ? std::string::npos : to - from);
    }
    at += name.size();
  }
  return "";
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t from = 0;
  while (from <= s.size()) {
    const std::size_t to = s.find(sep, from);
    out.push_back(s.substr(from, to == std::string::npos ? std::string::npos : to - from));
    if (to == std::string::npos) break;
    from = to + 1;
  }
  return out;
}

bool has_flag(const std::string& flags, const char* flag) {
  for (const auto& f : split(flags, ',')) {
    if (f == flag) return true;
  }
  return false;
}

// One line of CLUSTER NODES: <id> <ip:port@cport[,hostname]> <flags> <master> ...
struct NodeLine {
  std::string id;
  int port = 0;
  std::string flags;
  std::string master;  // "-" for a master
};

// The node's CLUSTER NODES; false if it does not answer.
bool cluster_nodes(int port, std::vector<NodeLine>& out) {
  out.clear();
  const Reply r = query(port, {"CLUSTER", "NODES"});
  if (r == nullptr || r->type != REDIS_REPLY_STRING) return false;
  for (const auto& line : split(std::string(r->str, r->len), '\n')) {
    const auto f = split(line, ' ');
    if (f.size() < 8) continue;
    NodeLine n;
    n.id = f[0];
    const std::size_t colon = f[1].rfind(':', f[1].find('@'));
    if (colon != std::string::npos) n.port = std::atoi(f[1].c_str() + colon + 1);
    n.flags = f[2];
    n.master = f[3];
    out.push_back(std::move(n));
  }
  return true;
}

// The node's own line of CLUSTER NODES; false if it does not answer.
bool myself(int port, NodeLine& me) {
  std::vector<NodeLine> lines;
  if (!cluster_nodes(port, lines)) return false;
  for (auto& l : lines) {
    if (has_flag(l.flags, "myself")) {
      me = std::move(l);
      return true;
    }
  }
  return false;
}

// One node's view of the cluster: CLUSTER INFO and CLUSTER SLOTS.
struct View {
  bool answered = false;
  bool state_ok = false;
  int slots_assigned = 0;
  int known_nodes = 0;
  std::vector<int> owner;                    // slot -> master port, 0 if unassigned
  std::map<int, std::vector<int>> replicas;  // master port -> its (non-failed) replicas, sorted
};

bool read_slots(int port, View& v) {
  v.owner.assign(ClusterSet::kSlots, 0);
  v.replicas.clear();
  const Reply r = query(port, {"CLUSTER", "SLOTS"});
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY) return false;
  const auto node_port = [](const redisReply* n) -> int {
    if (n == nullptr || n->type != REDIS_REPLY_ARRAY || n->elements < 2 ||
        n->element[1]->type != REDIS_REPLY_INTEGER) {
      return 0;
    }
    return static_cast<int>(n->element[1]->integer);
  };
  for (std::size_t i = 0; i < r->elements; ++i) {
    const redisReply* e = r->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
        e->element[0]->type != REDIS_REPLY_INTEGER || e->element[1]->type != REDIS_REPLY_INTEGER) {
      return false;
    }
    const long long first = std::max<long long>(0, e->element[0]->integer);
    const long long last = std::min<long long>(ClusterSet::kSlots - 1, e->element[1]->integer);
    const int master = node_port(e->element[2]);
    for (long long s = first; s <= last; ++s) v.owner[static_cast<std::size_t>(s)] = master;
    auto& reps = v.replicas[master];
    for (std::size_t k = 3; k < e->elements; ++k) reps.push_back(node_port(e->element[k]));
  }
  for (auto& [master, reps] : v.replicas) {
    std::sort(reps.begin(), reps.end());
    reps.erase(std::unique(reps.begin(), reps.end()), reps.end());
  }
  return true;
}

View view_of(int port) {
  View v;
  const std::string info = text(query(port, {"CLUSTER", "INFO"}));
  if (info.empty() || info.rfind("ERR", 0) == 0) return v;
  v.state_ok = info_field(info, "cluster_state") == "ok";
  v.slots_assigned = std::atoi(info_field(info, "cluster_slots_assigned").c_str());
  v.known_nodes = std::atoi(info_field(info, "cluster_known_nodes").c_str());
  v.answered = read_slots(port, v);
  return v;
}

// First slot where two views differ, -1 if none.
int first_difference(const std::vector<int>& a, const std::vector<int>& b) {
  for (std::size_t s = 0; s < a.size() && s < b.size(); ++s) {
    if (a[s] != b[s]) return static_cast<int>(s);
  }
  return a.size() == b.size() ? -1 : 0;
}

std::string ports_text(const std::vector<int>& ports) {
  std::string out = "[";
  for (int p : ports) out += (out.size() > 1 ? "," : "") + std::to_string(p);
  return out + "]";
}

// "" when the node is not a replica or its link is up and not syncing; the reason otherwise.
std::string replica_lag(int port) {
  const std::string info = text(query(port, {"INFO", "replication"}));
  if (info.empty()) return "node " + std::to_string(port) + " does not answer INFO";
  if (info_field(info, "role") != "slave") return "";
  if (info_field(info, "master_link_status") != "up" ||
      info_field(info, "master_sync_in_progress") != "0") {
    return "replica " + std::to_string(port) + " not in sync with its master (port " +
           info_field(info, "master_port") + ")";
  }
  return "";
}

bool can_bind(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  const int on = 1;  // as redis-server does, so that TIME_WAIT leftovers do not count
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
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

long long ms(milliseconds d) {
  return static_cast<long long>(d.count());
}

}  // namespace

int free_cluster_port(const std::vector<int>& taken) {
  // p in [lo, hi): p + 10000 stays <= 65535; below the ephemeral range when there is room.
  int lo = 10000;
  int hi = 65535 - kBusOffset;
  {
    std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
    int eph_lo = 0;
    int eph_hi = 0;
    if (range >> eph_lo >> eph_hi && eph_lo - kBusOffset - lo >= 2000) hi = eph_lo - kBusOffset;
  }
  static std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
  static std::mutex rng_mu;  // sets may be started from several threads at once
  std::uniform_int_distribution<int> pick(lo, hi - 1);
  for (int attempt = 0; attempt < 500; ++attempt) {
    const int p = [&] {
      std::lock_guard lock(rng_mu);
      return pick(rng);
    }();
    bool clash = false;
    for (int t : taken) {
      clash = clash || p == t || p == t + kBusOffset || p + kBusOffset == t;
    }
    if (!clash && can_bind(p) && can_bind(p + kBusOffset)) return p;
  }
  std::fprintf(stderr, "cluster set: no free port pair (p, p+%d) in [%d, %d)\n", kBusOffset, lo,
               hi);
  return 0;
}

std::unique_ptr<ClusterSet> ClusterSet::start(const Options& options) {
  const auto began = Clock::now();
  const auto deadline = began + std::chrono::seconds(30);
  if (options.masters < 1 || options.masters > kSlots || options.replicas_per_master < 0 ||
      options.node_timeout_ms < 1) {
    std::fprintf(stderr, "cluster set: bad options (masters %d, replicas per master %d)\n",
                 options.masters, options.replicas_per_master);
    return nullptr;
  }
  if (!options.tls_cert_file.empty() &&
      (options.tls_key_file.empty() || options.tls_ca_file.empty() ||
       options.tls_client_cert_file.empty() || options.tls_client_key_file.empty())) {
    std::fprintf(stderr,
                 "cluster set: TLS needs tls_key_file, tls_ca_file and a client certificate "
                 "(tls_client_cert_file, tls_client_key_file) for the cluster bus\n");
    return nullptr;
  }
  const std::size_t total = static_cast<std::size_t>(options.masters) *
                            (1 + static_cast<std::size_t>(options.replicas_per_master));
  if (total > kMaxNodes) {
    std::fprintf(stderr, "cluster set: %zu nodes asked, at most %zu\n", total, kMaxNodes);
    return nullptr;
  }
  std::unique_ptr<ClusterSet> s(new ClusterSet());
  s->options_ = options;
  std::vector<int> taken;
  for (std::size_t i = 0; i < total; ++i) {
    std::unique_ptr<RedisServer> server;
    // A port pair can be taken between the check and redis-server's bind (the bus port too:
    // then it exits at once): try again with another pair.
    for (int attempt = 0; attempt < 5 && server == nullptr; ++attempt) {
      const int port = free_cluster_port(taken);
      if (port == 0) break;
      RedisServer::Options o;
      o.port = port;
      o.args = {"--cluster-enabled", "yes", "--cluster-config-file",
                "nodes.conf",  // relative to the server's own --dir
                "--cluster-node-timeout", std::to_string(options.node_timeout_ms),
                "--cluster-announce-ip", "127.0.0.1", "--cluster-replica-validity-factor", "0",
                "--repl-diskless-sync-delay", "0",
                // CLUSTER SLOTS lists a replica only once its replication offset is not 0, and
                // on an idle master only the master's PINGs move it (every 10 s by default).
                "--repl-ping-replica-period", "1"};
      if (!options.tls_cert_file.empty()) {
        o.tls_cert_file = options.tls_cert_file;
        o.tls_key_file = options.tls_key_file;
        o.tls_ca_file = options.tls_ca_file;
        // The bus port would be tls-port + 10000 otherwise (the TLS port is any free one).
        o.args.insert(o.args.end(), {"--tls-cluster", "yes", "--tls-replication", "yes",
                                     "--cluster-port", std::to_string(port + kBusOffset),
                                     "--tls-client-cert-file", options.tls_client_cert_file,
                                     "--tls-client-key-file", options.tls_client_key_file});
      }
      o.args.insert(o.args.end(), options.extra_args.begin(), options.extra_args.end());
      server = RedisServer::start(o);
      if (server != nullptr) break;
      // Both ports still free: not a race but a server that will not start (bad extra_args?).
      if (can_bind(port) && can_bind(port + kBusOffset)) break;
      taken.push_back(port);  // do not pick it again
    }
    if (server == nullptr) {
      std::fprintf(stderr, "cluster set: could not start node %zu of %zu\n", i + 1, total);
      return nullptr;
    }
    taken.push_back(server->port());
    s->nodes_.push_back(std::move(server));
  }
  if (!s->build(deadline)) {
    std::fprintf(stderr, "cluster set: could not join the nodes into a cluster\n");
    s->report_nodes();
    return nullptr;
  }
  std::string reason;
  if (!s->ready(Check::kStart, deadline, reason)) {
    std::fprintf(stderr, "cluster set: not ready within 30 s: %s\n", reason.c_str());
    s->report_nodes();
    return nullptr;
  }
  return s;
}

bool ClusterSet::build(Clock::time_point deadline) {
  const std::size_t masters = static_cast<std::size_t>(options_.masters);
  for (const auto& n : nodes_) {
    const std::string id = text(query(n->port(), {"CLUSTER", "MYID"}, milliseconds(2000)));
    if (id.size() != 40) {
      std::fprintf(stderr, "cluster set: CLUSTER MYID on 127.0.0.1:%d: %s\n", n->port(),
                   id.c_str());
      return false;
    }
    ids_.push_back(id);
  }
  // Distinct config epochs before the nodes meet (as redis-cli does): no collision round later.
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!expect_ok(nodes_[i]->port(), {"CLUSTER", "SET-CONFIG-EPOCH", std::to_string(i + 1)})) {
      return false;
    }
  }
  // redis-cli's split: 0-5460, 5461-10922, 10923-16383 for three masters.
  const double per_master = static_cast<double>(kSlots) / static_cast<double>(masters);
  double cursor = 0;
  long first = 0;
  owner_cache_.assign(kSlots, 0);
  for (std::size_t i = 0; i < masters; ++i) {
    long last = std::lround(cursor + per_master - 1);
    if (last > kSlots - 1 || i == masters - 1) last = kSlots - 1;
    if (last < first) last = first;
    if (!expect_ok(nodes_[i]->port(),
                   {"CLUSTER", "ADDSLOTSRANGE", std::to_string(first), std::to_string(last)})) {
      return false;
    }
    for (long s = first; s <= last; ++s) owner_cache_[static_cast<std::size_t>(s)] = port(i);
    first = last + 1;
    cursor += per_master;
  }
  // Every pair meets directly: the full mesh is there after one handshake, not after gossip.
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    for (std::size_t j = i + 1; j < nodes_.size(); ++j) {
      if (!expect_ok(port(i), {"CLUSTER", "MEET", "127.0.0.1", std::to_string(port(j)),
                               std::to_string(port(j) + kBusOffset)})) {
        return false;
      }
    }
  }
  // Every node knows every other one (handshake done) before a replica names its master.
  std::string reason;
  for (;;) {
    reason.clear();
    for (std::size_t i = 0; i < nodes_.size() && reason.empty(); ++i) {
      std::vector<NodeLine> lines;
      if (!cluster_nodes(port(i), lines)) {
        reason = "node " + std::to_string(port(i)) + " does not answer CLUSTER NODES";
        break;
      }
      std::size_t known = 0;
      for (const auto& l : lines) {
        if (!has_flag(l.flags, "handshake") && !has_flag(l.flags, "noaddr")) ++known;
      }
      if (known != nodes_.size()) {
        reason = "node " + std::to_string(port(i)) + " knows " + std::to_string(known) + " of " +
                 std::to_string(nodes_.size()) + " nodes";
      }
    }
    if (reason.empty()) break;
    if (Clock::now() >= deadline) {
      std::fprintf(stderr, "cluster set: nodes did not meet: %s\n", reason.c_str());
      return false;
    }
    std::this_thread::sleep_for(kPoll);
  }
  for (std::size_t i = masters; i < nodes_.size(); ++i) {
    const std::size_t master =
        (i - masters) / static_cast<std::size_t>(options_.replicas_per_master);
    if (!expect_ok(port(i), {"CLUSTER", "REPLICATE", ids_[master]})) return false;
  }
  return true;
}

bool ClusterSet::ready(Check check, Clock::time_point deadline, std::string& reason) const {
  for (;;) {
    reason.clear();
    std::vector<int> ref_owner;
    std::map<int, std::vector<int>> ref_replicas;
    int ref_port = 0;
    for (std::size_t i = 0; i < nodes_.size() && reason.empty(); ++i) {
      if (!live(i)) continue;
      const int p = port(i);
      const View v = view_of(p);
      const std::string node = "node " + std::to_string(p);
      if (!v.answered) {
        reason = node + " does not answer CLUSTER INFO/SLOTS";
      } else if (!v.state_ok) {
        reason = node + " reports cluster_state:fail";
      } else if (v.slots_assigned != kSlots) {
        reason = node + " sees " + std::to_string(v.slots_assigned) + " slots assigned";
      } else if (check == Check::kStart && v.known_nodes != static_cast<int>(nodes_.size())) {
        reason = node + " knows " + std::to_string(v.known_nodes) + " nodes";
      } else if (ref_port == 0) {
        ref_owner = v.owner;
        ref_replicas = v.replicas;
        ref_port = p;
      } else if (const int s = first_difference(ref_owner, v.owner); s >= 0) {
        reason = "nodes " + std::to_string(ref_port) + " and " + std::to_string(p) +
                 " disagree on slot " + std::to_string(s) + " (" + std::to_string(ref_owner[s]) +
                 " vs " + std::to_string(v.owner[s]) + ")";
      } else if (check == Check::kStart && v.replicas != ref_replicas) {
        reason = "nodes " + std::to_string(ref_port) + " and " + std::to_string(p) +
                 " disagree on the replicas";
      }
    }
    if (reason.empty() && ref_port == 0) reason = "no live node";
    if (reason.empty() && check == Check::kStart) {
      const auto masters = static_cast<std::size_t>(options_.masters);
      const auto per = static_cast<std::size_t>(options_.replicas_per_master);
      for (std::size_t m = 0; m < masters && reason.empty(); ++m) {
        std::vector<int> want;
        for (std::size_t k = 0; k < per; ++k) want.push_back(port(masters + m * per + k));
        std::sort(want.begin(), want.end());
        const auto it = ref_replicas.find(port(m));
        const std::vector<int> have = it == ref_replicas.end() ? std::vector<int>{} : it->second;
        if (have != want) {
          reason = "master " + std::to_string(port(m)) + " has replicas " + ports_text(have) +
                   ", wanted " + ports_text(want);
        }
      }
    }
    for (std::size_t i = 0; i < nodes_.size() && reason.empty(); ++i) {
      if (live(i)) reason = replica_lag(port(i));
    }
    if (reason.empty()) {
      owner_cache_ = ref_owner;
      return true;
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPoll);
  }
}

bool ClusterSet::wait_ok(milliseconds limit) const {
  std::string reason;
  if (ready(Check::kOk, Clock::now() + limit, reason)) return true;
  std::fprintf(stderr, "cluster set: not ok within %lld ms: %s\n", ms(limit), reason.c_str());
  return false;
}

int ClusterSet::wait_failover(int old_master_port, milliseconds limit) const {
  const auto deadline = Clock::now() + limit;
  // The slots to take over: the old master's as last seen by the set or by any live node.
  std::vector<bool> wanted(kSlots, false);
  for (std::size_t s = 0; s < owner_cache_.size(); ++s) {
    wanted[s] = owner_cache_[s] == old_master_port;
  }
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!live(i) || port(i) == old_master_port) continue;
    View v;
    if (!read_slots(port(i), v)) continue;
    for (std::size_t s = 0; s < v.owner.size(); ++s) {
      if (v.owner[s] == old_master_port) wanted[s] = true;
    }
  }
  const auto first_wanted = std::find(wanted.begin(), wanted.end(), true);
  if (first_wanted == wanted.end()) {
    std::fprintf(stderr, "cluster set: wait_failover: %d owned no slot (as last seen)\n",
                 old_master_port);
    return 0;
  }
  const auto slot0 = static_cast<std::size_t>(first_wanted - wanted.begin());
  std::string reason;
  for (;;) {
    reason.clear();
    std::vector<int> ref;
    int ref_port = 0;
    for (std::size_t i = 0; i < nodes_.size() && reason.empty(); ++i) {
      if (!live(i) || port(i) == old_master_port) continue;
      const View v = view_of(port(i));
      const std::string node = "node " + std::to_string(port(i));
      if (!v.answered) {
        reason = node + " does not answer CLUSTER INFO/SLOTS";
      } else if (!v.state_ok) {
        reason = node + " reports cluster_state:fail";
      } else if (ref_port == 0) {
        ref = v.owner;
        ref_port = port(i);
      } else if (const int s = first_difference(ref, v.owner); s >= 0) {
        reason = "nodes " + std::to_string(ref_port) + " and " + std::to_string(port(i)) +
                 " disagree on slot " + std::to_string(s);
      }
    }
    if (reason.empty() && ref_port == 0) reason = "no live node";
    if (reason.empty()) {
      const int owner = ref[slot0];
      for (std::size_t s = 0; s < wanted.size() && reason.empty(); ++s) {
        if (wanted[s] && (ref[s] == old_master_port || ref[s] == 0 || ref[s] != owner)) {
          reason = "slot " + std::to_string(s) + " still served by " + std::to_string(ref[s]);
        }
      }
      if (reason.empty()) {
        owner_cache_ = ref;
        return owner;
      }
    }
    if (Clock::now() >= deadline) {
      std::fprintf(stderr, "cluster set: no failover of %d within %lld ms: %s\n", old_master_port,
                   ms(limit), reason.c_str());
      return 0;
    }
    std::this_thread::sleep_for(kPoll);
  }
}

ClusterSet::~ClusterSet() {
  // Replicas first: a master stopping with replicas attached would wait for them to catch up.
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) it->reset();
}

bool ClusterSet::live(std::size_t i) const {
  return i < nodes_.size() && nodes_[i] != nullptr && nodes_[i]->running();
}

RedisServer* ClusterSet::node_by_port(int port) {
  for (auto& n : nodes_) {
    if (n->port() == port) return n.get();
  }
  return nullptr;
}

std::vector<std::string> ClusterSet::seeds() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_) out.push_back("127.0.0.1:" + std::to_string(n->port()));
  return out;
}

std::vector<std::string> ClusterSet::tls_seeds() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_) out.push_back("127.0.0.1:" + std::to_string(n->tls_port()));
  return out;
}

std::string ClusterSet::id_for(int port) const {
  for (std::size_t i = 0; i < nodes_.size() && i < ids_.size(); ++i) {
    if (nodes_[i]->port() == port) return ids_[i];
  }
  return "";
}

std::string ClusterSet::node_id(int port) const {
  return id_for(port);
}

std::vector<int> ClusterSet::master_ports() const {
  std::vector<int> out;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    NodeLine me;
    if (live(i) && myself(port(i), me) && has_flag(me.flags, "master")) out.push_back(port(i));
  }
  return out;
}

int ClusterSet::replica_of(int master_port) const {
  const std::string id = id_for(master_port);
  if (id.empty()) return 0;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    NodeLine me;
    if (live(i) && port(i) != master_port && myself(port(i), me) && has_flag(me.flags, "slave") &&
        me.master == id) {
      return port(i);
    }
  }
  return 0;
}

int ClusterSet::owner_of_slot(int slot) const {
  if (slot < 0 || slot >= kSlots) return 0;
  std::vector<std::pair<int, int>> votes;  // port, count; in the order first seen
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    View v;
    if (!live(i) || !read_slots(port(i), v)) continue;
    const int owner = v.owner[static_cast<std::size_t>(slot)];
    auto it =
        std::find_if(votes.begin(), votes.end(), [&](const auto& e) { return e.first == owner; });
    if (it == votes.end()) {
      votes.emplace_back(owner, 1);
    } else {
      ++it->second;
    }
  }
  int best = 0;
  int count = 0;
  for (const auto& [p, n] : votes) {
    if (n > count) {
      best = p;
      count = n;
    }
  }
  return best;
}

bool ClusterSet::begin_migration(int slot, int to_port) {
  const int from = owner_of_slot(slot);
  const std::string from_id = id_for(from);
  const std::string to_id = id_for(to_port);
  if (from == 0 || from_id.empty() || to_id.empty() || from == to_port) {
    std::fprintf(stderr, "cluster set: begin_migration(%d, %d): slot owner %d%s\n", slot, to_port,
                 from, to_id.empty() ? ", target not a node of the set" : "");
    return false;
  }
  const std::string s = std::to_string(slot);
  return expect_ok(to_port, {"CLUSTER", "SETSLOT", s, "IMPORTING", from_id}) &&
         expect_ok(from, {"CLUSTER", "SETSLOT", s, "MIGRATING", to_id});
}

bool ClusterSet::migrate_keys(int slot, int to_port, const std::vector<std::string>& keys) {
  for (const auto& k : keys) {
    if (slot_of(k) != slot) {
      std::fprintf(stderr, "cluster set: migrate_keys: key \"%s\" is in slot %d, not %d\n",
                   k.c_str(), slot_of(k), slot);
      return false;
    }
  }
  if (keys.empty()) return true;
  const int from = owner_of_slot(slot);
  if (from == 0 || from == to_port) {
    std::fprintf(stderr, "cluster set: migrate_keys(%d, %d): slot owner %d\n", slot, to_port, from);
    return false;
  }
  const RedisServer* target = node_by_port(to_port);
  const int dial = tls() && target != nullptr ? target->tls_port() : to_port;
  std::vector<std::string> argv = {"MIGRATE", "127.0.0.1", std::to_string(dial), "", "0",
                                   "5000",    "KEYS"};
  argv.insert(argv.end(), keys.begin(), keys.end());
  return expect_ok(from, argv, milliseconds(10000), "NOKEY");
}

bool ClusterSet::finish_migration(int slot, int to_port) {
  const int from = owner_of_slot(slot);
  const std::string to_id = id_for(to_port);
  if (to_id.empty() || slot < 0 || slot >= kSlots) {
    std::fprintf(stderr, "cluster set: finish_migration(%d, %d): not a slot or not our node\n",
                 slot, to_port);
    return false;
  }
  // The source refuses SETSLOT NODE while it holds keys of the slot, but only if it has not
  // already heard from the target that the slot moved; then it deletes those keys. So check.
  if (from != 0 && from != to_port) {
    const std::string left =
        text(query(from, {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}, milliseconds(2000)));
    if (left != "0") {
      std::fprintf(stderr, "cluster set: finish_migration(%d, %d): source %d still holds %s keys\n",
                   slot, to_port, from, left.empty() ? "(no answer)" : left.c_str());
      return false;
    }
  }
  const std::vector<std::string> argv = {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", to_id};
  // The target first (it bumps its epoch and claims the slot), then the source, then the rest.
  // The target's bump must give the greatest epoch every node knows of (see the header).
  if (wait_epochs(0, std::chrono::seconds(5)) < 0) return false;
  if (!expect_ok(to_port, argv)) return false;
  const long long claimed =
      std::atoll(info_field(text(query(to_port, {"CLUSTER", "INFO"})), "cluster_my_epoch").c_str());
  if (wait_epochs(claimed, std::chrono::seconds(5)) < 0) return false;
  std::vector<int> order;
  if (from != 0 && from != to_port) order.push_back(from);
  for (int p : master_ports()) {
    if (p != to_port && std::find(order.begin(), order.end(), p) == order.end()) order.push_back(p);
  }
  for (int p : order) {
    if (!expect_ok(p, argv)) return false;
  }
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  for (;;) {
    int disagree = 0;
    int seen = 0;
    for (std::size_t i = 0; i < nodes_.size() && disagree == 0; ++i) {
      if (!live(i)) continue;
      View v;
      if (!read_slots(port(i), v)) {
        disagree = port(i);
      } else {
        seen = v.owner[static_cast<std::size_t>(slot)];
        if (seen != to_port) disagree = port(i);
      }
    }
    if (disagree == 0) {
      if (owner_cache_.size() == static_cast<std::size_t>(kSlots)) {
        owner_cache_[static_cast<std::size_t>(slot)] = to_port;
      }
      return true;
    }
    if (Clock::now() >= deadline) {
      std::fprintf(stderr,
                   "cluster set: finish_migration(%d, %d): node %d still names %d after 5 s\n",
                   slot, to_port, disagree, seen);
      return false;
    }
    std::this_thread::sleep_for(kPoll);
  }
}

long long ClusterSet::wait_epochs(long long floor, milliseconds limit) const {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    long long low = -1;
    long long high = -1;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (!live(i)) continue;
      const std::string e =
          info_field(text(query(port(i), {"CLUSTER", "INFO"})), "cluster_current_epoch");
      const long long epoch = e.empty() ? -1 : std::atoll(e.c_str());
      low = low < 0 || epoch < low ? epoch : low;
      high = std::max(high, epoch);
    }
    if (low >= floor && low == high) return low;
    if (Clock::now() >= deadline) {
      std::fprintf(stderr, "cluster set: current epochs still from %lld to %lld (want >= %lld)\n",
                   low, high, floor);
      return -1;
    }
    std::this_thread::sleep_for(kPoll);
  }
}

bool ClusterSet::move_slot(int slot, int to_port) {
  const int from = owner_of_slot(slot);
  if (from == to_port && from != 0) return true;
  if (!begin_migration(slot, to_port)) return false;
  constexpr int kBatch = 100;
  bool drained = false;
  for (int round = 0; round < 100000 && !drained; ++round) {
    const Reply r =
        query(from, {"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), std::to_string(kBatch)},
              milliseconds(2000));
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY) {
      std::fprintf(stderr, "cluster set: CLUSTER GETKEYSINSLOT %d on %d: %s\n", slot, from,
                   r == nullptr ? "no answer" : text(r).c_str());
      return false;
    }
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < r->elements; ++i) {
      keys.emplace_back(r->element[i]->str, r->element[i]->len);
    }
    drained = keys.empty();
    if (!drained && !migrate_keys(slot, to_port, keys)) return false;
  }
  if (!drained) {
    std::fprintf(stderr, "cluster set: move_slot(%d): keys still on %d\n", slot, from);
    return false;
  }
  return finish_migration(slot, to_port);
}

void ClusterSet::report_nodes() const {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const RedisServer& n = *nodes_[i];
    const std::string info = live(i) ? text(query(n.port(), {"CLUSTER", "INFO"})) : "";
    std::fprintf(stderr, "cluster set: node %zu port %d pid %d %s state %s known %s\n", i, n.port(),
                 static_cast<int>(n.pid()), n.running() ? "running" : "gone",
                 info_field(info, "cluster_state").c_str(),
                 info_field(info, "cluster_known_nodes").c_str());
    if (!n.running()) continue;
    // redis-server runs in its own --dir, which holds redis.log.
    char cwd[4096];
    const std::string link = "/proc/" + std::to_string(n.pid()) + "/cwd";
    const ssize_t len = ::readlink(link.c_str(), cwd, sizeof cwd - 1);
    if (len <= 0) continue;
    std::ifstream log(std::string(cwd, static_cast<std::size_t>(len)) + "/redis.log");
    std::deque<std::string> tail;
    for (std::string line; std::getline(log, line);) {
      if (line.find("overcommit") != std::string::npos) continue;  // noise on every start
      tail.push_back(line);
      if (tail.size() > 6) tail.pop_front();
    }
    for (const auto& line : tail) std::fprintf(stderr, "    %s\n", line.c_str());
  }
}

int ClusterSet::slot_of(std::string_view key) {
  const std::size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const std::size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return crc16_xmodem(key) & (kSlots - 1);
}

std::string ClusterSet::key_in_slot(int slot, std::string_view prefix) {
  if (slot < 0 || slot >= kSlots) return "";
  std::string key(prefix);
  for (int n = 0; n < (1 << 24); ++n) {
    key.resize(prefix.size());
    key += std::to_string(n);
    if (slot_of(key) == slot) return key;
  }
  return "";
}

}  // namespace rcache::test
