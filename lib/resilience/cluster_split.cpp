// Routing a wire by its keys, and calls split by slot and put back together.
#include <algorithm>
#include <cctype>
#include <mutex>

#include "protocol/resp.hpp"
#include "resilience/cluster_call.hpp"

namespace rcache::detail {

namespace {

bool multi_key(std::string_view name) {
  return name == "MGET" || name == "DEL" || name == "UNLINK" || name == "EXISTS" ||
         name == "TOUCH" || name == "MSET";
}

// The commands of a MULTI ... EXEC wire between the two: [start, next) and the slot of each.
struct Inner {
  std::size_t start = 0, next = 0;
  int slot = -1;
  bool cross = false;
};

int slot_of_keys(const WireCommand& c, bool& cross) {
  int slot = -1;
  for (auto i : c.key_index) {
    const int s = key_slot(c.args[i]);
    if (slot < 0) {
      slot = s;
    } else if (s != slot) {
      cross = true;
    }
  }
  return slot;
}

Result<std::vector<Inner>> transaction_of(std::string_view wire, std::size_t from) {
  std::vector<Inner> out;
  std::size_t at = from;
  while (at < wire.size()) {
    auto c = parse_wire_command(wire, at);
    if (!c) return std::move(c).error();
    if (c->name == "EXEC") {
      if (c->next != wire.size()) break;
      return out;
    }
    Inner in;
    in.start = at;
    in.next = c->next;
    in.slot = slot_of_keys(*c, in.cross);
    out.push_back(in);
    at = c->next;
  }
  return Error{Errc::invalid_argument, "MULTI without a final EXEC"};
}

void append_resp(std::string& out, const redisReply& r) {
  auto line = [&](char type, std::string_view text) {
    out += type;
    out.append(text);
    out += "\r\n";
  };
  switch (r.type) {
    case REDIS_REPLY_STRING:
      line('$', std::to_string(r.len));
      out.append(r.str, r.len);
      out += "\r\n";
      break;
    case REDIS_REPLY_STATUS:
      line('+', std::string_view(r.str, r.len));
      break;
    case REDIS_REPLY_ERROR:
      line('-', std::string_view(r.str, r.len));
      break;
    case REDIS_REPLY_INTEGER:
      line(':', std::to_string(r.integer));
      break;
    case REDIS_REPLY_ARRAY:
      line('*', std::to_string(r.elements));
      for (std::size_t i = 0; i < r.elements; ++i) append_resp(out, *r.element[i]);
      break;
    default:
      line('$', "-1");
      break;
  }
}

ReplyPtr reply_of(const std::string& resp) {
  redisReader* reader = redisReaderCreate();
  if (reader == nullptr) return nullptr;
  void* out = nullptr;
  if (redisReaderFeed(reader, resp.data(), resp.size()) != REDIS_OK ||
      redisReaderGetReply(reader, &out) != REDIS_OK) {
    out = nullptr;
  }
  redisReaderFree(reader);
  return ReplyPtr(static_cast<redisReply*>(out));
}

}  // namespace

bool read_only_command(std::string_view name) noexcept {
  static constexpr std::string_view kReads[] = {
      "GET",    "MGET",    "EXISTS", "PTTL",      "TTL",      "STRLEN",     "GETRANGE",
      "TYPE",   "HGET",    "HMGET",  "HGETALL",   "HEXISTS",  "HLEN",       "HKEYS",
      "HVALS",  "HSTRLEN", "SCARD",  "SISMEMBER", "SMEMBERS", "ZCARD",      "ZSCORE",
      "ZRANGE", "LLEN",    "LRANGE", "LINDEX",    "DUMP",     "PEXPIRETIME"};
  for (auto r : kReads) {
    if (name == r) return true;
  }
  return false;
}

bool broadcast_command(const WireCommand& c) {
  if (c.name == "FLUSHALL" || c.name == "FLUSHDB" || c.name == "DBSIZE" || c.name == "KEYS") {
    return true;
  }
  if (c.name != "SCRIPT" || c.args.empty()) return false;
  std::string sub(c.args[0]);
  for (auto& ch : sub) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return sub == "LOAD" || sub == "FLUSH";
}

Result<Routing> route_of(std::string_view wire) {
  auto first = parse_wire_command(wire);
  if (!first) return std::move(first).error();
  Routing r;
  r.broadcast = broadcast_command(*first) && first->next == wire.size();
  r.read_only = read_only_command(first->name);
  for (std::size_t at = first->next; r.read_only && at < wire.size();) {
    auto c = parse_wire_command(wire, at);
    if (!c) return std::move(c).error();
    r.read_only = read_only_command(c->name);
    at = c->next;
  }
  if (first->name == "MULTI") {
    auto inner = transaction_of(wire, first->next);
    if (!inner) return r;  // not one we built: the first key decides (none: any master)
    bool split_ok = true;
    for (const auto& in : *inner) {
      if (in.slot < 0 || in.cross) split_ok = false;
      if (in.slot < 0) continue;
      if (r.slot < 0) {
        r.slot = in.slot;
      } else if (in.slot != r.slot) {
        r.cross_slot = true;
      }
    }
    r.splittable = split_ok && !inner->empty();
    return r;
  }
  r.slot = slot_of_keys(*first, r.cross_slot);
  r.splittable = multi_key(first->name) && first->next == wire.size();
  return r;
}

AskingWire with_asking(const std::string& wire) {
  std::string w;
  w.reserve(wire.size() + 20);
  RespWriter out(w);
  AskingWire a;
  auto first = parse_wire_command(wire);
  if (!first || first->name == "MULTI" || first->next == wire.size()) {
    out.begin(1);
    out.arg("ASKING");
    w += wire;
    a.extra = 1;
  } else {
    a.extra = 0;
    for (std::size_t at = 0; at < wire.size();) {
      auto c = parse_wire_command(wire, at);
      const std::size_t next = c ? c->next : wire.size();
      out.begin(1);
      out.arg("ASKING");
      w.append(wire, at, next - at);
      ++a.extra;
      at = next;
    }
  }
  a.wire = std::make_shared<const std::string>(std::move(w));
  return a;
}

void strip_asking(Outcome& o, std::uint32_t extra) {
  if (o.error || o.earlier.empty()) return;
  if (extra == 1) {
    o.earlier.erase(o.earlier.begin());
    return;
  }
  std::vector<ReplyPtr> kept;
  kept.reserve(o.earlier.size() / 2);
  for (std::size_t i = 1; i < o.earlier.size(); i += 2) kept.push_back(std::move(o.earlier[i]));
  o.earlier = std::move(kept);
}

std::optional<Redirect> find_redirect(const Outcome& o) {
  for (const auto& e : o.earlier) {
    if (e != nullptr) {
      if (auto rd = parse_redirect(*e)) return rd;
    }
  }
  if (o.reply != nullptr) return parse_redirect(*o.reply);
  return std::nullopt;
}

Result<SplitPlan> plan_split(std::string_view wire) {
  auto first = parse_wire_command(wire);
  if (!first) return std::move(first).error();
  SplitPlan plan;
  auto part_for = [&](std::uint16_t slot) -> SplitPart& {
    for (auto& p : plan.parts) {
      if (p.slot == slot) return p;
    }
    plan.parts.push_back(SplitPart{slot, nullptr, {}, {}, 1});
    return plan.parts.back();
  };
  if (first->name == "MULTI") {
    auto inner = transaction_of(wire, first->next);
    if (!inner) return std::move(inner).error();
    plan.kind = SplitKind::transaction;
    plan.total = inner->size();
    for (std::size_t i = 0; i < inner->size(); ++i) {
      part_for(static_cast<std::uint16_t>((*inner)[i].slot)).items.push_back(i);
    }
    for (auto& p : plan.parts) {
      RespWriter out(p.wire);
      out.begin(1);
      out.arg("MULTI");
      for (auto i : p.items) {
        const auto& in = (*inner)[i];
        p.wire.append(wire.substr(in.start, in.next - in.start));
      }
      out.begin(1);
      out.arg("EXEC");
      p.replies = static_cast<std::uint32_t>(p.items.size() + 2);
    }
    return plan;
  }
  const bool pairs = first->name == "MSET";
  plan.kind = pairs ? SplitKind::ok : first->name == "MGET" ? SplitKind::values : SplitKind::count;
  plan.total = pairs ? first->args.size() / 2 : first->key_index.size();
  for (std::size_t i = 0; i < plan.total; ++i) {
    const auto key = first->args[pairs ? 2 * i : first->key_index[i]];
    part_for(key_slot(key)).items.push_back(i);
  }
  for (auto& p : plan.parts) {
    RespWriter out(p.wire);
    out.begin(1 + p.items.size() * (pairs ? 2 : 1));
    out.arg(first->name);
    for (auto i : p.items) {
      if (pairs) {
        out.arg(first->args[2 * i]);
        out.arg(first->args[2 * i + 1]);
      } else {
        out.arg(first->args[first->key_index[i]]);
      }
    }
  }
  return plan;
}

SplitPlan plan_broadcast(std::string_view wire, const std::vector<std::uint16_t>& slots,
                         const std::vector<ClusterNode*>& nodes) {
  SplitPlan plan;
  auto first = parse_wire_command(wire);
  const std::string name = first ? first->name : std::string();
  plan.kind = name == "DBSIZE" ? SplitKind::count
              : name == "KEYS" ? SplitKind::concat
                               : SplitKind::first;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    plan.parts.push_back(
        SplitPart{slots[i], i < nodes.size() ? nodes[i] : nullptr, {}, std::string(wire), 1});
  }
  return plan;
}

