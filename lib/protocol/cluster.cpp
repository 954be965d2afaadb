// Key slots, redirects, the CLUSTER SLOTS reply and the keys of a command wire.
#include "protocol/cluster.hpp"

#include <array>
#include <charconv>
#include <utility>

#include "base/config_text.hpp"
#include "protocol/replies.hpp"

namespace rcache::detail {

namespace {

// CRC16-XMODEM (polynomial 0x1021, initial value 0, no reflection), a byte at a time.
constexpr std::array<std::uint16_t, 256> make_crc_table() noexcept {
  std::array<std::uint16_t, 256> table{};
  for (unsigned i = 0; i < 256; ++i) {
    unsigned crc = i << 8;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000U) != 0 ? (crc << 1) ^ 0x1021U : crc << 1;
    }
    table[i] = static_cast<std::uint16_t>(crc & 0xFFFFU);
  }
  return table;
}
constexpr std::array<std::uint16_t, 256> kCrcTable = make_crc_table();

char upper(char c) noexcept {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

bool iequals(std::string_view a, std::string_view upper_b) noexcept {
  if (a.size() != upper_b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (upper(a[i]) != upper_b[i]) return false;
  }
  return true;
}

bool valid_port(int port) noexcept {
  return port >= 1 && port <= 65535;
}

// "host:port" split at the last ':', or "[v6]:port"; the host may be empty (not in brackets).
std::optional<std::pair<std::string_view, int>> split_address(std::string_view addr) {
  std::string_view host;
  std::string_view port_text;
  if (!addr.empty() && addr[0] == '[') {
    const auto close = addr.find(']');
    if (close == std::string_view::npos || close == 1 || close + 1 >= addr.size() ||
        addr[close + 1] != ':') {
      return std::nullopt;
    }
    host = addr.substr(1, close - 1);
    port_text = addr.substr(close + 2);
  } else {
    const auto colon = addr.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = addr.substr(0, colon);
    port_text = addr.substr(colon + 1);
  }
  int port = 0;
  if (!parse_int(port_text, port) || !valid_port(port)) return std::nullopt;
  return std::pair{host, port};
}

Error slots_error(const std::string& what) {
  return Error{Errc::protocol, "CLUSTER SLOTS: " + what};
}

// One node of a range: [ip, port, id?, ...]. nullopt (no error) when its endpoint is unknown.
Result<std::optional<NodeAddress>> parse_node(const redisReply* n, std::string_view asked_host,
                                              const std::string& where) {
  if (n == nullptr || n->type != REDIS_REPLY_ARRAY || n->elements < 2) {
    return slots_error(where + " is not an array of [ip, port, id]");
  }
  const redisReply* ip = n->element[0];
  const redisReply* port = n->element[1];
  const bool nil_ip = ip != nullptr && ip->type == REDIS_REPLY_NIL;  // unknown-endpoint: asked
  if (!nil_ip && !is_text(ip)) return slots_error(where + ": the ip is not a string");
  if (port == nullptr || port->type != REDIS_REPLY_INTEGER) {
    return slots_error(where + ": the port is not an integer");
  }
  std::string id;
  if (n->elements >= 3) {
    if (!is_text(n->element[2])) return slots_error(where + ": the node id is not a string");
    id = std::string(text(*n->element[2]));
  }
  const std::string_view host = nil_ip ? std::string_view() : text(*ip);
  if (host == "?") return std::optional<NodeAddress>{};
  if (has_control_or_space(host)) return slots_error(where + ": bad ip " + quote(host));
  if (port->integer < 1 || port->integer > 65535) {
    return slots_error(where + ": port " + std::to_string(port->integer) +
                       " is out of range (expected 1..65535)");
  }
  return std::optional<NodeAddress>{NodeAddress{std::string(host.empty() ? asked_host : host),
                                                static_cast<int>(port->integer), std::move(id)}};
}

// What the keys of a command are, by its name.
enum class KeySpec { none, all, pairs, script, memory, object, first };

struct KeyRule {
  std::string_view name;
  KeySpec spec;
};

constexpr std::array kKeyRules{
    KeyRule{"PING", KeySpec::none},         KeyRule{"ECHO", KeySpec::none},
    KeyRule{"INFO", KeySpec::none},         KeyRule{"SCAN", KeySpec::none},
    KeyRule{"DBSIZE", KeySpec::none},       KeyRule{"CLIENT", KeySpec::none},
    KeyRule{"CLUSTER", KeySpec::none},      KeyRule{"SCRIPT", KeySpec::none},
    KeyRule{"FLUSHDB", KeySpec::none},      KeyRule{"FLUSHALL", KeySpec::none},
    KeyRule{"TIME", KeySpec::none},         KeyRule{"CONFIG", KeySpec::none},
    KeyRule{"PUBLISH", KeySpec::none},      KeyRule{"SUBSCRIBE", KeySpec::none},
    KeyRule{"PSUBSCRIBE", KeySpec::none},   KeyRule{"UNSUBSCRIBE", KeySpec::none},
    KeyRule{"PUNSUBSCRIBE", KeySpec::none}, KeyRule{"MULTI", KeySpec::none},
    KeyRule{"EXEC", KeySpec::none},         KeyRule{"DISCARD", KeySpec::none},
    KeyRule{"ASKING", KeySpec::none},       KeyRule{"READONLY", KeySpec::none},
    KeyRule{"READWRITE", KeySpec::none},    KeyRule{"HELLO", KeySpec::none},
    KeyRule{"AUTH", KeySpec::none},         KeyRule{"SELECT", KeySpec::none},
    KeyRule{"COMMAND", KeySpec::none},      KeyRule{"ROLE", KeySpec::none},
    KeyRule{"LASTSAVE", KeySpec::none},     KeyRule{"WAIT", KeySpec::none},
    KeyRule{"SLOWLOG", KeySpec::none},      KeyRule{"LATENCY", KeySpec::none},
    KeyRule{"RANDOMKEY", KeySpec::none},    KeyRule{"SWAPDB", KeySpec::none},
    KeyRule{"FUNCTION", KeySpec::none},     KeyRule{"DEL", KeySpec::all},
    KeyRule{"UNLINK", KeySpec::all},        KeyRule{"EXISTS", KeySpec::all},
    KeyRule{"MGET", KeySpec::all},          KeyRule{"TOUCH", KeySpec::all},
    KeyRule{"WATCH", KeySpec::all},         KeyRule{"MSET", KeySpec::pairs},
    KeyRule{"MSETNX", KeySpec::pairs},      KeyRule{"EVAL", KeySpec::script},
    KeyRule{"EVALSHA", KeySpec::script},    KeyRule{"EVAL_RO", KeySpec::script},
    KeyRule{"EVALSHA_RO", KeySpec::script}, KeyRule{"FCALL", KeySpec::script},
    KeyRule{"FCALL_RO", KeySpec::script},   KeyRule{"MEMORY", KeySpec::memory},
    KeyRule{"OBJECT", KeySpec::object},
};

KeySpec key_spec(std::string_view name) noexcept {
  for (const KeyRule& rule : kKeyRules) {
    if (rule.name == name) return rule.spec;
  }
  return KeySpec::first;
}

// Reads the RESP framing of one command: "*<n>\r\n" then n times "$<len>\r\n<bytes>\r\n".
class WireReader {
 public:
  WireReader(std::string_view wire, std::size_t pos) : wire_(wire), pos_(pos) {}

  std::size_t pos() const noexcept { return pos_; }
  std::size_t left() const noexcept { return wire_.size() - pos_; }

  // "<type><decimal>\r\n"
  bool header(char type, std::size_t& n) {
    if (left() < 4 || wire_[pos_] != type) return false;
    const char* begin = wire_.data() + pos_ + 1;
    const char* end = wire_.data() + wire_.size();
    if (*begin < '0' || *begin > '9') return false;  // no sign, no space
    auto [ptr, ec] = std::from_chars(begin, end, n);
    if (ec != std::errc() || end - ptr < 2 || ptr[0] != '\r' || ptr[1] != '\n') return false;
    pos_ = static_cast<std::size_t>(ptr + 2 - wire_.data());
    return true;
  }

  bool bulk(std::string_view& out) {
    std::size_t len = 0;
    if (!header('$', len) || left() < 2 || len > left() - 2) return false;
    if (wire_[pos_ + len] != '\r' || wire_[pos_ + len + 1] != '\n') return false;
    out = wire_.substr(pos_, len);
    pos_ += len + 2;
    return true;
  }

 private:
  std::string_view wire_;
  std::size_t pos_;
};

Error bad_wire(std::size_t offset, const std::string& what) {
  return Error{Errc::invalid_argument,
               "malformed command at offset " + std::to_string(offset) + ": " + what};
}

}  // namespace

