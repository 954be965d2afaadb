// Client, the facade: creation, ping, command(), breaker controls, pool status and stats.
#include "rcache/client.hpp"

#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "client/calls.hpp"
#include "client/exposer_hook.hpp"
#include "protocol/commands.hpp"
#include "protocol/replies.hpp"

namespace rcache {

using detail::command_of;
using detail::future_of;
using detail::Op;
using detail::run;
using detail::run_async;

Result<std::unique_ptr<Client>> Client::create(Config config) {
  try {
    if (auto r = config.validate(); !r) return std::move(r).error();
    auto core = detail::ClientCore::create(std::move(config));
    if (!core) return std::move(core).error();
    std::unique_ptr<Client> client(new Client(std::move(*core)));
    if (const auto& ignored = client->config().url_ignored_options; !ignored.empty()) {
      std::string names;
      for (const auto& n : ignored) names += (names.empty() ? "" : ", ") + n;
      client->core_->log(LogLevel::warning, "url_options_ignored",
                         "url: ignored query options with no meaning in rcache: " + names +
                             " (docs/URLS.md; UrlMode::strict or RCACHE_URL_STRICT=1 refuses "
                             "them)");
    }
    if (const auto& address = client->config().metrics_address; !address.empty()) {
      auto exposer = detail::start_owned_exposer(*client, address);
      if (!exposer) return std::move(exposer).error();
      client->exposer_ = std::move(*exposer);
    }
    return client;
  } catch (const std::exception& e) {
    return Error{Errc::connection, std::string("cannot start client: ") + e.what()};
  } catch (...) {
    return Error{Errc::connection, "cannot start client"};
  }
}

namespace {
// Every live Client, for rcache::make_collectable() and metrics_text() without arguments.
std::mutex g_live_mutex;
// Never destroyed: a Client held by a static outlives any function-local static.
std::vector<Client*>& live_clients() {
  static auto* clients = new std::vector<Client*>();
  return *clients;
}
}  // namespace

void detail::visit_live_clients(const std::function<void(Client&)>& fn) {
  const std::lock_guard lock(g_live_mutex);
  for (Client* c : live_clients()) fn(*c);
}

Client::Client(std::unique_ptr<detail::ClientCore> core) : core_(std::move(core)) {
  // The metrics label: client_name, or client_name_2, _3... while a live client holds it. Kept for
  // the client's life, so that another client going away never renames its series.
  const std::string base =
      core_->config().client_name.empty() ? std::string("rcache") : core_->config().client_name;
  const std::lock_guard lock(g_live_mutex);
  auto taken = [](const std::string& label) {
    return std::any_of(live_clients().begin(), live_clients().end(),
                       [&](const Client* c) { return c->core_->metrics_label() == label; });
  };
  std::string label = base;
  for (std::size_t n = 2; taken(label); ++n) label = base + "_" + std::to_string(n);
  core_->set_metrics_label(std::move(label));
  live_clients().push_back(this);
}

Client::~Client() {
  {
    const std::lock_guard lock(g_live_mutex);
    std::erase(live_clients(), this);
  }
  exposer_.reset();  // stop scrapes before the core goes away
  if (!core_) return;
  if (!core_->on_loop_thread()) {
    core_->shutdown();  // while the Client is whole: shutdown callbacks may still use it
    return;
  }
  // Destroyed from one of its own callbacks: the loop thread cannot join itself. The core is
  // handed to a short-lived thread that shuts it down once this callback has returned (the join
  // waits for it); pending calls complete with Errc::shutdown as usual.
  core_->log(LogLevel::warning, "destroyed_from_callback",
             "Client destroyed from its own callback: shutting down on a background thread");
  try {
    std::thread([core = std::move(core_)]() mutable { core.reset(); }).detach();
  } catch (...) {
    // No thread to be had: leaking the core is the only choice that neither blocks nor crashes.
    (void)core_.release();
  }
}

const Config& Client::config() const noexcept {
  return core_->config();
}

// With a cluster every node has a breaker: the state shown is the worst of them, and the
// controls apply to all.
BreakerState Client::breaker_state() const {
  auto rank = [](BreakerState b) {
    switch (b) {
      case BreakerState::forced_open:
        return 4;
      case BreakerState::open:
        return 3;
      case BreakerState::half_open:
        return 2;
      case BreakerState::closed:
        return 1;
      default:
        return 0;
    }
  };
  BreakerState worst = BreakerState::disabled;
  for (auto* ex : core_->executors(true)) {
    if (auto* b = ex->breaker(); b != nullptr && rank(b->state()) > rank(worst)) worst = b->state();
  }
  return worst;
}
void Client::force_breaker_open() {
  for (auto* ex : core_->executors()) {
    if (auto* b = ex->breaker()) b->force_open();
  }
}
void Client::disable_breaker() {
  for (auto* ex : core_->executors()) {
    if (auto* b = ex->breaker()) b->disable();
  }
}
void Client::reset_breaker() {
  for (auto* ex : core_->executors()) {
    if (auto* b = ex->breaker()) b->reset();
  }
}
PoolStatus Client::pool_status() const {
  if (const auto* router = core_->cluster()) return router->topology().status();
  return core_->transport().status();
}

// PING
namespace {
auto parse_ping(const detail::ClockSource& clock, detail::TimePoint start) {
  return [&clock, start](detail::Outcome& o) -> Result<std::chrono::microseconds> {
    if (auto r = detail::parse_status("PING", *o.reply); !r) return std::move(r).error();
    return std::chrono::duration_cast<std::chrono::microseconds>(clock.now() - start);
  };
}
Result<detail::Command> ping_cmd() {
  return command_of("PING", detail::ping_command(), Op::ping);
}
}  // namespace

Result<std::chrono::microseconds> Client::ping() {
  return run<std::chrono::microseconds>(*core_, ping_cmd(),
                                        parse_ping(core_->clock(), core_->clock().now()));
}
void Client::ping_async(Callback<std::chrono::microseconds> cb) {
  run_async<std::chrono::microseconds>(
      *core_, ping_cmd(), parse_ping(core_->clock(), core_->clock().now()), std::move(cb));
}
std::future<Result<std::chrono::microseconds>> Client::ping_async() {
  return future_of<std::chrono::microseconds>(
      [&](Callback<std::chrono::microseconds> cb) { ping_async(std::move(cb)); });
}

// command: an unknown command is not resent once it may have run.
namespace {
Result<detail::Command> raw_cmd(detail::ClientCore& core, const std::vector<std::string>& argv) {
  return command_of("command", detail::raw_command(core.config(), argv), Op::command, false);
}
auto parse_raw() {
  return [](detail::Outcome& o) -> Result<Reply> {
    if (auto e = detail::reply_error("command", *o.reply)) return std::move(*e);
    return detail::to_reply(*o.reply);
  };
}
}  // namespace

Result<Reply> Client::command(const std::vector<std::string>& argv) {
  return run<Reply>(*core_, raw_cmd(*core_, argv), parse_raw());
}
void Client::command_async(const std::vector<std::string>& argv, Callback<Reply> cb) {
  run_async<Reply>(*core_, raw_cmd(*core_, argv), parse_raw(), std::move(cb));
}
std::future<Result<Reply>> Client::command_async(const std::vector<std::string>& argv) {
  return future_of<Reply>([&](Callback<Reply> cb) { command_async(argv, std::move(cb)); });
}

CallDeadline::CallDeadline(Client& client, std::chrono::milliseconds deadline) noexcept
    : core_(client.core_.get()), deadline_(deadline), outer_(detail::t_call_deadlines) {
  detail::t_call_deadlines = this;
}

CallDeadline::~CallDeadline() {
  detail::t_call_deadlines = outer_;
}

}  // namespace rcache
