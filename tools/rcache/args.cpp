// rcache CLI: the command-line parser and the help pages.
#include "args.hpp"

#include <cctype>
#include <charconv>

namespace rcache::cli {
namespace {

const OptionSpec* find_option(std::span<const OptionSpec> options, std::string_view name) {
  for (const auto& o : options) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

const CommandSpec* find_command(std::string_view name) {
  for (const auto& c : commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string quoted(std::string_view s) {
  return "'" + std::string(s) + "'";
}

std::optional<UsageError> check_integer(const OptionSpec& o, std::string_view value) {
  std::int64_t n = 0;
  const auto* end = value.data() + value.size();
  const auto [p, ec] = std::from_chars(value.data(), end, n);
  if (value.empty() || ec != std::errc() || p != end) {
    return UsageError{std::string(o.name) + ": " + quoted(value) + " is not a number (" +
                      std::string(o.value_name) + ")"};
  }
  if (n < o.min || n > o.max) {
    return UsageError{std::string(o.name) + ": " + std::string(value) + " is out of range (" +
                      std::to_string(o.min) + ".." + std::to_string(o.max) + ")"};
  }
  return std::nullopt;
}

void apply_global(Invocation& inv, const OptionSpec& o, const std::string& value) {
  if (o.name == "--url") inv.global.url = value;
  if (o.name == "--timeout") inv.global.timeout = std::chrono::milliseconds(std::stoll(value));
  if (o.name == "--json") inv.global.json = true;
  if (o.name == "--quiet") inv.global.quiet = true;
  if (o.name == "--verbose") inv.global.verbose = true;
  if (o.name == "--progress") inv.global.progress = true;
  if (o.name == "--help") inv.help = true;
  if (o.name == "--version") inv.version = true;
}

// `head` padded to `indent` columns, then `text` wrapped at 100 columns, continuation lines
// indented as far.
std::string wrapped(std::string head, std::string_view text, std::size_t indent) {
  constexpr std::size_t kWidth = 100;
  if (head.size() + 2 > indent) {
    head += "\n";
    head.append(indent, ' ');
  } else {
    head.append(indent - head.size(), ' ');
  }
  std::size_t column = indent;
  while (!text.empty()) {
    const auto space = text.find(' ');
    const std::string_view word = text.substr(0, space);
    text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
    if (column > indent && column + 1 + word.size() > kWidth) {
      head += "\n";
      head.append(indent, ' ');
      column = indent;
    } else if (column > indent) {
      head += ' ';
      ++column;
    }
    head.append(word);
    column += word.size();
  }
  return head + "\n";
}

std::string option_line(const OptionSpec& o) {
  std::string head = "  " + std::string(o.name);
  if (!o.value_name.empty()) head += " " + std::string(o.value_name);
  return wrapped(std::move(head), o.help, 20);
}

}  // namespace

std::int64_t Invocation::number(std::string_view name, std::int64_t fallback) const {
  const auto it = values.find(name);
  return it == values.end() ? fallback : std::stoll(it->second);
}

std::optional<std::string> Invocation::text(std::string_view name) const {
  const auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

std::variant<Invocation, UsageError> parse(std::span<const std::string_view> args) {
  Invocation inv;
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    const bool is_option = !options_done && arg.size() > 1 && arg[0] == '-';
    if (is_option && arg == "--") {
      options_done = true;
      continue;
    }
    if (is_option) {
      std::string_view name = arg == "-h" ? "--help" : arg;
      std::optional<std::string> value;
      if (const auto eq = name.find('='); eq != std::string_view::npos) {
        value = std::string(name.substr(eq + 1));
        name = name.substr(0, eq);
      }
      const OptionSpec* o = find_option(global_options(), name);
      const bool global = o != nullptr;
      if (o == nullptr && inv.command != nullptr) o = find_option(inv.command->options, name);
      if (o == nullptr) {
        std::string m = "unknown option " + quoted(name);
        m += inv.command != nullptr ? " for " + std::string(inv.command->name) + " (see rcache " +
                                          std::string(inv.command->name) + " --help)"
                                    : " (command options go after the command; see rcache --help)";
        return UsageError{m};
      }
      if (o->kind == OptionSpec::Kind::flag) {
        if (value) return UsageError{std::string(o->name) + " takes no value"};
        value = "";
      } else if (!value) {
        if (i + 1 >= args.size()) {
          return UsageError{std::string(o->name) + " needs a value (" + std::string(o->value_name) +
                            ")"};
        }
        value = std::string(args[++i]);
      }
      if (o->kind == OptionSpec::Kind::integer) {
        if (auto e = check_integer(*o, *value)) return *e;
      }
      if (global) {
        apply_global(inv, *o, *value);
      } else if (o->kind == OptionSpec::Kind::flag) {
        inv.flags.emplace(o->name);
      } else {
        inv.values[std::string(o->name)] = *value;
      }
      continue;
    }
    if (inv.command == nullptr) {
      inv.command = find_command(arg);
      if (inv.command == nullptr) {
        return UsageError{"unknown command " + quoted(arg) + " (see rcache --help)"};
      }
      continue;
    }
    if (inv.command->positional.empty() || !inv.positionals.empty()) {
      return UsageError{std::string(inv.command->name) + ": unexpected argument " + quoted(arg)};
    }
    inv.positionals.emplace_back(arg);
  }
  if (inv.help || inv.version) return inv;
  if (inv.command == nullptr) return UsageError{"no command given (see rcache --help)"};
  const std::string cmd(inv.command->name);
  if (!inv.command->positional.empty() && inv.positionals.empty()) {
    return UsageError{cmd + ": missing " + std::string(inv.command->positional) + " (rcache " +
                      cmd + " " + std::string(inv.command->positional) + ")"};
  }
  for (const auto& o : inv.command->options) {
    if (o.required && inv.values.count(o.name) == 0) {
      return UsageError{cmd + ": " + std::string(o.name) + " " + std::string(o.value_name) +
                        " is required"};
    }
  }
  return inv;
}

std::string main_help() {
  std::string h = "rcache " + std::string(version()) +
                  " - operator tool for Redis caches used through the rcache library\n\n"
                  "Usage: rcache [OPTIONS] COMMAND [ARG] [COMMAND OPTIONS]\n"
                  "       rcache COMMAND --help\n\nCommands:\n";
  for (const auto& c : commands()) {
    std::string head = "  " + std::string(c.name);
    if (!c.positional.empty()) head += " " + std::string(c.positional);
    h += wrapped(std::move(head), c.summary, 22);
  }
  h += "\nOptions (before or after the command):\n";
  for (const auto& o : global_options()) h += option_line(o);
  h += "\nExit codes:\n"
       "  0  ok\n"
       "  1  failure: connection, authentication, TLS, timeout, server or file error\n"
       "  2  usage error: bad arguments (the message names the argument)\n"
       "  3  not found (get, inspect)\n"
       "  4  confirmation needed: delete without --yes deleted nothing\n"
       "  5  partial: restore left conflicting keys as they were, or some keys failed\n"
       "  6  bad backup file: malformed line or missing trailer (the message names the line)\n"
       "\nEnvironment:\n"
       "  REDIS_URL  the server when --url is not given\n"
       "\nKeyspace commands (scan, count, delete, backup) use SCAN, never KEYS.\n"
       "Documentation: docs/CLI.md.\n";
  return h;
}

std::string command_help(const CommandSpec& c) {
  std::string h = "Usage: rcache " + std::string(c.name);
  if (!c.positional.empty()) h += " " + std::string(c.positional);
  if (!c.options.empty()) h += " [OPTIONS]";
  std::string summary(c.summary);
  if (!summary.empty()) summary[0] = static_cast<char>(std::toupper(summary[0]));
  h += "\n\n" + summary + ".\n\n" + std::string(c.details) + "\n";
  if (!c.options.empty()) {
    h += "\nOptions:\n";
    for (const auto& o : c.options) h += option_line(o);
  }
  h += "\nGlobal options (--url, --timeout, --json, --quiet, ...) and exit codes: rcache --help\n";
  return h;
}

}  // namespace rcache::cli