Outcome merge_split(const SplitPlan& plan, std::vector<Outcome>&& parts) {
  bool sent = false;  // a part that failed unsent does not make the whole call unsent
  for (const auto& p : parts) sent = sent || p.sent;
  for (auto& p : parts) {
    if (p.error || p.reply == nullptr) {
      p.sent = sent;
      return std::move(p);
    }
  }
  if (plan.kind == SplitKind::first || plan.kind == SplitKind::concat) {
    std::size_t total = 0;
    for (auto& p : parts) {
      if (p.reply->type == REDIS_REPLY_ERROR) return std::move(p);
      if (plan.kind == SplitKind::concat) {
        if (p.reply->type != REDIS_REPLY_ARRAY) return std::move(p);
        total += p.reply->elements;
      }
    }
    if (plan.kind == SplitKind::first) return std::move(parts.front());
    std::string all = "*" + std::to_string(total) + "\r\n";
    for (auto& p : parts) {
      for (std::size_t i = 0; i < p.reply->elements; ++i) append_resp(all, *p.reply->element[i]);
    }
    Outcome out;
    out.sent = true;
    out.reply = reply_of(all);
    if (out.reply == nullptr) {
      out.error = Error{Errc::too_large, "out of memory putting a split reply together"};
    }
    return out;
  }
  std::string resp;
  std::int64_t sum = 0;
  std::vector<const redisReply*> elements(plan.total, nullptr);
  for (std::size_t g = 0; g < parts.size(); ++g) {
    const redisReply& r = *parts[g].reply;
    const auto& items = plan.parts[g].items;
    switch (plan.kind) {
      case SplitKind::count:
        if (r.type != REDIS_REPLY_INTEGER) return std::move(parts[g]);
        sum += r.integer;
        break;
      case SplitKind::ok:
        if (r.type != REDIS_REPLY_STATUS) return std::move(parts[g]);
        break;
      case SplitKind::first:
      case SplitKind::concat:
        break;  // handled above
      case SplitKind::values:
      case SplitKind::transaction:
        if (r.type != REDIS_REPLY_ARRAY || r.elements != items.size()) return std::move(parts[g]);
        if (plan.kind == SplitKind::transaction && parts[g].earlier.size() != items.size() + 1) {
          return std::move(parts[g]);
        }
        for (std::size_t j = 0; j < items.size(); ++j) elements[items[j]] = r.element[j];
        break;
    }
  }
  Outcome out;
  out.sent = true;
  if (plan.kind == SplitKind::count) {
    resp = ":" + std::to_string(sum) + "\r\n";
  } else if (plan.kind == SplitKind::ok) {
    resp = "+OK\r\n";
  } else {
    resp = "*" + std::to_string(plan.total) + "\r\n";
    for (const auto* e : elements) append_resp(resp, *e);
  }
  if (plan.kind == SplitKind::transaction) {
    out.earlier.resize(plan.total + 1);
    out.earlier[0] = std::move(parts[0].earlier[0]);  // MULTI's OK
    for (std::size_t g = 0; g < parts.size(); ++g) {
      const auto& items = plan.parts[g].items;
      for (std::size_t j = 0; j < items.size(); ++j) {
        out.earlier[items[j] + 1] = std::move(parts[g].earlier[j + 1]);
      }
    }
  }
  out.reply = reply_of(resp);
  if (out.reply == nullptr) {
    out.error = Error{Errc::too_large, "out of memory putting a split reply together"};
  }
  return out;
}

