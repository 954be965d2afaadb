// rcache CLI: the backup file format (JSON lines; docs/CLI.md): writing its lines, reading them
// back one at a time with a bound on a line's length.
//
//   {"rcache_backup":1,"created_unix_ms":...,"pattern":"...","source":"redis://...",
//    "expiry":"pexpiretime"|"pttl"}                                   header, line 1
//   {"key":"..." | "key_b64":"...","expire_at_unix_ms":N|null,"dump_b64":"..."}   one per key
//   {"end":true,"keys":N,"skipped":N}                                  trailer, last line
//
// Thread safety: the functions are pure; a LineReader belongs to one thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rcache::cli {

inline constexpr std::int64_t kBackupVersion = 1;

std::string backup_header_line(std::int64_t created_unix_ms, std::string_view pattern,
                               std::string_view source, std::string_view expiry);
// expire_at_unix_ms: nullopt for a key without expiry.
std::string backup_key_line(std::string_view key, std::optional<std::int64_t> expire_at_unix_ms,
                            std::string_view dump);
std::string backup_trailer_line(std::uint64_t keys, std::uint64_t skipped);

struct BackupLine {
  enum class Kind { header, key, trailer };
  Kind kind = Kind::key;
  std::string key;
  std::optional<std::int64_t> expire_at_unix_ms;
  std::string dump;                // DUMP payload bytes (decoded)
  std::uint64_t trailer_keys = 0;  // Kind::trailer
};

// Parses one line; `first` says it is line 1 (which must be the header). On failure, returns
// nullopt with `error` saying what is wrong (without the line number).
std::optional<BackupLine> parse_backup_line(std::string_view line, bool first, std::string& error);

// Reads a file line by line through a fixed buffer; a line longer than `max_line` is an error
// rather than an unbounded allocation.
class LineReader {
 public:
  LineReader(std::FILE* f, std::size_t max_line);

  enum class Status { line, eof, too_long, io_error };
  // The next line without its '\n'. `unterminated()` tells whether it ended at EOF without one.
  Status next(std::string& line);
  std::uint64_t line_number() const { return number_; }
  bool unterminated() const { return unterminated_; }

 private:
  bool fill();

  std::FILE* f_;
  std::size_t max_line_;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  bool unterminated_ = false;
  std::uint64_t number_ = 0;
};

}  // namespace rcache::cli
