// rcache CLI: what every command shares: exit codes, the global options, the parsed command
// line, and the Context a command runs in (configuration, the Client, output).
//
// Thread safety: a Context belongs to the main thread; commands that use async calls keep their
// callbacks away from it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rcache/rcache.hpp"

namespace rcache::cli {

// Process exit codes (documented in `rcache --help` and docs/CLI.md; scripts branch on them).
enum Exit : int {
  kOk = 0,
  kFailure = 1,        // Redis, connection, authentication, server or I/O error
  kUsage = 2,          // bad arguments: the message names the argument
  kNotFound = 3,       // get/inspect: no such key
  kNeedsConfirm = 4,   // delete without --yes: nothing was deleted
  kPartial = 5,        // restore: some keys conflicted (exist, no --replace) or failed
  kBadBackupFile = 6,  // restore: the backup file is malformed or truncated
};

struct GlobalOptions {
  std::optional<std::string> url;                    // --url; else $REDIS_URL; else the default
  std::optional<std::chrono::milliseconds> timeout;  // --timeout
  bool json = false;
  bool quiet = false;
  bool verbose = false;
  bool progress = false;  // --progress: progress lines even when stderr is not a terminal
};

struct CommandSpec;

// A parsed command line.
struct Invocation {
  GlobalOptions global;
  const CommandSpec* command = nullptr;  // null: no command (--help / --version alone)
  bool help = false;
  bool version = false;
  std::vector<std::string> positionals;
  std::map<std::string, std::string, std::less<>> values;  // "--count" -> "10"
  std::set<std::string, std::less<>> flags;                // "--yes"

  bool flag(std::string_view name) const { return flags.count(name) > 0; }
  // An integer option, already range-checked by the parser; `fallback` when absent.
  std::int64_t number(std::string_view name, std::int64_t fallback) const;
  std::optional<std::string> text(std::string_view name) const;
};

// The default timeout of the CLI's calls when neither --timeout nor the URL sets one: an
// operator's SCAN page or DUMP of a large value may take longer than a service's 100 ms.
inline constexpr std::chrono::milliseconds kDefaultTimeout{5000};

class Context {
 public:
  explicit Context(Invocation inv) : inv_(std::move(inv)) {}

  const Invocation& inv() const { return inv_; }
  bool json() const { return inv_.global.json; }
  bool quiet() const { return inv_.global.quiet; }

  // The configuration from --url / $REDIS_URL / the default, with --timeout applied. Fails
  // with Errc::invalid_argument naming what is wrong with the URL.
  Result<Config> config() const;

  // The Client, created on first use. `fail_fast`: creation fails when Redis cannot be reached
  // (every command but `health`, which reports that state instead).
  Result<Client*> client(bool fail_fast = true);

  // The endpoint for messages: the URL with its password masked.
  std::string endpoint() const;

  // Output. out() writes bytes to stdout as they are; note() writes a line to stdout unless
  // --quiet or --json; warn() a line to stderr ("rcache: ..."), unless --quiet.
  void out(std::string_view bytes) const;
  void note(std::string_view line) const;
  void warn(std::string_view line) const;

  // Reports a failure on stderr (always) and, with --json, as {"ok":false,...} on stdout;
  // returns `code`.
  int fail(int code, std::string_view message) const;
  // The same for a library error, with a short explanation of its kind.
  int fail(const Error& e, std::string_view doing) const;

 private:
  Invocation inv_;
  std::unique_ptr<Client> client_;
};

// The Client for a command (`doing` names it in messages), or the exit code of a failure
// already reported. `fail_fast` as Context::client(). A bad URL is a usage error naming where it
// came from.
std::variant<Client*, int> open_client(Context& ctx, std::string_view doing, bool fail_fast = true);

// Seconds since `start`, for summaries.
double seconds_since(std::chrono::steady_clock::time_point start);

// What kind of failure an Errc is, in words for an operator ("cannot connect to Redis").
std::string describe(const Error& e);

// The commands (each returns an exit code).
int run_ping(Context& ctx);
int run_health(Context& ctx);
int run_stats(Context& ctx);
int run_scan(Context& ctx);
int run_count(Context& ctx);
int run_delete(Context& ctx);
int run_get(Context& ctx);
int run_inspect(Context& ctx);
int run_backup(Context& ctx);
int run_restore(Context& ctx);

}  // namespace rcache::cli