std::uint16_t crc16(std::string_view bytes) noexcept {
  std::uint16_t crc = 0;
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    crc = static_cast<std::uint16_t>((crc << 8) ^ kCrcTable[((crc >> 8) ^ b) & 0xFFU]);
  }
  return crc;
}

std::uint16_t key_slot(std::string_view key) noexcept {
  const auto open = key.find('{');
  if (open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return static_cast<std::uint16_t>(crc16(key) % kClusterSlots);
}

std::optional<Redirect> parse_redirect(const redisReply& r) {
  if (r.type != REDIS_REPLY_ERROR) return std::nullopt;
  const std::string_view all = text(r);
  const auto space1 = all.find(' ');
  if (space1 == std::string_view::npos) return std::nullopt;
  Redirect out;
  const std::string_view word = all.substr(0, space1);
  if (word == "MOVED") {
    out.kind = Redirect::Kind::moved;
  } else if (word == "ASK") {
    out.kind = Redirect::Kind::ask;
  } else {
    return std::nullopt;
  }
  const std::string_view rest = all.substr(space1 + 1);
  const auto space2 = rest.find(' ');
  if (space2 == std::string_view::npos) return std::nullopt;
  const std::string_view address = rest.substr(space2 + 1);
  if (!parse_int(rest.substr(0, space2), out.slot) || out.slot >= kClusterSlots ||
      has_control_or_space(address)) {
    return std::nullopt;
  }
  auto split = split_address(address);
  if (!split) return std::nullopt;
  out.host = std::string(split->first);
  out.port = split->second;
  return out;
}

ClusterWord cluster_word(const redisReply& r) noexcept {
  if (r.type != REDIS_REPLY_ERROR) return ClusterWord::none;
  const std::string_view all = text(r);
  const std::string_view word = all.substr(0, all.find(' '));
  if (word == "MOVED") return ClusterWord::moved;
  if (word == "ASK") return ClusterWord::ask;
  if (word == "TRYAGAIN") return ClusterWord::tryagain;
  if (word == "CLUSTERDOWN") return ClusterWord::clusterdown;
  if (word == "CROSSSLOT") return ClusterWord::crossslot;
  if (word == "READONLY") return ClusterWord::readonly;
  return ClusterWord::none;
}

std::string address_of(const NodeAddress& n) {
  const bool v6 = n.host.find(':') != std::string::npos;
  std::string out;
  out.reserve(n.host.size() + 8);
  if (v6) out += '[';
  out += n.host;
  if (v6) out += ']';
  out += ':';
  out += std::to_string(n.port);
  return out;
}

Result<std::vector<SlotRange>> parse_cluster_slots(const redisReply& r,
                                                   std::string_view asked_host) {
  if (r.type == REDIS_REPLY_ERROR) return error_from_reply(r, "CLUSTER SLOTS");
  if (r.type != REDIS_REPLY_ARRAY) {
    return slots_error("unexpected " + std::string(reply_type_name(r.type)) + " reply");
  }
  std::vector<SlotRange> out;
  out.reserve(r.elements);
  for (std::size_t i = 0; i < r.elements; ++i) {
    const redisReply* e = r.element[i];
    const std::string where = "range " + std::to_string(i);
    if (e == nullptr || e->type != REDIS_REPLY_ARRAY || e->elements < 3) {
      return slots_error(where + " is not an array of [first, last, master, replicas...]");
    }
    const redisReply* first = e->element[0];
    const redisReply* last = e->element[1];
    if (first == nullptr || first->type != REDIS_REPLY_INTEGER || last == nullptr ||
        last->type != REDIS_REPLY_INTEGER) {
      return slots_error(where + ": the slot bounds are not integers");
    }
    if (first->integer < 0 || last->integer >= kClusterSlots || first->integer > last->integer) {
      return slots_error(where + ": bad slots " + std::to_string(first->integer) + "-" +
                         std::to_string(last->integer));
    }
    SlotRange range;
    range.first = static_cast<std::uint16_t>(first->integer);
    range.last = static_cast<std::uint16_t>(last->integer);
    const std::string slots =
        " (slots " + std::to_string(range.first) + "-" + std::to_string(range.last) + ")";
    auto master = parse_node(e->element[2], asked_host, where + slots + " master");
    if (!master) return std::move(master).error();
    for (std::size_t j = 3; j < e->elements; ++j) {
      auto replica = parse_node(e->element[j], asked_host,
                                where + slots + " replica " + std::to_string(j - 2));
      if (!replica) return std::move(replica).error();
      if (replica->has_value()) range.replicas.push_back(std::move(**replica));
    }
    if (!master->has_value()) continue;  // unknown endpoint: nobody to send these slots to
    range.master = std::move(**master);
    out.push_back(std::move(range));
  }
  return out;
}

Result<WireCommand> parse_wire_command(std::string_view wire, std::size_t offset) {
  if (offset >= wire.size()) return bad_wire(offset, "nothing to read");
  WireReader in(wire, offset);
  std::size_t argc = 0;
  if (!in.header('*', argc)) return bad_wire(offset, "not an array header");
  if (argc == 0) return bad_wire(offset, "an empty command");
  // Every argument takes at least "$0\r\n\r\n": more than that cannot be in the wire.
  if (argc > in.left() / 6)
    return bad_wire(offset, "truncated (" + std::to_string(argc) + " args)");
  WireCommand out;
  std::string_view name;
  if (!in.bulk(name)) return bad_wire(in.pos(), "bad or truncated command name");
  if (name.empty()) return bad_wire(offset, "an empty command name");
  out.name.reserve(name.size());
  for (const char c : name) out.name += upper(c);
  out.args.reserve(argc - 1);
  for (std::size_t i = 1; i < argc; ++i) {
    std::string_view arg;
    if (!in.bulk(arg)) {
      return bad_wire(in.pos(),
                      "bad or truncated argument " + std::to_string(i) + " of " + out.name);
    }
    out.args.push_back(arg);
  }
  out.next = in.pos();

  const std::size_t n = out.args.size();
  switch (n == 0 ? KeySpec::none : key_spec(out.name)) {
    case KeySpec::none:
      break;
    case KeySpec::all:
      for (std::size_t i = 0; i < n; ++i) out.key_index.push_back(i);
      break;
    case KeySpec::pairs:
      for (std::size_t i = 0; i < n; i += 2) out.key_index.push_back(i);
      break;
    case KeySpec::script: {
      std::size_t numkeys = 0;
      if (n < 2 || !parse_int(out.args[1], numkeys)) {
        return bad_wire(offset, out.name + " without a numkeys");
      }
      if (numkeys > n - 2) {
        return bad_wire(offset, out.name + " numkeys " + std::to_string(numkeys) + " but only " +
                                    std::to_string(n - 2) + " arguments after it");
      }
      for (std::size_t i = 0; i < numkeys; ++i) out.key_index.push_back(2 + i);
      break;
    }
    case KeySpec::memory:
      if (n >= 2 && iequals(out.args[0], "USAGE")) out.key_index.push_back(1);
      break;
    case KeySpec::object:
      if (n >= 2) out.key_index.push_back(1);
      break;
    case KeySpec::first:
      out.key_index.push_back(0);
      break;
  }
  return out;
}

}  // namespace rcache::detail
