// rcache CLI: backup lines written and read.
#include "backup_format.hpp"

#include <cstring>

#include "json_line.hpp"
#include "text.hpp"

namespace rcache::cli {
namespace {

// "name":"utf-8 text" or "name_b64":"base64" when the bytes are not UTF-8.
std::string bytes_member(std::string_view name, std::string_view bytes) {
  if (is_utf8(bytes)) return json_string(name) + ":" + json_string(bytes);
  return json_string(std::string(name) + "_b64") + ":" + json_string(base64_encode(bytes));
}

}  // namespace

std::string backup_header_line(std::int64_t created_unix_ms, std::string_view pattern,
                               std::string_view source, std::string_view expiry) {
  return "{\"rcache_backup\":" + std::to_string(kBackupVersion) +
         ",\"created_unix_ms\":" + std::to_string(created_unix_ms) + "," +
         bytes_member("pattern", pattern) + "," + bytes_member("source", source) +
         ",\"expiry\":" + json_string(expiry) + "}\n";
}

std::string backup_key_line(std::string_view key, std::optional<std::int64_t> expire_at_unix_ms,
                            std::string_view dump) {
  std::string line = "{" + bytes_member("key", key) + ",\"expire_at_unix_ms\":";
  line += expire_at_unix_ms ? std::to_string(*expire_at_unix_ms) : "null";
  line += ",\"dump_b64\":\"";
  line += base64_encode(dump);
  line += "\"}\n";
  return line;
}

std::string backup_trailer_line(std::uint64_t keys, std::uint64_t skipped) {
  return "{\"end\":true,\"keys\":" + std::to_string(keys) +
         ",\"skipped\":" + std::to_string(skipped) + "}\n";
}

std::optional<BackupLine> parse_backup_line(std::string_view line, bool first, std::string& error) {
  JsonError je;
  auto obj = parse_flat_json(line, je);
  if (!obj) {
    error =
        "not a valid JSON object (" + je.what + " at byte " + std::to_string(je.offset + 1) + ")";
    return std::nullopt;
  }
  BackupLine out;
  const JsonValue* version = obj->find("rcache_backup");
  if (first || version != nullptr) {
    if (!first) {
      error = "a second header line";
      return std::nullopt;
    }
    if (version == nullptr || version->kind != JsonValue::Kind::integer) {
      error = "not an rcache backup (the first line has no \"rcache_backup\" version)";
      return std::nullopt;
    }
    if (version->integer != kBackupVersion) {
      error = "backup format version " + std::to_string(version->integer) +
              " is not supported (this rcache reads version " + std::to_string(kBackupVersion) +
              ")";
      return std::nullopt;
    }
    out.kind = BackupLine::Kind::header;
    return out;
  }
  if (const JsonValue* end = obj->find("end"); end != nullptr) {
    const JsonValue* keys = obj->find("keys");
    if (end->kind != JsonValue::Kind::boolean || !end->boolean || keys == nullptr ||
        keys->kind != JsonValue::Kind::integer || keys->integer < 0) {
      error = "a malformed trailer (expected {\"end\":true,\"keys\":N})";
      return std::nullopt;
    }
    out.kind = BackupLine::Kind::trailer;
    out.trailer_keys = static_cast<std::uint64_t>(keys->integer);
    return out;
  }
  const JsonValue* key = obj->find("key");
  const JsonValue* key_b64 = obj->find("key_b64");
  const JsonValue* expire = obj->find("expire_at_unix_ms");
  const JsonValue* dump = obj->find("dump_b64");
  if ((key == nullptr) == (key_b64 == nullptr)) {
    error = "a key line needs exactly one of \"key\" and \"key_b64\"";
    return std::nullopt;
  }
  const JsonValue* k = key != nullptr ? key : key_b64;
  if (k->kind != JsonValue::Kind::string) {
    error = "the key is not a JSON string";
    return std::nullopt;
  }
  if (key != nullptr) {
    out.key = k->string;
  } else if (auto decoded = base64_decode(k->string)) {
    out.key = std::move(*decoded);
  } else {
    error = "\"key_b64\" is not valid base64";
    return std::nullopt;
  }
  if (expire == nullptr || (expire->kind != JsonValue::Kind::null &&
                            (expire->kind != JsonValue::Kind::integer || expire->integer <= 0))) {
    error = "\"expire_at_unix_ms\" must be a positive integer or null";
    return std::nullopt;
  }
  if (expire->kind == JsonValue::Kind::integer) out.expire_at_unix_ms = expire->integer;
  if (dump == nullptr || dump->kind != JsonValue::Kind::string) {
    error = "\"dump_b64\" is missing or not a string";
    return std::nullopt;
  }
  auto payload = base64_decode(dump->string);
  // A DUMP payload ends with a 2-byte RDB version and an 8-byte checksum.
  if (!payload || payload->size() < 10) {
    error = payload ? "\"dump_b64\" is too short to be a DUMP payload"
                    : "\"dump_b64\" is not valid base64";
    return std::nullopt;
  }
  out.dump = std::move(*payload);
  return out;
}

LineReader::LineReader(std::FILE* f, std::size_t max_line)
    : f_(f), max_line_(max_line), buf_(std::size_t{1} << 20) {}

bool LineReader::fill() {
  if (eof_) return false;
  begin_ = 0;
  end_ = std::fread(buf_.data(), 1, buf_.size(), f_);
  if (end_ == 0) eof_ = true;
  return end_ > 0;
}

LineReader::Status LineReader::next(std::string& line) {
  line.clear();
  unterminated_ = false;
  for (;;) {
    const char* start = buf_.data() + begin_;
    const auto* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - begin_));
    const std::size_t take = nl != nullptr ? static_cast<std::size_t>(nl - start) : end_ - begin_;
    if (line.size() + take > max_line_) {
      ++number_;
      return Status::too_long;
    }
    line.append(start, take);
    begin_ += take;
    if (nl != nullptr) {
      ++begin_;
      ++number_;
      return Status::line;
    }
    if (!fill()) {
      if (std::ferror(f_) != 0) return Status::io_error;
      if (line.empty()) return Status::eof;
      ++number_;
      unterminated_ = true;
      return Status::line;
    }
  }
}

}  // namespace rcache::cli
