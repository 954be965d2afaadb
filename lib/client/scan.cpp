// Client::scan(): a KeyScan, one SCAN page per next_page(), master after master with a cluster.
#include "rcache/scan.hpp"

#include "client/calls.hpp"
#include "protocol/commands.hpp"
#include "protocol/replies.hpp"
#include "rcache/client.hpp"

namespace rcache {
namespace detail {

struct ScanState {
  ClientCore* core = nullptr;
  ScanOptions options;
  std::string match;                // key_prefix (escaped) + options.match
  std::vector<ClusterNode*> nodes;  // with a cluster: the masters, in turn
  bool nodes_known = false;
  std::size_t node = 0;  // index into nodes
  std::string cursor = "0";
  bool finished = false;
  std::optional<Error> error;
  std::uint64_t visited = 0;

  // With a cluster: the masters of the current map (asked for once, at the first page).
  Result<void> learn_nodes() {
    nodes_known = true;
    ClusterRouter* router = core->cluster();
    if (router == nullptr) return {};
    auto view = router->topology().view();
    if (view == nullptr) {
      // No map yet: a routed PING waits for (or triggers) the first refresh, within its deadline.
      auto ping = core->call<std::chrono::microseconds>(
          Command::of("PING", ping_command(), Op::internal),
          on_reply<std::chrono::microseconds>([](const redisReply&) {
            return Result<std::chrono::microseconds>(std::chrono::microseconds(0));
          }));
      view = router->topology().view();
      if (view == nullptr) {
        return Error{ping.ok() ? Errc::connection : ping.error().code,
                     "scan: the cluster's slot map is not known yet" +
                         (ping.ok() ? std::string() : ": " + ping.error().message)};
      }
    }
    for (auto m : view->map.masters()) nodes.push_back(view->nodes[m]);
    return {};
  }

  Result<std::optional<std::vector<std::string>>> page() {
    if (error) return *error;
    if (finished) return std::optional<std::vector<std::string>>{};
    if (!nodes_known) {
      if (auto r = learn_nodes(); !r) return fail(std::move(r).error());
    }
    ClusterNode* target = nodes.empty() ? nullptr : nodes[node];
    const std::size_t count = options.count != 0 ? options.count : core->config().scan_count;
    Command cmd = Command::of("SCAN", scan_command(cursor, match, count, options.type), Op::scan);
    cmd.keys = 0;
    auto got = core->call_on<ScanPage>(
        target, std::move(cmd),
        on_reply<ScanPage>([](const redisReply& r) { return parse_scan(r); }));
    if (!got) return fail(std::move(got).error());
    cursor = std::move(got->cursor);
    if (cursor == "0") {
      if (node + 1 < nodes.size()) {
        ++node;  // the next master, from its own cursor 0
      } else {
        finished = true;
      }
    }
    const std::string& prefix = core->config().key_prefix;
    std::vector<std::string> keys = std::move(got->keys);
    for (auto& k : keys) {
      if (!prefix.empty() && k.compare(0, prefix.size(), prefix) == 0) k.erase(0, prefix.size());
    }
    visited += keys.size();
    return std::optional<std::vector<std::string>>(std::move(keys));
  }

  Error fail(Error e) {
    std::string where = nodes.size() > 1 ? " (master " + std::to_string(node + 1) + " of " +
                                               std::to_string(nodes.size()) + ")"
                                         : std::string();
    e.message =
        "scan stopped after " + std::to_string(visited) + " keys" + where + ": " + e.message;
    error = e;
    return e;
  }
};

}  // namespace detail

KeyScan::KeyScan(detail::ClientCore& core, ScanOptions options)
    : state_(std::make_unique<detail::ScanState>()) {
  state_->core = &core;
  state_->match = detail::escape_glob(core.config().key_prefix);
  state_->match.append(options.match.empty() ? std::string("*") : options.match);
  state_->options = std::move(options);
}
KeyScan::~KeyScan() = default;
KeyScan::KeyScan(KeyScan&&) noexcept = default;
KeyScan& KeyScan::operator=(KeyScan&&) noexcept = default;

Result<std::optional<std::vector<std::string>>> KeyScan::next_page() {
  try {
    return state_->page();
  } catch (const std::bad_alloc&) {
    return state_->fail(Error{Errc::too_large, "out of memory reading a SCAN page"});
  }
}

bool KeyScan::ok() const noexcept {
  return !state_->error.has_value();
}
const Error& KeyScan::error() const noexcept {
  static const Error kNone{};
  return state_->error ? *state_->error : kNone;
}
bool KeyScan::done() const noexcept {
  return state_->finished || state_->error.has_value();
}
std::uint64_t KeyScan::visited() const noexcept {
  return state_->visited;
}

KeyScan::iterator::iterator(KeyScan* scan) : scan_(scan), page_(&scan->page_), pos_(0) {
  scan_->page_.clear();
  settle();
}

KeyScan::iterator& KeyScan::iterator::operator++() {
  ++pos_;
  settle();
  return *this;
}

void KeyScan::iterator::settle() {
  while (scan_ != nullptr && pos_ >= page_->size()) {
    auto next = scan_->next_page();
    if (!next.ok() || !next->has_value()) {
      scan_ = nullptr;  // the end: done, or stopped on an error (KeyScan::ok() says)
      page_ = nullptr;
      return;
    }
    scan_->page_ = std::move(**next);
    pos_ = 0;
  }
}

KeyScan Client::scan(ScanOptions options) {
  return KeyScan(*core_, std::move(options));
}

}  // namespace rcache
