// rcache CLI: the command table: every command's arguments, options and help text.
#include <array>

#include "args.hpp"

namespace rcache::cli {
namespace {

using K = OptionSpec::Kind;

constexpr std::int64_t kMaxCount = 1'000'000;
constexpr std::int64_t kMaxMs = 3'600'000;

constexpr OptionSpec kScanCount{
    "--count", K::integer, "N", "SCAN's COUNT hint: keys examined per round trip (default 1000)",
    1,         kMaxCount};
constexpr OptionSpec kInFlight{
    "--in-flight", K::integer, "N", "most commands in flight at once (default 256)", 1, 10'000};
constexpr OptionSpec kEscaped{"--escaped", K::flag, "",
                              "KEY is written as `scan` prints keys: \\\\, \\n, \\r, \\t and "
                              "\\xHH stand for bytes"};

constexpr std::array kGlobal = {
    OptionSpec{"--url", K::text, "URL",
               "the server: redis://, rediss://, unix://, redis+sentinel://, redis+cluster:// "
               "(docs/URLS.md); default $REDIS_URL, else redis://127.0.0.1:6379"},
    OptionSpec{"--timeout", K::integer, "MS",
               "per-call timeout and deadline, and connect timeout (default: the URL's timeout "
               "option, else 5000)",
               1, kMaxMs},
    OptionSpec{"--json", K::flag, "",
               "machine-readable output on stdout: a JSON summary object (scan: one object per "
               "key); a failure is {\"ok\":false,\"exit_code\":N,\"error\":...}"},
    OptionSpec{"--quiet", K::flag, "", "no progress and no notes; errors are still reported"},
    OptionSpec{"--verbose", K::flag, "", "also show the client library's log lines on stderr"},
    OptionSpec{"--progress", K::flag, "",
               "progress on stderr (at most once a second) even when stderr is not a terminal"},
    OptionSpec{"--help", K::flag, "", "this help, or a command's help after the command"},
    OptionSpec{"--version", K::flag, "", "the version"},
};

constexpr std::array kPing = {
    OptionSpec{"--count", K::integer, "N", "pings to send (default 1)", 1, kMaxCount},
    OptionSpec{"--interval", K::integer, "MS", "pause between pings (default 1000)", 0, kMaxMs},
};
constexpr std::array kStats = {
    OptionSpec{"--metrics", K::text, "URL",
               "read a running service's Prometheus page (http://host:port/metrics) instead of "
               "Redis' INFO"},
};
constexpr std::array kScan = {
    kScanCount,
    OptionSpec{"--type", K::text, "T",
               "only keys of this type (string, hash, list, set, zset, "
               "stream; Redis 6+)"},
    OptionSpec{"--limit", K::integer, "N", "stop after N keys (default 0: no limit)", 0, INT64_MAX},
};
constexpr std::array kCount = {kScanCount};
constexpr std::array kDelete = {
    OptionSpec{"--yes", K::flag, "", "really delete (without it nothing is deleted: exit 4)"},
    OptionSpec{"--dry-run", K::flag, "", "only count and report"},
    kScanCount,
};
constexpr OptionSpec kLegacyHex{"--legacy-hex", K::flag, "",
                                "also decode the Python services' \"compressed:<hex of zlib>\" "
                                "values (Config::legacy_hex)"};
constexpr std::array kGet = {kEscaped, kLegacyHex};
constexpr std::array kInspect = {kEscaped, kLegacyHex};
constexpr std::array kBackup = {
    OptionSpec{"--out", K::text, "FILE", "the backup file to write (required)", 0, 0, true},
    OptionSpec{"--force", K::flag, "", "overwrite FILE if it exists"},
    kScanCount,
    kInFlight,
};
constexpr std::array kRestore = {
    OptionSpec{"--replace", K::flag, "", "overwrite keys that already exist"},
    OptionSpec{"--dry-run", K::flag, "",
               "check the whole file and report what would happen; writes nothing"},
    kInFlight,
};

constexpr std::array kCommands = {
    CommandSpec{"ping", "", "round-trip time to Redis",
                "Sends PING through the client (--count times) and prints each round trip, then\n"
                "min/avg/max. Exit 0 when every ping was answered, 1 otherwise.",
                kPing, run_ping},
    CommandSpec{"health",
                "",
                "the client's health: ok, degraded or disabled, and why",
                "Creates a client and prints Client::health(): status, reason, a live PING,\n"
                "breaker state and connections (--json: its to_json()). Exit 0 only when the\n"
                "status is ok; 1 when degraded or disabled (the reason says why).",
                {},
                run_health},
    CommandSpec{"stats", "", "Redis INFO summary, or a service's rcache metrics",
                "Without --metrics: Redis' INFO: keyspace hits, misses and hit rate, ops/s,\n"
                "used memory, keys per database.\n"
                "With --metrics http://host:port/metrics: fetches a running service's Prometheus\n"
                "page (plain HTTP/1.0 GET; only http://) and summarizes its rcache_* series per\n"
                "client label: hit rate, calls by op, errors by code, breaker state, connections.",
                kStats, run_stats},
    CommandSpec{"scan", "PATTERN", "list the keys matching a glob pattern, one per line",
                "SCAN ... MATCH PATTERN, never KEYS. One key per line; bytes a terminal cannot\n"
                "show are escaped (\\\\, \\n, \\r, \\t, \\xHH; `get --escaped` reads them back).\n"
                "--json: one JSON object per key, {\"key\":...} or {\"key_b64\":...} when the key\n"
                "is not UTF-8. SCAN may return a key twice when the keyspace is resized meanwhile.",
                kScan, run_scan},
    CommandSpec{"count", "PATTERN", "how many keys match a glob pattern",
                "Counts the keys SCAN ... MATCH PATTERN returns (a key is counted twice if SCAN\n"
                "returns it twice, which happens only while the keyspace is resized).",
                kCount, run_count},
    CommandSpec{"delete", "PATTERN", "delete the keys matching a pattern (asks for --yes)",
                "Counts the keys first and prints \"N keys match PATTERN\". Without --yes nothing\n"
                "is deleted and the exit code is 4 (add --yes). --dry-run only reports. With\n"
                "--yes: SCAN + UNLINK page by page; keys created meanwhile that match are\n"
                "deleted too. Progress on stderr when it is a terminal, or with --progress.",
                kDelete, run_delete},
    CommandSpec{"get", "KEY", "a value, decoded as Client::get decodes it, raw on stdout",
                "Writes the value exactly (binary-safe, no newline added) to stdout, decoded as\n"
                "Client::get decodes it (a compressed envelope is inflated and checked).\n"
                "A missing key: exit 3. --json: {\"key\":...,\"found\":...,\"bytes\":N,\n"
                "\"value\":... or \"value_b64\":...}.",
                kGet, run_get},
    CommandSpec{"inspect", "KEY", "type, TTL, stored bytes and codec of a key",
                "TYPE, PTTL, MEMORY USAGE (when the server allows it) and, for a string, the\n"
                "stored bytes read raw (GET through command()) and what the rcache envelope\n"
                "says about them: codec (plain, stored, zlib, legacy_hex, not_found), stored\n"
                "and original sizes and their ratio. A missing key: exit 3.",
                kInspect, run_inspect},
    CommandSpec{
        "backup", "PATTERN", "save matching keys (any type) to a JSON-lines file",
        "SCAN + DUMP + the absolute expiry (PEXPIRETIME; PTTL + clock before Redis 7),\n"
        "streamed to FILE (written as FILE.partial, renamed when complete). Keys that\n"
        "vanish between SCAN and DUMP are skipped and counted. Format: docs/CLI.md.\n"
        "--json: {\"keys\":N,\"skipped\":N,\"dump_bytes\":N,\"file_bytes\":N,\"seconds\":S,...}.\n"
        "Not yet over a Redis Cluster URL (back up each master with its own URL).",
        kBackup, run_backup},
    CommandSpec{"restore", "FILE", "restore a backup file (RESTORE ... ABSTTL)",
                "Each key with RESTORE key expiry payload ABSTTL [REPLACE], so its remaining TTL\n"
                "is the original one; keys that expired meanwhile are skipped and counted. A key\n"
                "that exists is a conflict, left as it is and reported (exit 5), unless\n"
                "--replace. A malformed line or a file without its trailer stops the restore\n"
                "with the line number and the count restored before it (exit 6); run --dry-run\n"
                "first to check a whole file: it parses everything, counts the keys that exist\n"
                "(EXISTS) and writes nothing (exit 5 if the restore would leave conflicts).",
                kRestore, run_restore},
};

}  // namespace

std::span<const CommandSpec> commands() {
  return kCommands;
}
std::span<const OptionSpec> global_options() {
  return kGlobal;
}

}  // namespace rcache::cli
