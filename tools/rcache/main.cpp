// rcache CLI: the entry point: parse the command line, run the command, map every outcome to an
// exit code. No exception leaves main().
#include <cstdio>
#include <exception>
#include <string_view>
#include <vector>

#include "args.hpp"

namespace {

int run(int argc, char** argv) {
  using namespace rcache::cli;
  std::vector<std::string_view> args;
  args.reserve(static_cast<std::size_t>(argc));
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  auto parsed = parse(args);
  if (const auto* e = std::get_if<UsageError>(&parsed)) {
    std::fprintf(stderr, "rcache: %s\n", e->message.c_str());
    return kUsage;
  }
  auto& inv = std::get<Invocation>(parsed);
  if (inv.help) {
    const std::string text = inv.command != nullptr ? command_help(*inv.command) : main_help();
    std::fwrite(text.data(), 1, text.size(), stdout);
    return kOk;
  }
  if (inv.version) {
    std::printf("rcache %s\n", rcache::version());
    return kOk;
  }
  const CommandSpec& spec = *inv.command;
  Context ctx(std::move(inv));
  const int code = spec.run(ctx);
  if (std::fflush(stdout) != 0 && code == kOk) {
    std::fprintf(stderr, "rcache: cannot write to stdout\n");
    return kFailure;
  }
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rcache: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "rcache: internal error\n");
  }
  return rcache::cli::kFailure;
}
