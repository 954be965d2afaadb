// rcache CLI: the command table (names, arguments, options, help) and the command-line parser.
//
// Thread safety: the table is constant; parse() is a pure function.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "cli.hpp"

namespace rcache::cli {

struct OptionSpec {
  enum class Kind { flag, integer, text };
  std::string_view name;  // "--count"
  Kind kind = Kind::flag;
  std::string_view value_name;  // "N", "FILE"
  std::string_view help;
  std::int64_t min = 0;  // integers: the accepted range
  std::int64_t max = 0;
  bool required = false;
};

struct CommandSpec {
  std::string_view name;
  std::string_view positional;  // "PATTERN", "KEY", "FILE" or "" (at most one, required)
  std::string_view summary;     // one line for `rcache --help`
  std::string_view details;     // paragraphs for `rcache CMD --help`
  std::span<const OptionSpec> options;
  int (*run)(Context&) = nullptr;
};

std::span<const CommandSpec> commands();
std::span<const OptionSpec> global_options();

// A usage error: the message names the offending argument.
struct UsageError {
  std::string message;
};

// argv[1..]: global options anywhere, one command, its positional argument and its options
// (`--name VALUE` or `--name=VALUE`); `--` ends the options.
std::variant<Invocation, UsageError> parse(std::span<const std::string_view> args);

std::string main_help();
std::string command_help(const CommandSpec& c);

}  // namespace rcache::cli