struct ClusterRouter::Merge {
  SplitPlan plan;
  std::mutex mu;
  std::size_t left = 0;
  std::vector<Outcome> parts;
  Completion done;
  std::optional<Error> refused;  // the first refusal
  std::size_t refusals = 0;
};

Result<void> ClusterRouter::split(const std::shared_ptr<const std::string>& wire,
                                  const Command& meta, bool read_only, Completion& done) {
  auto plan = plan_split(*wire);
  if (!plan) {
    Error e = std::move(plan).error();
    e.message = std::string(meta.name) + ": " + e.message;
    return e;
  }
  auto view = topology_.view();
  return run_split(std::move(*plan), meta, read_only, done, *view);
}

Result<void> ClusterRouter::broadcast(const std::shared_ptr<const std::string>& wire,
                                      const Command& meta, const ClusterView& view,
                                      Completion& done) {
  std::vector<std::uint16_t> slots;  // one of each master, and the master itself
  std::vector<ClusterNode*> nodes;
  std::vector<bool> seen(view.nodes.size(), false);
  for (std::uint32_t s = 0; s < kClusterSlots; ++s) {
    const auto m = view.map.master_of(static_cast<std::uint16_t>(s));
    if (m == SlotMap::kNone || m >= seen.size() || seen[m] || view.nodes[m] == nullptr) continue;
    seen[m] = true;
    slots.push_back(static_cast<std::uint16_t>(s));
    nodes.push_back(view.nodes[m]);
  }
  if (slots.empty()) {
    return Error{Errc::connection, std::string(meta.name) + ": no master in the cluster's map"};
  }
  return run_split(plan_broadcast(*wire, slots, nodes), meta, false, done, view);
}

Result<void> ClusterRouter::run_split(SplitPlan plan, const Command& meta, bool read_only,
                                      Completion& done, const ClusterView& view) {
  auto merge = std::make_shared<Merge>();
  merge->plan = std::move(plan);
  const std::size_t n = merge->plan.parts.size();
  merge->parts.resize(n);
  merge->left = n;
  merge->done = std::move(done);
  auto finish = [merge] {
    Outcome out;
    try {
      out = merge_split(merge->plan, std::move(merge->parts));
    } catch (const std::bad_alloc&) {
      out = Outcome{};
      out.sent = true;
      out.error = Error{Errc::too_large, "out of memory putting a split reply together"};
    }
    complete(merge->done, std::move(out));
  };
  const TimePoint deadline =
      meta.deadline != TimePoint{} ? meta.deadline : clock_.now() + cfg_.deadline;
  std::vector<std::optional<Error>> refusals(n);
  for (std::size_t g = 0; g < n; ++g) {
    auto call = std::make_shared<Call>();
    call->wire = std::make_shared<const std::string>(std::move(merge->plan.parts[g].wire));
    call->replies = merge->plan.parts[g].replies;
    call->name = meta.name;
    call->idempotent = meta.idempotent;
    call->op = meta.op;
    call->slot = merge->plan.parts[g].slot;
    call->node = merge->plan.parts[g].node;
    call->read_only = read_only;
    call->deadline = deadline;
    call->done = [merge, g, finish](Outcome&& o) {
      bool last = false;
      {
        std::lock_guard lock(merge->mu);
        merge->parts[g] = std::move(o);
        last = --merge->left == 0;
      }
      if (last) finish();
    };
    if (auto r = route(call, view); !r) refusals[g] = std::move(r).error();
  }
  bool last = false;
  bool all_refused = false;
  {
    std::lock_guard lock(merge->mu);
    for (std::size_t g = 0; g < n; ++g) {
      if (!refusals[g]) continue;
      if (!merge->refused) merge->refused = refusals[g];
      ++merge->refusals;
      merge->parts[g].error = std::move(refusals[g]);
      last = --merge->left == 0;
    }
    all_refused = merge->refusals == n;
  }
  if (all_refused) {  // nothing was sent: a refusal like any other, `done` is the caller's again
    done = std::move(merge->done);
    return std::move(*merge->refused);
  }
  if (last) transport_.post(finish);
  return {};
}

}  // namespace rcache::detail
